"""SASL mechanisms PLAIN (RFC 4616) and LOGIN, as step machines any protocol can drive.

The protocol layer owns the framing (SMTP ``334``, IMAP ``+``, POP3 ``+``) and base64;
a mechanism only turns client responses into the next challenge or a (user, password)
pair. Adding XOAUTH2/OAUTHBEARER later means adding a class here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


class SaslError(Exception):
    """Malformed client response: the protocol answers with its syntax error reply."""


@dataclass
class Credentials:
    username: str
    password: str
    authzid: str = ""


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


MECHANISMS: dict[str, type[Mechanism]] = {"PLAIN": Plain, "LOGIN": Login}


def mechanism(name: str) -> Mechanism | None:
    cls = MECHANISMS.get(name.upper())
    return cls() if cls else None
