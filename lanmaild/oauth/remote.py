"""OAuth2 towards providers (the client side): Microsoft 365 and Gmail take no passwords for
POP3/IMAP/SMTP any more, so an external mailbox (and the smarthost) may log in with XOAUTH2.

The admin signs in once with ``lanmailctl external oauth2-login ACCOUNT NAME``: the
authorization code grant with PKCE and a loopback redirect (RFC 8252: lanmailctl listens on
127.0.0.1 and the browser comes back to it); lanmaild exchanges the code and keeps the
refresh token in the account's file, like a password (0600, never printed). Before each
log-in an access token is taken from the cache or fetched with the refresh token; a
provider that rotates refresh tokens (lanmaild's own server does) gets the new one written
back at once.

    [[external]]
    auth = "xoauth2"                 # password (default) | xoauth2
    oauth2_provider = "microsoft"    # microsoft | google | generic
    oauth2_client_id = "..."         # the app registered at the provider
    oauth2_client_secret = "..."     # if the provider gave one
    oauth2_tenant = "common"         # microsoft
    oauth2_auth_url = "..."          # generic (presets fill these in)
    oauth2_token_url = "..."
    oauth2_scope = "..."
    oauth2_refresh_token = "..."     # written by lanmailctl external oauth2-login

The device authorization grant (RFC 8628) is not offered: the loopback flow works with
Microsoft, Google and any RFC 6749 server, lanmaild's own included (the tests use one).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field

PRESETS = {
    "microsoft": {
        "auth_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        "token_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "scope": "https://outlook.office.com/IMAP.AccessAsUser.All "
                 "https://outlook.office.com/POP.AccessAsUser.All "
                 "https://outlook.office.com/SMTP.Send offline_access",
        "extra": (),
    },
    "google": {
        "auth_url": "https://accounts.google.com/o/oauth2/v2/auth",
        "token_url": "https://oauth2.googleapis.com/token",
        "scope": "https://mail.google.com/",
        "extra": (("access_type", "offline"), ("prompt", "consent")),
    },
}
PENDING_SECONDS = 600  # a started sign-in must finish within this time


class RemoteAuthError(Exception):
    """The provider refused (its ``error``/``error_description``) or could not be asked."""


@dataclass(frozen=True)
class RemoteOAuth:
    provider: str
    client_id: str
    client_secret: str = field(repr=False)
    auth_url: str
    token_url: str
    scope: str
    refresh_token: str = field(repr=False)
    extra: tuple = ()


def parse_remote(t) -> RemoteOAuth | None:
    """The ``oauth2_*`` keys of a config table (``auth = "xoauth2"``), or None."""
    auth = t.get("auth", str, "password")
    if auth not in ("password", "xoauth2"):
        raise t.err("auth", "must be password or xoauth2")
    if auth == "password":
        return None
    provider = t.get("oauth2_provider", str, "generic")
    if provider not in (*PRESETS, "generic"):
        raise t.err("oauth2_provider", "must be microsoft, google or generic")
    preset = PRESETS.get(provider, {})
    tenant = t.get("oauth2_tenant", str, "common")
    values = {k: t.get(f"oauth2_{k}", str, "") or preset.get(k, "").format(tenant=tenant)
              for k in ("auth_url", "token_url", "scope")}
    for key, value in values.items():
        if not value.startswith(("https://", "http://")) and key != "scope":
            raise t.err(f"oauth2_{key}", "set the provider's URL (or a preset: "
                                         "oauth2_provider = \"microsoft\" or \"google\")")
    client_id = t.get("oauth2_client_id", str, "")
    if not client_id:
        raise t.err("oauth2_client_id", "the client id of the app registered at the provider")
    return RemoteOAuth(provider=provider, client_id=client_id,
                       client_secret=t.secret("oauth2_client_secret"),
                       refresh_token=t.secret("oauth2_refresh_token"),
                       extra=tuple(preset.get("extra", ())), **values)


def xoauth2(user: str, access_token: str) -> bytes:
    """The XOAUTH2 initial response (not yet base64)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01".encode()


