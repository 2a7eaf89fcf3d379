"""IMAP IDLE push for external mailboxes with ``idle = true`` (RFC 2177).

One watcher per such mailbox keeps a second connection to the provider, idling on the
first of its folders; when the server reports new mail the watcher asks the scheduler for
a normal fetch (``Fetcher.fetch_now``: the same exactly-once path, the same lock, so an
IDLE wake-up and the interval never fetch one mailbox twice at once). The interval stays
as the safety net. A provider without IDLE is noted once and left to the interval.

Each watcher blocks in its own thread (not the default executor, whose few threads the
parsers and the other fetches need). A wait ends after ``RENEW`` seconds without news:
then the watcher reconnects, which also meets the RFC's "re-issue IDLE at least every 29
minutes". Errors reconnect after a back-off, logged once per change of state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from . import client
from .tokens import access_token

log = logging.getLogger("lanmaild.fetch")

RENEW = 25 * 60
RETRY = (10, 30, 60, 300, 900)  # seconds between reconnects after errors


class IdleWatcher:
    def __init__(self, fetcher, account: str, mb) -> None:
        self.fetcher = fetcher
        self.account = account
        self.mb = mb
        self.state = "starting"  # idling | not offered | error: ...
        self._conn = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idle")
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"idle {account}/{mb.name}")

    async def _call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the provider's trouble, not ours
                err = client.classify(exc)
                if self.state != f"error: {err}":
                    log.warning("external %s/%s: IDLE: %s", self.account, self.mb.name, err)
                self.state = f"error: {err}"
                await asyncio.sleep(RETRY[min(failures, len(RETRY) - 1)])
                failures += 1
            finally:
                self._close()
            if self.state == "not offered":
                return

    async def _session(self) -> None:
        token = await access_token(self.fetcher.runtime, self.account, self.mb)
        self._conn = conn = await self._call(client.imap_connect, self.mb, 60, token)
        if "IDLE" not in conn.capabilities:
            log.info("external %s/%s: the server offers no IDLE: fetched on the interval",
                     self.account, self.mb.name)
            self.state = "not offered"
            return
        await self._call(client.imap_select, conn, self.mb.folders[0], True)
        if self.state != "idling":
            log.info("external %s/%s: IDLE on %s", self.account, self.mb.name,
                     self.mb.folders[0])
        self.state = "idling"
        while await self._call(client.imap_idle, conn, RENEW):
            self.fetcher.push(self.account, self.mb.name)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            client.wake(conn)
            self._pool.submit(conn.shutdown)

    def close(self) -> None:
        self._task.cancel()
        self._close()  # ends a blocked wait in the thread
        self._pool.shutdown(wait=False)

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
