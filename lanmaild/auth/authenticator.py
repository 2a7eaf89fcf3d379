"""Log-in checks shared by SMTP, IMAP and POP3: passwords, throttling, fail2ban lines.

One place decides whether a user/password pair is good, so all three protocols throttle
and log the same way (the penalty model is Dovecot's auth penalty: delay, don't lock out):

- A failure is answered after ``limits.auth_failure_delay_ms``, multiplied by the failures
  seen from that client (up to 5x), so guessing is slow, and logged as one line
  ``auth failed: service=imap ip=1.2.3.4 user=meier`` that a fail2ban filter can match.
- After ``limits.auth_failures_per_ip`` failures in ``auth_failure_window`` seconds a client
  is refused without checking the password; after ``auth_failures_per_account`` failures
  for one account *from one client*, that client is refused for that account. Failures
  never block an account for everybody: the right password from a client that has not
  failed still gets in (keying the account limit on the account alone let anyone lock any
  user out). A client is an IPv4 address or an IPv6 /64 (``net.ConnectionLimiter``).
- The tables are bounded and forget (``throttle.FailureTable``): a flood of made-up user
  names costs a bounded amount of memory.
- The slow hash (``passwords``: scrypt, 32 MiB each) runs in a thread, at most
  ``HASH_SLOTS`` at a time, so the event loop keeps serving and a log-in flood cannot take
  gigabytes. Recent successful log-ins are cached under an HMAC of the password with a
  per-process key (never the clear text), and stored hashes weaker than today's default
  are upgraded at the next successful log-in (``config.apply``, like an admin's edit).
- Clear-text log-in before TLS is allowed only from networks listed in
  ``server.plaintext_auth`` (``plaintext_allowed``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from ..net import ConnectionLimiter
from .passwords import hash_password, needs_rehash, too_weak, verify_password
from .throttle import FailureTable, name_key

if TYPE_CHECKING:
    from pathlib import Path

    from ..config.model import Account, Config


class Runtime(Protocol):
    """What the authenticator needs of the daemon's runtime (and no import of it)."""

    config: Config
    config_dir: Path

    async def reload(self) -> Config: ...

log = logging.getLogger("lanmaild.auth")

MAX_PENALTY = 5  # the failure delay grows with a client's failures up to this factor
HASH_SLOTS = 2  # scrypt hashes at once (32 MiB each)
CACHE_SIZE = 1000


