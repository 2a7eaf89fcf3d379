"""The POP3 maildrop: one session's view of an account's INBOX (storage side).

At log-in the session takes a snapshot of (uid, size) with one range query; message
numbers 1..n index into it and stay stable for the whole session (RFC 1939). DELE only
marks; ``commit`` (the UPDATE state) removes the marked messages, and flags the ones
sent by RETR \\Seen (as Dovecot does, so an IMAP client on the same account shows them
read), in one store transaction. Bodies are read in chunks straight from the store when
RETR/TOP ask, so a message removed by an IMAP session meanwhile is reported, not crashed
on.

Read-ahead: most clients RETR every message in order, so while one is being sent the
next few small ones (at most ``READ_AHEAD_BYTES`` together) are fetched in one store
hop; a RETR then finds its bytes waiting instead of paying a thread hop per message.

``MaildropLocks`` is the per-account lock RFC 1939 asks for (one POP3 session per
maildrop at a time, in this process); a second log-in gets ``-ERR [IN-USE]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from array import array

    from ..store.mailbox import MailboxStore

CHUNK = 256 * 1024
READ_AHEAD_BYTES = 1024 * 1024
READ_AHEAD_COUNT = 32
_READ_NORMALLY = object()  # read-ahead failed: take the chunked path


class NoSuchMessage(Exception):
    pass


class MessageDeleted(Exception):
    """Marked deleted in this session (DELE)."""


class MessageGone(Exception):
    """Removed from the store by another session after the snapshot."""


class MaildropUnavailable(Exception):
    pass


class MaildropLocks:
    def __init__(self) -> None:
        self._held: set[str] = set()

    def acquire(self, account: str) -> bool:
        if account in self._held:
            return False
        self._held.add(account)
        return True

    def release(self, account: str) -> None:
        self._held.discard(account)


@dataclass
class Maildrop:
    store: MailboxStore
    account: str
    folder_id: int
    uidvalidity: int
    uids: array
    sizes: array
    deleted: set[int] = field(default_factory=set)  # 0-based indexes marked by DELE
    retrieved: set[int] = field(default_factory=set)  # 0-based indexes sent by RETR
    _ahead: dict[int, asyncio.Future] = field(default_factory=dict)  # uid -> bytes | None
    _task: asyncio.Task | None = None

    @classmethod
    async def open(cls, store: MailboxStore, account: str) -> Maildrop:
        snap = await store.pop3_snapshot(account)
        if snap is None:
            raise MaildropUnavailable(f"no INBOX for {account}")
        folder_id, uidvalidity, uids, sizes = snap
        return cls(store, account, folder_id, uidvalidity, uids, sizes)

    # ------------------------------------------------------------------ listing

    def __len__(self) -> int:
        return len(self.uids)

    def stat(self) -> tuple[int, int]:
        """(messages, octets) not marked deleted."""
        count = len(self.uids) - len(self.deleted)
        total = sum(self.sizes) - sum(self.sizes[i] for i in self.deleted)
        return count, total

    def index(self, number: int) -> int:
        """Message number -> snapshot index; raises for unknown or deleted messages."""
        if not 1 <= number <= len(self.uids):
            raise NoSuchMessage(number)
        if number - 1 in self.deleted:
            raise MessageDeleted(number)
        return number - 1

    def size(self, number: int) -> int:
        return self.sizes[self.index(number)]

    def uid(self, number: int) -> int:
        return self.uids[self.index(number)]

    def unique_id(self, number: int) -> str:
        """UIDL: never changes for a message (INBOX's UIDVALIDITY + UID)."""
        return f"{self.uidvalidity}.{self.uids[self.index(number)]}"

    def live(self) -> list[int]:
        """Message numbers not marked deleted, ascending."""
        return [i + 1 for i in range(len(self.uids)) if i not in self.deleted]

    # ------------------------------------------------------------------ reading

    async def chunks(self, number: int, chunk: int = CHUNK) -> AsyncIterator[bytes]:
        """The raw message in chunks. The first chunk is fetched before anything is yielded,
        so a message gone from the store raises MessageGone before the reply starts."""
        index = self.index(number)
        uid = self.uids[index]
        ahead = self._ahead.pop(uid, None)
        self._read_ahead(index + 1)
        data = await ahead if ahead is not None else _READ_NORMALLY
        if data is None:
            raise MessageGone(number)
        if data is not _READ_NORMALLY:
            yield data
            return
        offset = 0
        while True:
            data = await self.store.pop3_read(self.folder_id, uid, offset, chunk)
            if data is None:
                raise MessageGone(number)
            if not data:
                return
            offset += len(data)
            yield data
            if len(data) < chunk:
                return

    def _read_ahead(self, start: int) -> None:
        """Fetch the next small messages from ``start`` (snapshot index) in one hop."""
        if self._ahead:
            return  # the previous batch is still being used
        batch, total = [], 0
        for i in range(start, len(self.uids)):
            size = self.sizes[i]
            if len(batch) >= READ_AHEAD_COUNT or size > CHUNK or total + size > READ_AHEAD_BYTES:
                break
            if i not in self.deleted:
                batch.append(self.uids[i])
                total += size
        if not batch:
            return
        loop = asyncio.get_running_loop()
        futures = {uid: loop.create_future() for uid in batch}
        self._ahead.update(futures)

        async def fetch() -> None:
            try:
                found = await self.store.pop3_read_whole(self.folder_id, batch)
            except Exception:  # noqa: BLE001 - fall back to the plain read path
                found = None
            for uid, fut in futures.items():
                if not fut.done():
                    fut.set_result(_READ_NORMALLY if found is None else found.get(uid))

        self._task = asyncio.ensure_future(fetch())

    # ------------------------------------------------------------------ DELE / RSET / QUIT

    def mark_deleted(self, number: int) -> None:
        self.deleted.add(self.index(number))

    def reset(self) -> int:
        n = len(self.deleted)
        self.deleted.clear()
        return n

    def mark_retrieved(self, number: int) -> None:
        self.retrieved.add(self.index(number))

    async def commit(self) -> int:
        """UPDATE state: remove the marked messages and flag the retrieved ones \\Seen, in
        one transaction; returns (the number removed) once the commit is durable."""
        seen = [self.uids[i] for i in sorted(self.retrieved - self.deleted)]
        if not self.deleted and not seen:
            return 0
        delete = [self.uids[i] for i in sorted(self.deleted)]
        return await self.store.pop3_update(self.folder_id, delete, seen)
