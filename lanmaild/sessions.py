"""Logged-in IMAP and POP3 sessions by account, so deleting an account ends them.

Accounts live in conf.d; every way of deleting one (``account.delete``, or a hand edit
followed by ``lanmailctl reload``/SIGHUP) ends in ``Runtime.reload``. Its reload hook here
asks every session of an account that is no longer configured to end: IMAP with an
untagged ``BYE [CONTACTADMIN]`` (RFC 5530), POP3 by closing the connection without the
UPDATE state, so its DELE marks are not applied (RFC 1939 6 deletes only at QUIT).
Otherwise a session would live on, and a CREATE or APPEND in it would act on an account
that no longer exists (the store refuses that too: ``store.mailbox.AccountGone``).

One registry serves both protocols: ``LiveSessions.of(runtime)`` makes it on first use and
registers the hook once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .config import Config
    from .runtime import Runtime

log = logging.getLogger("lanmaild")
ACCOUNT_DELETED = "account deleted"


class AccountSession(Protocol):
    def end(self, reason: str) -> None:
        """Finish soon: at once if waiting for the client, else after the current
        command (never in the middle of a response)."""


class LiveSessions:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._by_account: dict[str, set[AccountSession]] = {}

    @classmethod
    def of(cls, runtime: Runtime) -> LiveSessions:
        """The runtime's registry (``runtime.services["sessions"]``), made on first use."""
        live = runtime.services.get("sessions")
        if not isinstance(live, cls):
            live = runtime.services["sessions"] = cls(runtime)
            runtime.reload_hooks.append(live.on_reload)
        return live

    def add(self, account_key: str, session: AccountSession) -> bool:
        """Register a session that just logged in; False (not registered) when its account
        was deleted while the password was being checked."""
        if account_key not in self.runtime.config.accounts:
            return False
        self._by_account.setdefault(account_key, set()).add(session)
        return True

    def discard(self, account_key: str, session: AccountSession) -> None:
        sessions = self._by_account.get(account_key)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._by_account[account_key]

    async def on_reload(self, runtime: Runtime, old: Config, new: Config) -> None:
        """End the sessions of every account the new configuration no longer has."""
        for key in [k for k in self._by_account if k not in new.accounts]:
            sessions = self._by_account.pop(key)
            log.info("account %s is gone: ending its %d IMAP/POP3 sessions", key,
                     len(sessions))
            for session in sessions:
                session.end(ACCOUNT_DELETED)
