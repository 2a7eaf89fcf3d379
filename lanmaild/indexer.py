"""Background full-text indexing for IMAP SEARCH TEXT/BODY.

Delivery stores each message's searchable text but not its trigram index, which costs
about ten times the rest of the write: paying it before the 250 would halve ingest. This
service adds the index in small batches once the store has been idle (no read, no write)
for a moment, so a burst of mail is accepted at full speed, mail programs reading are never
slowed by it, and the index is built right after. Search stays exact
meanwhile (the store scans the not yet indexed tail). Expunged mail leaves the index the
same way, in small steps (see ``store.mailbox.index_text_batch_tx`` for why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from . import memtune

log = logging.getLogger("lanmaild.indexer")

IDLE_SECONDS = 0.5  # wait this long after the last client read or write before indexing
BATCH = 50          # at most this many texts per step (and ~1 MB: keeps each write short)


class Indexer:
    def __init__(self, store) -> None:
        self.store = store
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        trimmed = True
        while True:
            idle = self.store.db.idle_for()
            if idle < IDLE_SECONDS:
                trimmed = False
                await asyncio.sleep(IDLE_SECONDS - idle)
                continue
            if not trimmed:  # the first idle moment after a burst: hand back freed memory
                trimmed = True
                await asyncio.to_thread(memtune.trim)
            try:
                done = await self.store.mail.index_text(BATCH)
            except Exception:  # noqa: BLE001 - retried later; search scans meanwhile
                log.exception("text indexing failed")
                done = 0
            if not done:
                await asyncio.sleep(IDLE_SECONDS)

    def close(self) -> None:
        self._task.cancel()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def start(runtime) -> list:
    return [Indexer(runtime.store)]
