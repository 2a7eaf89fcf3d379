"""ChangeHub: wake the sessions watching a folder after a commit changed it.

IMAP IDLE and selected sessions wait on ``watch(folder_id)``; the store calls
``changed(folder_id)`` from its after-commit hook (on the event loop). A waiter then asks
the store what changed; the hub itself carries no data, so a slow client can never make a
delivery wait.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class ChangeHub:
    def __init__(self) -> None:
        self._events: dict[int, set[asyncio.Event]] = defaultdict(set)

    def watch(self, folder_id: int) -> asyncio.Event:
        event = asyncio.Event()
        self._events[folder_id].add(event)
        return event

    def unwatch(self, folder_id: int, event: asyncio.Event) -> None:
        waiters = self._events.get(folder_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._events[folder_id]

    def changed(self, folder_id: int, origin: asyncio.Event | None = None) -> None:
        """Wake every watcher but ``origin`` (the session that made the change knows it
        already: waking it would cost it a store read after each of its own STOREs)."""
        for event in self._events.get(folder_id, ()):
            if event is not origin:
                event.set()
