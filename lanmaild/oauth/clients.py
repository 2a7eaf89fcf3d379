"""OAuth2 clients per account: ``[[oauth2_client]]`` in the account's file (the seed's
"OAuth2 Clients" tab), and the scope names.

    [[oauth2_client]]
    id = "0f9c2c6e-..."                  # generated, never changed
    name = "Thunderbird"
    secret = "sha256:..."                # hash of the generated secret; "" = public client
    scopes = ["imap", "smtp"]            # imap | pop3 | smtp (offline_access always allowed)
    redirect_uris = ["http://127.0.0.1/callback"]
    created = "2026-12-04T10:00:00Z"

The secret is 256 random bits shown once by ``lanmailctl oauth2 add``; a SHA-256 of it is
enough (no slow hash: nobody can guess 256 bits). A public client (a mail program that
cannot keep a secret) has none and must use PKCE with S256 (RFC 7636, OAuth 2.1).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..auth import scopes
from ..config.loader import Table, register_account_section, register_config_check

# Microsoft 365's scope names (LANMailServer uses them; case-sensitive, RFC 6749 3.3)
SCOPES = scopes.SHORT
OFFLINE = scopes.OFFLINE
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def secret_hash(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class OAuthClient:
    id: str
    name: str
    secret: str  # "sha256:<hex>", or "" for a public client
    scopes: tuple[str, ...]  # short names
    redirect_uris: tuple[str, ...]
    created: str
    account: str = ""  # the account key (filled in by ``find``)

    @property
    def public(self) -> bool:
        return not self.secret

    def allowed_scopes(self) -> set[str]:
        return {SCOPES[s] for s in self.scopes} | {OFFLINE}

    def check_secret(self, secret: str) -> bool:
        return bool(self.secret) and hmac.compare_digest(self.secret, secret_hash(secret))

    def check_redirect_uri(self, uri: str) -> bool:
        """Exact match; for a loopback redirect any port (RFC 8252 section 7.3: a native
        app listens on a port it gets from the system)."""
        if uri in self.redirect_uris:
            return True
        try:
            given = urlsplit(uri)
            if given.scheme != "http" or given.hostname not in _LOOPBACK or "#" in uri:
                return False
            for registered in self.redirect_uris:
                r = urlsplit(registered)
                if (r.scheme, r.hostname, r.path, r.query) == (
                        "http", given.hostname, given.path, given.query):
                    return True
        except ValueError:
            return False
        return False


_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _one(path: Path, text: str, data) -> OAuthClient:
    t = Table(path, text, "oauth2_client", data)
    cid = t.get("id", str, "")
    if not _ID.match(cid):
        raise t.err("id", "a client id is 8-64 letters, digits, '.', '_' or '-' "
                          "(lanmailctl oauth2 add makes one)")
    secret = t.get("secret", str, "")
    if secret and not re.match(r"^sha256:[0-9a-f]{64}$", secret):
        raise t.err("secret", "must be the sha256: hash lanmailctl oauth2 add wrote "
                              "(never a clear-text secret)")
    scopes = tuple(t.str_list("scopes"))
    for s in scopes:
        if s not in SCOPES:
            raise t.err("scopes", f"'{s}' is not a scope: use imap, pop3 or smtp")
    uris = tuple(t.str_list("redirect_uris"))
    for uri in uris:
        u = urlsplit(uri)
        if u.scheme not in ("http", "https") or not u.netloc or u.fragment:
            raise t.err("redirect_uris", f"'{uri}' is not an absolute http(s) URI without "
                                         "a fragment (RFC 6749 section 3.1.2)")
    if not uris:
        raise t.err("redirect_uris", "register at least one redirect URI")
    client = OAuthClient(id=cid, name=t.get("name", str, ""), secret=secret,
                         scopes=scopes or tuple(SCOPES), redirect_uris=uris,
                         created=t.get("created", str, ""))
    t.finish()
    return client


def parse_clients(path: Path, text: str, data) -> tuple[OAuthClient, ...]:
    items = data if isinstance(data, list) else [data]
    return tuple(_one(path, text, item) for item in items)


def clients(cfg):
    """Every (account key, client)."""
    return [(a.key, c) for a in cfg.accounts.values() for c in a.extra.get("oauth2_client", ())]


def find(cfg, client_id: str) -> OAuthClient | None:
    for account, c in clients(cfg):
        if c.id == client_id:
            return OAuthClient(**{**c.__dict__, "account": account})
    return None


def unique_ids(cfg) -> None:
    """A config check: client ids are unique across all accounts."""
    from ..config import ConfigError

    seen: dict[str, str] = {}
    for account, c in clients(cfg):
        if c.id in seen:
            raise ConfigError(f"OAuth2 client id {c.id} is used by accounts {seen[c.id]} "
                              f"and {account}: delete one (lanmailctl oauth2 delete)")
        seen[c.id] = account


register_account_section("oauth2_client", parse_clients)
register_config_check(unique_ids)
