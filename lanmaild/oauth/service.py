"""Token checks for the mail protocols, and the clean-up of old grants."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ..auth.scopes import scope_for
from .server import UNUSED_SECONDS, OAuthServer, live, token_key

log = logging.getLogger("lanmaild.oauth")

PURGE_EVERY = 3600


class OAuthService:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.server = OAuthServer(runtime, asyncio.get_running_loop())
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.runtime.auth.bearer = self.check_bearer
        self._task = asyncio.get_running_loop().create_task(self._purge(), name="oauth")

    def close(self) -> None:
        self.runtime.auth.bearer = None
        if self._task is not None:
            self._task.cancel()

    async def wait_closed(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check_bearer(self, token: str, service: str):
        """(account, "") or (None, RFC 6750 error): one lookup by the token's hash."""
        store = self.runtime.store.oauth
        t = await store.token(token_key(token))
        if t is None or t.kind != "access" or not live(self.runtime, t):
            return None, "invalid_token"
        if scope_for(service) not in t.scope.split():
            return None, "insufficient_scope"
        now = int(time.time())
        if t.last_used < now - 86400:
            await store.touch(t.key, now)
        return self.runtime.config.account(t.account), ""

    async def _purge(self) -> None:
        while True:
            try:
                n = await self.runtime.store.oauth.purge(int(time.time()), UNUSED_SECONDS)
                if n:
                    log.info("oauth: %d expired or unused token(s) deleted", n)
            except Exception:  # noqa: BLE001 - try again next time
                log.exception("oauth: clean-up failed")
            await asyncio.sleep(PURGE_EVERY)
