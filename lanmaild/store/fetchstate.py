"""What was fetched from which external mailbox (issue 10: nothing lost, nothing twice).

``fetch_seen`` holds one row per message taken from an external mailbox: its key there
(POP3: the UIDL; IMAP: ``UIDVALIDITY:UID``; a POP3 server without UIDL: ``mid:`` +
Message-ID + size), its Message-ID and size (the re-sync after a UIDVALIDITY change) and
when it was fetched (delete after N days). The row is written in the SAME transaction that
queues the message (``enqueue_fetched``), so a message is either queued and remembered,
or neither: a crash before the commit fetches it again, a crash after it never delivers
it twice; the remote copy is deleted only after that commit. ``fetch_folder`` remembers
the UIDVALIDITY each IMAP folder had.
"""

from __future__ import annotations

import time

from .db import Database, Tx
from .queue import enqueue_tx

SCHEMA = """
CREATE TABLE fetch_seen (
    account TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    folder TEXT NOT NULL,
    key TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    fetched INTEGER NOT NULL,
    PRIMARY KEY (account, mailbox, folder, key)
) WITHOUT ROWID;
CREATE TABLE fetch_folder (
    account TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    PRIMARY KEY (account, mailbox, folder)
) WITHOUT ROWID;
"""


def _enqueue_fetched_tx(tx: Tx, where: tuple[str, str, str], key: str, message_id: str,
                        size: int, raw: bytes, parsed, sender: str,
                        recipients: list[str]) -> int | None:
    account, mailbox, folder = where
    cur = tx.execute(
        "INSERT OR IGNORE INTO fetch_seen (account, mailbox, folder, key, message_id, size,"
        " fetched) VALUES (?,?,?,?,?,?,?)",
        (account, mailbox, folder, key, message_id, size, int(time.time())))
    if cur.rowcount == 0:
        return None  # fetched before (a second fetcher, or a retry): never twice
    return enqueue_tx(tx, raw, parsed, sender, [(r, "incoming") for r in recipients], "fetch")


class FetchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue_fetched(self, where: tuple[str, str, str], key: str, message_id: str,
                              size: int, raw: bytes, parsed, sender: str,
                              recipients: list[str]) -> int | None:
        """Queue a fetched message and remember it (with its Message-ID and its size on
        the server), in one commit (durable on return); None if it was remembered
        already (then nothing is queued)."""
        return await self.db.write(_enqueue_fetched_tx, where, key, message_id, size, raw,
                                   parsed, sender, recipients)

    async def seen(self, where: tuple[str, str, str]) -> dict[str, tuple[str, int, int]]:
        """key -> (message_id, size, fetched) of what was taken from this folder."""
        rows = await self.db.read(lambda conn: conn.execute(
            "SELECT key, message_id, size, fetched FROM fetch_seen WHERE account = ? AND"
            " mailbox = ? AND folder = ?", where).fetchall())
        return {k: (m, s, f) for k, m, s, f in rows}

    async def forget(self, where: tuple[str, str, str], keys: list[str]) -> None:
        """Drop rows of messages the server no longer has (keeps the table bounded)."""
        if not keys:
            return

        def job(tx: Tx) -> None:
            tx.conn.executemany(
                "DELETE FROM fetch_seen WHERE account = ? AND mailbox = ? AND folder = ?"
                " AND key = ?", [(*where, k) for k in keys])

        await self.db.write(job)

    async def rekey(self, where: tuple[str, str, str], uidvalidity: int,
                    moves: list[tuple[str, str]]) -> None:
        """After a UIDVALIDITY change: the new UIDVALIDITY, old keys renamed to new ones."""

        def job(tx: Tx) -> None:
            tx.execute("INSERT OR REPLACE INTO fetch_folder (account, mailbox, folder,"
                       " uidvalidity) VALUES (?,?,?,?)", (*where, uidvalidity))
            for old, new in moves:
                tx.execute("UPDATE OR IGNORE fetch_seen SET key = ? WHERE account = ? AND"
                           " mailbox = ? AND folder = ? AND key = ?", (new, *where, old))

        await self.db.write(job)

    async def uidvalidity(self, where: tuple[str, str, str]) -> int | None:
        row = await self.db.read(lambda conn: conn.execute(
            "SELECT uidvalidity FROM fetch_folder WHERE account = ? AND mailbox = ? AND"
            " folder = ?", where).fetchone())
        return row[0] if row else None