class Authenticator:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._by_client = FailureTable()
        self._by_account_client = FailureTable()
        # (account, HMAC(password)) -> the stored hash it was verified against: a password
        # change invalidates the entry, and the clear text is never kept.
        self._secret = os.urandom(32)
        self._verified: dict[tuple[str, bytes], str] = {}
        self._hashing = asyncio.Semaphore(HASH_SLOTS)
        self._rehashing: set[str] = set()
        self.counts: Counter[tuple[str, str]] = Counter()  # (service, ok|failed): metrics
        # (token, service) -> (account | None, error status): set by lanmaild.oauth
        self.bearer: Callable[[str, str], Awaitable[tuple[Account | None, str]]] | None = None

    # ------------------------------------------------------------------ policy

    def plaintext_allowed(self, ip: str, is_tls: bool) -> bool:
        """May this client send a password now (TLS, or an admin-allowed network)?"""
        if is_tls:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.runtime.config.server.plaintext_auth)

    def resolve(self, username: str) -> Account | None:
        """'meier' or 'meier@<local domain>' -> the account (case-insensitive)."""
        name = username.strip()
        if "@" in name:
            local, domain = name.rsplit("@", 1)
            if not self.runtime.config.is_local_domain(domain):
                return None
            name = local
        return self.runtime.config.account(name)

    # ------------------------------------------------------------------ checking

    def _blocked(self, client: str, who: str, now: float) -> bool:
        limits = self.runtime.config.limits
        window = limits.auth_failure_window
        if limits.auth_failures_per_ip and \
                self._by_client.count(client, now, window) >= limits.auth_failures_per_ip:
            return True
        return bool(limits.auth_failures_per_account) and self._by_account_client.count(
            (who, client), now, window) >= limits.auth_failures_per_account

    def _delay(self, failures: int) -> float:
        base = self.runtime.config.limits.auth_failure_delay_ms / 1000
        return base * min(MAX_PENALTY, max(1, failures))

    def refused(self, ip: str, who: str) -> bool:
        """Too many failures from this client (or for this account from it): refuse
        without checking (also for the OAuth2 login page and token endpoint)."""
        return self._blocked(ConnectionLimiter.client_key(ip), who, time.monotonic())

    async def failed(self, ip: str, who: str, *, service: str, user: str,
                     session: str = "-", blocked: bool = False) -> None:
        """Count a failure, log the fail2ban line, and wait the failure delay."""
        client = ConnectionLimiter.client_key(ip)
        now = time.monotonic()
        window = self.runtime.config.limits.auth_failure_window
        if blocked:
            log.warning("auth blocked: service=%s ip=%s user=%s session=%s (too many "
                        "failures)", service, ip, _printable(user), session)
            failures = self._by_client.count(client, now, window)
        else:
            self.counts[(service, "failed")] += 1
            failures = self._by_client.add(client, now, window)
            self._by_account_client.add((who, client), now, window)
            log.warning("auth failed: service=%s ip=%s user=%s session=%s", service, ip,
                        _printable(user), session)
        await asyncio.sleep(self._delay(failures))

    def succeeded(self, ip: str, account: Account, *, service: str, session: str = "-",
                  how: str = "") -> None:
        self._by_account_client.forget((account.key, ConnectionLimiter.client_key(ip)))
        self.counts[(service, "ok")] += 1
        log.info("auth ok: service=%s ip=%s user=%s session=%s%s", service, ip, account.name,
                 session, f" mech={how}" if how else "")

    async def login(self, username: str, password: str, *, ip: str, service: str,
                    session: str = "-") -> Account | None:
        """The account on success; None after the failure delay otherwise."""
        account = self.resolve(username)
        who = account.key if account else name_key(username)
        if self.refused(ip, who):
            await self.failed(ip, who, service=service, user=username, session=session,
                              blocked=True)
            return None
        if account is not None and await self._check(account, password):
            self.succeeded(ip, account, service=service, session=session)
            self._maybe_rehash(account, password)
            return account
        await self.failed(ip, who, service=service, user=username, session=session)
        return None

    async def login_bearer(self, username: str, token: str, *, ip: str, service: str,
                           session: str = "-", mech: str = "") -> tuple[Account | None, str]:
        """An OAuth2 access token (XOAUTH2/OAUTHBEARER): the account, or None and the
        RFC 7628 status (``invalid_token``, ``insufficient_scope``). ``bearer`` is set by
        ``lanmaild.oauth`` (None: no OAuth2 server, no token log-ins). A token costs one
        indexed lookup by its hash, no slow hash."""
        named = self.resolve(username) if username else None
        who = named.key if named else name_key(username or "-")
        if self.bearer is None:
            return None, "invalid_token"
        if self.refused(ip, who):
            await self.failed(ip, who, service=service, user=username, session=session,
                              blocked=True)
            return None, "invalid_token"
        account, status = await self.bearer(token, service)
        if account is not None and (not username or named is account):
            self.succeeded(ip, account, service=service, session=session, how=mech)
            return account, ""
        await self.failed(ip, who, service=service, user=username or "-", session=session)
        return None, status or "invalid_token"

    async def _check(self, account: Account, password: str) -> bool:
        key = (account.key, hmac.new(self._secret, password.encode("utf-8", "surrogatepass"),
                                     hashlib.sha256).digest())
        if self._verified.get(key) == account.password:
            return True
        if too_weak(account.password):
            log.error("auth refused: the stored password hash of account %s is too weak; "
                      "set a new password (lanmailctl account modify %s --password ...)",
                      account.name, account.name)
            return False
        async with self._hashing:
            ok = await asyncio.to_thread(verify_password, password, account.password)
        if ok:
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = account.password
        return ok

    # ------------------------------------------------------------------ rehash

    def _maybe_rehash(self, account: Account, password: str) -> None:
        if account.key in self._rehashing or not needs_rehash(account.password):
            return
        self._rehashing.add(account.key)
        task = asyncio.create_task(self._rehash(account, password))
        task.add_done_callback(lambda _t: self._rehashing.discard(account.key))

    async def _rehash(self, account: Account, password: str) -> None:
        """Store a hash with today's parameters, through the same path as an admin's edit;
        left alone if the password was changed meanwhile."""
        from ..config import ConfigError
        from ..config.apply import accounts_dir, apply_change
        from ..config.writer import find_item_file

        old = account.password
        async with self._hashing:
            new = await asyncio.to_thread(hash_password, password)

        def build(change) -> str | None:
            path = find_item_file(accounts_dir(self.runtime.config_dir), account.name)
            if path is None:
                return None
            doc = change.doc(path)
            if doc.get("password") != old:
                return None
            doc["password"] = new
            change.put(path, doc, 0o600)
            return path.stem

        try:
            await apply_change(self.runtime, build,
                               what="account {result}: password hash upgraded to "
                                    "today's parameters")
        except (ConfigError, OSError) as exc:
            log.warning("account %s: password hash not upgraded: %s", account.name, exc)


def _printable(text: str) -> str:
    """Usernames come from the network: keep log lines single-line and bounded."""
    return "".join(c if c.isprintable() and c != " " else "?" for c in text[:64])
