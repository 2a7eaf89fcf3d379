"""Log-in checks shared by SMTP, IMAP and POP3: passwords, throttling, fail2ban lines.

One place decides whether a user/password pair is good, so all three protocols throttle
and log the same way:

- A failure is delayed (1 s, growing with the failures seen from that IP) so guessing is
  slow, and logged as one line ``auth failed: service=imap ip=1.2.3.4 user=meier`` that a
  fail2ban filter can match.
- After ``limits.auth_failures_per_ip`` failures in ``auth_failure_window`` seconds an IP is
  refused without even checking the password; likewise per account
  (``auth_failures_per_account``), so one account is not brute-forced from many IPs.
- The slow hash runs in a thread so the event loop keeps serving other sessions.
- Clear-text log-in before TLS is allowed only from networks listed in
  ``server.plaintext_auth`` (``plaintext_allowed``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING

from .passwords import verify_password

if TYPE_CHECKING:
    from ..config.model import Account
    from ..runtime import Runtime

log = logging.getLogger("lanmaild.auth")

BASE_DELAY = 1.0
MAX_DELAY = 5.0


class Authenticator:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._by_ip: dict[str, deque[float]] = defaultdict(deque)
        self._by_account: dict[str, deque[float]] = defaultdict(deque)
        # A small cache of (name, password) -> hash verified, so clients that log in every
        # minute don't pay the slow hash each time; keyed on the stored hash, so a password
        # change invalidates it.
        self._verified: dict[tuple[str, str], str] = {}

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

    def _prune(self, bucket: deque[float], now: float) -> int:
        window = self.runtime.config.limits.auth_failure_window
        while bucket and bucket[0] < now - window:
            bucket.popleft()
        return len(bucket)

    def blocked(self, ip: str, username: str) -> bool:
        limits = self.runtime.config.limits
        now = time.monotonic()
        if limits.auth_failures_per_ip and \
                self._prune(self._by_ip[ip], now) >= limits.auth_failures_per_ip:
            return True
        key = username.lower()
        return bool(limits.auth_failures_per_account) and \
            self._prune(self._by_account[key], now) >= limits.auth_failures_per_account

    async def login(self, username: str, password: str, *, ip: str, service: str,
                    session: str = "-") -> Account | None:
        """The account on success; None after the failure delay otherwise."""
        account = self.resolve(username)
        if self.blocked(ip, account.key if account else username):
            log.warning("auth blocked: service=%s ip=%s user=%s session=%s (too many failures)",
                        service, ip, _printable(username), session)
            await asyncio.sleep(BASE_DELAY)
            return None
        if account is not None and await self._check(account, password):
            self._by_account.pop(account.key, None)
            log.info("auth ok: service=%s ip=%s user=%s session=%s", service, ip, account.name,
                     session)
            return account
        now = time.monotonic()
        self._by_ip[ip].append(now)
        self._by_account[account.key if account else username.lower()].append(now)
        log.warning("auth failed: service=%s ip=%s user=%s session=%s", service, ip,
                    _printable(username), session)
        delay = min(MAX_DELAY, BASE_DELAY * len(self._by_ip[ip]))
        await asyncio.sleep(delay)
        return None

    async def _check(self, account: Account, password: str) -> bool:
        key = (account.key, password)
        if self._verified.get(key) == account.password:
            return True
        ok = await asyncio.to_thread(verify_password, password, account.password)
        if ok:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[key] = account.password
        return ok


def _printable(text: str) -> str:
    """Usernames come from the network: keep log lines single-line and bounded."""
    return "".join(c if c.isprintable() and c != " " else "?" for c in text[:64])
