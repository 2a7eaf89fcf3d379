"""The outgoing side of the queue: ``queue_rcpt`` rows in state ``outbound``.

The transports (``lanmaild.transports``) read due rows with ``due()`` and hand back one
``OutboundResult`` per message; ``record()`` writes it in one transaction (the store's
group commit batches many): recipients the peer confirmed are removed, temporary failures
get their next try, permanent ones are removed together with the DSN that reports them
(queued in the SAME transaction, so a failure is never lost nor reported twice). A row
deleted meanwhile (``lanmailctl queue delete``) is simply skipped.

Durability order: a recipient is removed only after its transport confirmed it, so a crash
between the peer's "250" and this commit sends it once more after the restart (what every
MTA does: SMTP has no way to ask the peer "did you get it?").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .db import Database, Tx
from .queue import _drop_msg_tx, enqueue_tx


@dataclass
class OutboundRecipient:
    id: int
    address: str
    attempts: int
    warned: bool


@dataclass
class OutboundMessage:
    id: int
    blob_id: int
    sender: str
    source: str
    auth_account: str | None
    account: str | None
    trusted: bool
    created: int
    raw: bytes
    recipients: list[OutboundRecipient]


@dataclass
class OutboundResult:
    """What became of one message's recipients in one run of the transports."""

    msg_id: int
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    deferred: list[tuple[int, int, str]] = field(default_factory=list)  # id, next_try, error
    warned: list[int] = field(default_factory=list)
    # DSNs: (raw, parsed, sender, [(rcpt, state)], source, account)
    new_mail: list[tuple] = field(default_factory=list)


def _record_tx(tx: Tx, results: list[OutboundResult]) -> None:
    for r in results:
        done = r.sent + r.failed
        if done:
            tx.conn.executemany("DELETE FROM queue_rcpt WHERE id = ? AND state = 'outbound'",
                                [(rid,) for rid in done])
        if r.deferred:
            tx.conn.executemany(
                "UPDATE queue_rcpt SET attempts = attempts + 1, next_try = ?, last_error = ?"
                " WHERE id = ? AND state = 'outbound'",
                [(nt, err[:500], rid) for rid, nt, err in r.deferred])
        if r.warned:
            tx.conn.executemany("UPDATE queue_rcpt SET warned = 1 WHERE id = ?",
                                [(rid,) for rid in r.warned])
        for raw, parsed, sender, rcpts, source, account in r.new_mail:
            enqueue_tx(tx, raw, parsed, sender, rcpts, source, account=account)
        left = tx.execute("SELECT 1 FROM queue_rcpt WHERE msg_id = ? LIMIT 1",
                          (r.msg_id,)).fetchone()
        if left is None:
            _drop_msg_tx(tx, r.msg_id)


class OutboundStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def due(self, limit: int, exclude: set[int], now: int | None = None
                  ) -> list[OutboundMessage]:
        """Messages with outbound recipients due now, oldest first, with their bytes;
        ``exclude`` = ids the transports are busy with (pass a copy that does not change
        while the query runs: the snapshot is taken when it starts)."""
        now = int(time.time()) if now is None else now

        def job(conn) -> list[OutboundMessage]:
            rows = conn.execute(
                "SELECT msg_id, id, address, attempts, warned FROM queue_rcpt"
                " WHERE state = 'outbound' AND next_try <= ? ORDER BY msg_id, id LIMIT ?",
                (now, limit * 8 + len(exclude))).fetchall()
            by_msg: dict[int, list[OutboundRecipient]] = {}
            for msg_id, rid, addr, attempts, warned in rows:
                if msg_id in exclude or (msg_id not in by_msg and len(by_msg) >= limit):
                    continue
                by_msg.setdefault(msg_id, []).append(
                    OutboundRecipient(rid, addr, attempts, bool(warned)))
            out = []
            for msg_id, rcpts in by_msg.items():
                m = conn.execute(
                    "SELECT q.blob_id, q.sender, q.source, q.auth_account, q.account,"
                    " q.trusted, q.created, r.raw FROM queue_msg q"
                    " JOIN blob_raw r ON r.blob_id = q.blob_id WHERE q.id = ?",
                    (msg_id,)).fetchone()
                if m is not None:
                    out.append(OutboundMessage(msg_id, m[0], m[1], m[2], m[3], m[4],
                                               bool(m[5]), m[6], m[7], rcpts))
            return out

        return await self.db.read(job)

    async def next_due(self) -> int | None:
        """When the earliest waiting outbound recipient is due (unix time), or None."""
        return await self.db.read(lambda conn: conn.execute(
            "SELECT min(next_try) FROM queue_rcpt WHERE state = 'outbound'").fetchone()[0])

    async def record(self, results: list[OutboundResult]) -> None:
        """Write what the transports did (durable on return)."""
        await self.db.write(_record_tx, results)

    async def retry(self, msg_id: int | None = None) -> int:
        """Make waiting recipients due now (one message, or all: ``queue flush``);
        returns how many recipients that were."""

        def job(tx: Tx) -> int:
            where, params = "state IN ('outbound', 'deferred')", []
            if msg_id is not None:
                where += " AND msg_id = ?"
                params.append(msg_id)
            return tx.execute(f"UPDATE queue_rcpt SET next_try = 0 WHERE {where}",
                              params).rowcount

        return await self.db.write(job)
