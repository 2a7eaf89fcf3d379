"""Runtime: what every service is handed (config, store, auth, TLS, limits).

Services read ``runtime.config`` at the moment they need it, never keep a copy: a reload
(SIGHUP, ``lanmailctl reload``, or any control-API change) builds and validates a complete
new ``Config`` and swaps it in one assignment, so every session sees either the old or the
new configuration, never a mix. A reload that fails validation changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from .auth.authenticator import Authenticator
from .config import Config, load_config
from .net import ConnectionLimiter, TLSProvider
from .store import Store

log = logging.getLogger("lanmaild")

ReloadHook = Callable[["Runtime", Config, Config], Awaitable[None]]


class Runtime:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.auth = Authenticator(self)
        self.limiter = ConnectionLimiter(lambda: self.config.limits)
        self.tls = TLSProvider(config.tls)
        store.set_query_timeout(config.limits.query_timeout)
        self.started = time.time()
        self.reload_hooks: list[ReloadHook] = []
        self.services: dict[str, object] = {}  # service name -> its state (queue worker, ...)
        # checks a service adds to SMTP's end of DATA: (sending account, any internet
        # recipient?, size) -> a reply refusing the mail, or None
        self.submission_checks: list[Callable[[str | None, bool, int], str | None]] = []
        self._reload_lock = asyncio.Lock()

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        """The listener context (None without a certificate): every handshake gets the
        certificate loaded at the last reload (``net.tls``)."""
        return self.tls.context

    @property
    def config_dir(self) -> Path:
        return self.config.config_dir

    async def sync_accounts(self, config: Config | None = None) -> None:
        """Every configured account has its folders in the store (the only place that
        makes accounts there: protocol sessions and delivery never do)."""
        accounts = (config or self.config).accounts
        await self.store.mail.ensure_accounts([a.key for a in accounts.values()])

    async def reload(self) -> Config:
        """Re-read conf.d; raises ConfigError (old config keeps serving) when invalid."""
        async with self._reload_lock:
            new = await asyncio.to_thread(load_config, self.config.config_dir)
            old = self.config
            if await asyncio.to_thread(self.tls.update, new.tls):
                log.info("reload: TLS certificate loaded from %s", new.tls.cert)
            if new.listen != old.listen or new.server.data_dir != old.server.data_dir or \
                    new.server.control_socket != old.server.control_socket:
                log.warning("reload: [listen], data_dir and control_socket changes take "
                            "effect at the next restart")
            await self.sync_accounts(new)  # before the swap: a new account's first
            self.config = new  # delivery must find it in the store
            self.store.set_query_timeout(new.limits.query_timeout)
            for hook in self.reload_hooks:
                await hook(self, old, new)
            log.info("config reloaded: %d accounts, %d groups", len(new.accounts),
                     len(new.groups))
            return new