# --------------------------------------------------------------------------- tokens


async def _post(remote: RemoteOAuth, form: dict, ssl_ctx) -> dict:
    import aiohttp  # only when OAuth2 is used

    if remote.client_secret:
        form["client_secret"] = remote.client_secret
    form["client_id"] = remote.client_id
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                remote.token_url, data=form, ssl=ssl_ctx,
                headers={"Accept": "application/json"}) as r:
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = {}
            if r.status != 200 or "access_token" not in body:
                raise RemoteAuthError(
                    f"{remote.token_url}: HTTP {r.status} "
                    f"{body.get('error', '')} {body.get('error_description', '')}".strip())
            return body
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise RemoteAuthError(f"{remote.token_url}: {exc or exc.__class__.__name__}") from None


class TokenKeeper:
    """Access tokens per (account, mailbox), refreshed when they are about to expire.
    ``persist(new_refresh_token)`` writes a rotated refresh token back to the config."""

    def __init__(self) -> None:
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._locks: dict[tuple, asyncio.Lock] = {}
        self._pending: dict[str, tuple] = {}  # sign-ins under way, by state

    def forget(self, key: tuple) -> None:
        self._tokens.pop(key, None)

    async def access_token(self, key: tuple, remote: RemoteOAuth, ssl_ctx, persist) -> str:
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached and cached[1] > time.time() + 60:
                return cached[0]
            if not remote.refresh_token:
                raise RemoteAuthError("no refresh token yet: sign in once with lanmailctl "
                                      "external oauth2-login")
            body = await _post(remote, {"grant_type": "refresh_token",
                                        "refresh_token": remote.refresh_token}, ssl_ctx)
            new = body.get("refresh_token")
            if new and new != remote.refresh_token:
                await persist(new)  # rotation: the old one no longer works
            self._tokens[key] = (body["access_token"],
                                 time.time() + int(body.get("expires_in", 3600)))
            return body["access_token"]

    # ------------------------------------------------------------------ sign-in

    def start(self, key: tuple, remote: RemoteOAuth, redirect_uri: str, ssl_ctx,
              save) -> str:
        """The URL to open in a browser (authorization code + PKCE S256, RFC 7636);
        ``save(refresh_token)`` stores the result once ``complete`` has it."""
        now = time.time()
        for state in [s for s, p in self._pending.items() if p["expires"] < now]:
            del self._pending[state]
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        self._pending[state] = {"key": key, "remote": remote, "verifier": verifier,
                                "redirect_uri": redirect_uri, "ssl": ssl_ctx, "save": save,
                                "expires": now + PENDING_SECONDS}
        query = {"response_type": "code", "client_id": remote.client_id,
                 "redirect_uri": redirect_uri, "scope": remote.scope, "state": state,
                 "code_challenge": challenge, "code_challenge_method": "S256",
                 **dict(remote.extra)}
        sep = "&" if "?" in remote.auth_url else "?"
        return remote.auth_url + sep + urllib.parse.urlencode(query)

    async def complete(self, state: str, code: str) -> tuple[tuple, str]:
        """Code -> tokens, the refresh token saved; (key, granted scope). KeyError for a
        state that is unknown or older than ``PENDING_SECONDS``."""
        p = self._pending.pop(state, None)
        if p is None or p["expires"] < time.time():
            raise KeyError(state)
        body = await _post(p["remote"], {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": p["redirect_uri"],
                                         "code_verifier": p["verifier"]}, p["ssl"])
        if not body.get("refresh_token"):
            raise RemoteAuthError("the provider sent no refresh token: ask for offline "
                                  "access (scope offline_access, or access_type=offline)")
        await p["save"](body["refresh_token"])
        self.forget(p["key"])
        return p["key"], body.get("scope", "")


KEEPER = TokenKeeper()  # one per process: the fetch service and the ops share it
