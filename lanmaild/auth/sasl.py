"""SASL mechanisms PLAIN (RFC 4616), LOGIN, XOAUTH2 and OAUTHBEARER (RFC 7628), as step
machines any protocol can drive, and ``authenticate``: the one exchange loop SMTP, IMAP and
POP3 share.

The protocol layer owns the framing (SMTP ``334``, IMAP ``+``, POP3 ``+``), base64 and how a
client cancels; a mechanism only turns client responses into the next challenge or the
credentials (a password, or for the OAuth2 mechanisms a bearer token). A refused token is
answered with the JSON error challenge of RFC 7628 section 3.2.2 (Google's XOAUTH2 does the
same); the client's dummy response to it is read and then the protocol says "failed".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .scopes import scope_for


class SaslError(Exception):
    """Malformed client response: the protocol answers with its syntax error reply."""


@dataclass
class Credentials:
    username: str
    password: str  # the password, or the bearer token (``bearer``)
    authzid: str = ""
    bearer: bool = False


class Cancelled(Exception):
    """The client cancelled the exchange ("*"); the protocol has its own reply for it."""


def b64decode(data: bytes | str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("invalid base64") from None


def b64encode(data: bytes) -> bytes:
    return base64.b64encode(data)


class Mechanism:
    name = ""

    def step(self, response: bytes | None) -> bytes | Credentials:
        """Feed a decoded client response (None = no initial response) and get either the
        next (undecoded) challenge or the final credentials."""
        raise NotImplementedError


class Plain(Mechanism):
    name = "PLAIN"

    def step(self, response: bytes | None) -> bytes | Credentials:
        if response is None:
            return b""
        parts = response.split(b"\0")
        if len(parts) != 3 or not parts[1]:
            raise SaslError("PLAIN expects authzid NUL authcid NUL password")
        try:
            authzid, user, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            raise SaslError("credentials must be UTF-8") from None
        if authzid and authzid != user:
            raise SaslError("authorization identity must equal the user")
        return Credentials(user, password, authzid)


class Login(Mechanism):
    """The non-standard but ubiquitous LOGIN mechanism (Outlook, old phones)."""

    name = "LOGIN"

    def __init__(self) -> None:
        self._user: str | None = None

    def step(self, response: bytes | None) -> bytes | Credentials:
        if response is None:
            return b"Username:"
        try:
            text = response.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslError("credentials must be UTF-8") from None
        if self._user is None:
            self._user = text
            return b"Password:"
        return Credentials(self._user, text)


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("credentials must be UTF-8") from None


def _bearer(auth: str) -> str:
    m = re.fullmatch(r"[Bb]earer +([A-Za-z0-9\-._~+/]+=*)", auth.strip())
    if not m:
        raise SaslError("auth must be 'Bearer <token>'")
    return m.group(1)


class XOAuth2(Mechanism):
    """Google's and Microsoft's XOAUTH2: ``user=U^Aauth=Bearer T^A^A``."""

    name = "XOAUTH2"

    def step(self, response: bytes | None) -> bytes | Credentials:
        if response is None:
            return b""
        fields = dict(kv.split("=", 1) for kv in _utf8(response).split("\x01") if "=" in kv)
        if "auth" not in fields:
            raise SaslError("XOAUTH2 expects user=...^Aauth=Bearer ...^A^A")
        return Credentials(fields.get("user", ""), _bearer(fields["auth"]), bearer=True)

    @staticmethod
    def error(status: str, scope: str) -> bytes:
        return json.dumps({"status": "401" if status == "invalid_token" else "403",
                           "schemes": "bearer", "scope": scope}).encode()


class OAuthBearer(Mechanism):
    """RFC 7628: ``n,a=authzid,^Ahost=...^Aport=...^Aauth=Bearer T^A^A`` (no channel
    binding: a ``p=`` header is refused)."""

    name = "OAUTHBEARER"

    def step(self, response: bytes | None) -> bytes | Credentials:
        if response is None:
            return b""
        text = _utf8(response)
        header, sep, rest = text.partition("\x01")
        m = re.fullmatch(r"([ny]),(?:a=([^,]*))?,", header)
        if not sep or not m:
            raise SaslError("OAUTHBEARER expects a GS2 header 'n,a=user,' (RFC 7628 3.1)")
        authzid = (m.group(2) or "").replace("=2C", ",").replace("=3D", "=")
        fields = dict(kv.split("=", 1) for kv in rest.split("\x01") if "=" in kv)
        if "auth" not in fields:
            raise SaslError("OAUTHBEARER expects auth=Bearer <token>")
        return Credentials(authzid, _bearer(fields["auth"]), authzid, bearer=True)

    @staticmethod
    def error(status: str, scope: str) -> bytes:
        return json.dumps({"status": status, "scope": scope}).encode()


MECHANISMS: dict[str, type[Mechanism]] = {"PLAIN": Plain, "LOGIN": Login,
                                          "XOAUTH2": XOAuth2, "OAUTHBEARER": OAuthBearer}
BEARER = ("XOAUTH2", "OAUTHBEARER")


def mechanism(name: str) -> Mechanism | None:
    cls = MECHANISMS.get(name.upper())
    return cls() if cls else None


def available(auth) -> tuple[str, ...]:
    """What to advertise: PLAIN and LOGIN, and the OAuth2 ones when tokens can be
    checked (an OAuth2 server runs: ``Authenticator.bearer``)."""
    return ("PLAIN", "LOGIN", *(BEARER if auth.bearer is not None else ()))


async def authenticate(mech: Mechanism, initial: bytes | None,
                       exchange: Callable[[bytes], Awaitable[bytes]], auth, *, ip: str,
                       service: str, session: str = "-"):
    """Run ``mech`` to the end and check the credentials with ``auth`` (the shared
    ``Authenticator``); returns the account or None. ``exchange(challenge)`` sends a
    challenge in the protocol's framing and returns the decoded answer (it raises
    ``SaslError`` or ``Cancelled``)."""
    response = initial
    while True:
        step = mech.step(response)
        if isinstance(step, Credentials):
            break
        response = await exchange(step)
    if not step.bearer:
        return await auth.login(step.username, step.password, ip=ip, service=service,
                                session=session)
    account, status = await auth.login_bearer(step.username, step.password, ip=ip,
                                              service=service, session=session,
                                              mech=mech.name)
    if account is None:
        # RFC 7628 3.2.2: the error as a challenge, the client answers (^A or empty),
        # then the protocol's failure reply
        await exchange(mech.error(status, scope_for(service)))
    return account
