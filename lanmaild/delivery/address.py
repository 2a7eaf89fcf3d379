"""Classify envelope addresses: local account, group, postmaster, internet, or invalid.

One function decides what an address means, so the SMTP RCPT check, the pipeline and the
email commands can never disagree (the relay tricks live or die here):

- ``user%other@lan``, ``user!other@lan``: a local part with a routing character is never a
  local name (account names are ``[A-Za-z0-9._-]``), so it is an unknown local user (550).
- ``@route:user@host``: aiosmtpd already drops the source route (RFC 5321 4.1.2 says
  to ignore it), so the address is ``user@host`` and judged on that host.
- ``"user@other"@lan``: the local part is unquoted first; it contains ``@``, so it is no
  local name either.
- ``user@lan.``/``USER@LAN``: domains compare case-insensitively without a trailing dot.
- ``user@[192.0.2.1]``: an IP literal is never a local domain, so it needs relay rights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config.model import Config
from ..syntax import ADDRESS_RE, NAME_RE, UTF8_ADDRESS_RE


@dataclass(frozen=True)
class Resolved:
    """What an address is: kind is 'account', 'group' (local and existing), 'unknown'
    (a local domain but no such account/group: 550 5.1.1), 'remote' (another domain or
    an IP literal: needs relay rights) or 'invalid' (malformed)."""

    kind: str
    address: str  # normalised: local ones as name@domain (lower case)
    name: str = ""  # account or group key for local kinds
    reason: str = ""


def split(address: str) -> tuple[str, str]:
    """(local part with quotes removed, domain without trailing dot); '' domain if none."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address, ""
    if len(local) >= 2 and local[0] == '"' and local[-1] == '"':
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    return local, domain.rstrip(".")


def resolve(cfg: Config, address: str) -> Resolved:
    """Classify ``address`` (an envelope address, or a bare local name from a config)."""
    address = address.strip()
    if not address or any(ord(c) < 32 or ord(c) == 127 for c in address):
        return Resolved("invalid", address, reason="malformed address")
    local, domain = split(address)
    if not domain:
        # A bare name (forward_to = "schulze", group members): local by definition.
        return _local(cfg, local, cfg.primary_domain, address)
    if domain.startswith("["):
        return Resolved("remote", address)
    if cfg.is_local_domain(domain):
        return _local(cfg, local, domain.lower(), address)
    if not (ADDRESS_RE.match(address) or UTF8_ADDRESS_RE.match(address)):
        return Resolved("invalid", address, reason="malformed address")
    return Resolved("remote", address)


def _local(cfg: Config, local: str, domain: str, original: str) -> Resolved:
    if not NAME_RE.match(local):
        return Resolved("unknown", original, reason="no such user here")
    key = local.lower()
    if key == "postmaster" and cfg.account(key) is None and cfg.group(key) is None:
        pm = cfg.postmaster
        if pm is None:
            return Resolved("unknown", original, reason="no postmaster account configured")
        return Resolved("account", f"postmaster@{domain}", pm.key)
    if cfg.account(key) is not None:
        return Resolved("account", f"{key}@{domain}", key)
    if cfg.group(key) is not None:
        return Resolved("group", f"{key}@{domain}", key)
    return Resolved("unknown", original, reason="no such user here")


def account_address(cfg: Config, name: str) -> str:
    return f"{name.lower()}@{cfg.primary_domain}"


def may_send_as(cfg: Config, account, sender: str) -> bool:
    """May a session logged in as ``account`` use ``sender`` as MAIL FROM? Its own
    addresses (any local domain), the null sender (RFC 5321 4.5.5: DSNs, auto-replies),
    and what the admin allowed in ``send_as`` (addresses, "*@domain", "*")."""
    if not sender or sender_account(cfg, sender) == account.key:
        return True
    wanted = sender.lower()
    for pattern in account.send_as:
        p = pattern.lower()
        if p == "*" or p == wanted or (p.startswith("*@") and wanted.endswith(p[1:])):
            return True
    return False


def sender_account(cfg: Config, sender: str) -> str | None:
    """The local account an envelope sender names (``meier@lan``), or None."""
    if not sender:
        return None
    r = resolve(cfg, sender)
    return r.name if r.kind == "account" and "@" in sender else None
