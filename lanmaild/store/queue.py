"""The mail queue: accepted messages and their recipients until the pipeline is done with them.

Layout:

- ``queue_msg`` one accepted message: the blob it points at (the raw bytes and their
  parse-once metadata live in ``blob``/``blob_raw``, shared with the mailbox copies: the
  queue holds one reference in ``blob.refs`` so an IMAP expunge never frees a blob the
  queue still needs), the envelope sender, where it came from (``source``: smtp,
  submission, local, fetch, dsn) and who sent it (authenticated account, trusted network).
- ``queue_rcpt`` one row per envelope recipient with its state:

  ``incoming``  accepted, waiting for the delivery pipeline
  ``deferred``  the pipeline failed transiently; retried at ``next_try``
  ``outbound``  a non-local recipient waiting for the outgoing transport
                (``lanmaild.transports``; rows and results in ``store.outbound``): due at
                ``next_try``, ``attempts`` so far, ``warned`` once a delay DSN went out
  ``failed``    given up (only while the DSN for it is being made; then removed)

  "delivering" is never written: the worker claims messages in memory and the pipeline's
  result (mailbox copies, archive entries, new queue entries such as DSNs and forwards,
  the recipients' end state) is committed in ONE transaction. A crash before that commit
  leaves the recipients ``incoming``, so a restart delivers each message exactly once.
  A recipient that is done is deleted; a message without recipients left is deleted and
  its blob reference dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .blobs import store_blob_tx
from .db import Database, Tx

SCHEMA = """
CREATE TABLE queue_msg (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    blob_id INTEGER NOT NULL REFERENCES blob(id),
    sender TEXT NOT NULL,
    source TEXT NOT NULL,
    auth_account TEXT,
    client_ip TEXT,
    trusted INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE queue_rcpt (
    id INTEGER PRIMARY KEY,
    msg_id INTEGER NOT NULL REFERENCES queue_msg(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX queue_rcpt_msg ON queue_rcpt(msg_id);
CREATE INDEX queue_rcpt_state ON queue_rcpt(state, next_try);
"""

PENDING = ("incoming", "deferred")
STATES = ("incoming", "deferred", "outbound", "failed")


@dataclass
class QueuedMessage:
    """What the worker needs to run one message through the pipeline."""

    id: int
    blob_id: int
    sender: str
    source: str
    auth_account: str | None
    client_ip: str | None
    trusted: bool
    created: int
    recipients: list[tuple[int, str, int]]  # (rcpt row id, address, attempts)
    raw: bytes | None = None


def enqueue_tx(tx: Tx, raw: bytes, parsed, sender: str, recipients: list[tuple[str, str]],
               source: str, auth_account: str | None = None, client_ip: str | None = None,
               trusted: bool = False, blob_id: int | None = None,
               account: str | None = None) -> int:
    """Store the message (or reuse ``blob_id``) and queue it; recipients are
    (address, state) pairs; ``account`` is the local account the mail leaves for (a
    forwarded copy: the forwarding account), which picks its outgoing settings.
    Returns the queue id."""
    if blob_id is None:
        blob_id = store_blob_tx(tx, raw, parsed)
    tx.execute("UPDATE blob SET refs = refs + 1 WHERE id = ?", (blob_id,))
    now = int(time.time())
    msg_id = tx.execute(
        "INSERT INTO queue_msg (blob_id, sender, source, auth_account, client_ip, trusted,"
        " size, created, account) VALUES (?,?,?,?,?,?,?,?,?)",
        (blob_id, sender, source, auth_account, client_ip, int(trusted), len(raw),
         now, account)).lastrowid
    tx.conn.executemany(
        "INSERT INTO queue_rcpt (msg_id, address, state) VALUES (?, ?, ?)",
        [(msg_id, addr, state) for addr, state in recipients])
    return msg_id


def rcpts_waiting_tx(tx: Tx, msg_id: int, rcpt_ids: list[int]) -> bool:
    """Are all these recipients of ``msg_id`` still waiting (incoming or deferred)? The
    worker checks this in its commit job so nothing is ever delivered twice."""
    marks = ",".join("?" * len(rcpt_ids))
    waiting = tx.execute(
        f"SELECT count(*) FROM queue_rcpt WHERE msg_id = ? AND id IN ({marks})"
        " AND state IN ('incoming', 'deferred')", (msg_id, *rcpt_ids)).fetchone()[0]
    return waiting == len(rcpt_ids)


def finish_rcpts_tx(tx: Tx, msg_id: int, done: list[int]) -> None:
    """Remove finished recipients; drop the message (and its blob reference) when none is
    left."""
    if done:
        tx.conn.executemany("DELETE FROM queue_rcpt WHERE id = ?", [(r,) for r in done])
    left = tx.execute("SELECT 1 FROM queue_rcpt WHERE msg_id = ? LIMIT 1", (msg_id,)).fetchone()
    if left is None:
        _drop_msg_tx(tx, msg_id)


def _drop_msg_tx(tx: Tx, msg_id: int) -> bool:
    row = tx.execute("DELETE FROM queue_msg WHERE id = ? RETURNING blob_id", (msg_id,)).fetchone()
    if row is None:
        return False
    blob_id = row[0]
    tx.execute("UPDATE blob SET refs = refs - 1 WHERE id = ?", (blob_id,))
    tx.execute("DELETE FROM blob WHERE id = ? AND refs <= 0", (blob_id,))
    return True


def defer_rcpts_tx(tx: Tx, rcpts: list[tuple[int, int, str]]) -> None:
    """(rcpt id, next_try, error) -> state deferred, attempts + 1."""
    tx.conn.executemany(
        "UPDATE queue_rcpt SET state = 'deferred', attempts = attempts + 1, next_try = ?,"
        " last_error = ? WHERE id = ?", [(nt, err[:500], rid) for rid, nt, err in rcpts])


def set_state_tx(tx: Tx, rcpts: list[int], state: str, error: str | None = None) -> None:
    tx.conn.executemany("UPDATE queue_rcpt SET state = ?, last_error = ? WHERE id = ?",
                        [(state, error, rid) for rid in rcpts])


class QueueStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(self, raw: bytes, parsed, sender: str, recipients: list[tuple[str, str]],
                      source: str, auth_account: str | None = None,
                      client_ip: str | None = None, trusted: bool = False) -> int:
        """Durably queue a message: returns only after the commit (fsync)."""
        return await self.db.write(enqueue_tx, raw, parsed, sender, recipients, source,
                                   auth_account, client_ip, trusted)

    async def due(self, limit: int, exclude: set[int], with_raw: set[int] | None = None,
                  now: int | None = None) -> list[QueuedMessage]:
        """Messages with recipients waiting for the pipeline (incoming, or deferred and
        due), oldest first; ``exclude`` = ids already claimed in memory."""
        now = int(time.time()) if now is None else now

        def job(conn) -> list[QueuedMessage]:
            rows = conn.execute(
                "SELECT r.msg_id, r.id, r.address, r.attempts FROM queue_rcpt r"
                " WHERE r.state = 'incoming' OR (r.state = 'deferred' AND r.next_try <= ?)"
                " ORDER BY r.msg_id LIMIT ?", (now, limit * 4 + len(exclude))).fetchall()
            by_msg: dict[int, list] = {}
            for msg_id, rid, addr, attempts in rows:
                if msg_id in exclude:
                    continue
                if msg_id not in by_msg and len(by_msg) >= limit:
                    continue
                by_msg.setdefault(msg_id, []).append((rid, addr, attempts))
            out = []
            for msg_id, rcpts in by_msg.items():
                m = conn.execute(
                    "SELECT q.blob_id, q.sender, q.source, q.auth_account, q.client_ip,"
                    " q.trusted, q.created FROM queue_msg q WHERE q.id = ?",
                    (msg_id,)).fetchone()
                if m is None:
                    continue
                raw = None
                if with_raw is None or msg_id not in with_raw:
                    raw = conn.execute("SELECT raw FROM blob_raw WHERE blob_id = ?",
                                       (m[0],)).fetchone()[0]
                out.append(QueuedMessage(msg_id, m[0], m[1], m[2], m[3], m[4], bool(m[5]),
                                         m[6], rcpts, raw))
            return out

        return await self.db.read(job)

    async def next_due(self) -> int | None:
        """When the earliest deferred recipient is due (unix time), or None."""
        return await self.db.read(lambda conn: conn.execute(
            "SELECT min(next_try) FROM queue_rcpt WHERE state = 'deferred'").fetchone()[0])

    async def list(self, state: str | None = None, limit: int = 1000) -> list[dict]:
        def job(conn) -> list[dict]:
            where, params = "", []
            if state:
                where = " WHERE q.id IN (SELECT msg_id FROM queue_rcpt WHERE state = ?)"
                params.append(state)
            rows = conn.execute(
                "SELECT q.id, q.sender, q.source, q.size, q.created, b.subject"
                " FROM queue_msg q JOIN blob b ON b.id = q.blob_id" + where +
                " ORDER BY q.id LIMIT ?", (*params, limit)).fetchall()
            out = []
            for qid, sender, source, size, created, subject in rows:
                rcpts = conn.execute(
                    "SELECT address, state, attempts, next_try, last_error FROM queue_rcpt"
                    " WHERE msg_id = ? ORDER BY id", (qid,)).fetchall()
                out.append({"id": qid, "sender": sender, "source": source, "size": size,
                            "created": created, "subject": subject or "",
                            "recipients": [_rcpt_dict(r) for r in rcpts]})
            return out

        return await self.db.read(job)

    async def show(self, msg_id: int) -> dict | None:
        def job(conn) -> dict | None:
            row = conn.execute(
                "SELECT q.id, q.sender, q.source, q.auth_account, q.client_ip, q.trusted,"
                " q.size, q.created, b.subject, b.from_, b.message_id, r.raw"
                " FROM queue_msg q JOIN blob b ON b.id = q.blob_id"
                " JOIN blob_raw r ON r.blob_id = q.blob_id WHERE q.id = ?",
                (msg_id,)).fetchone()
            if row is None:
                return None
            rcpts = conn.execute(
                "SELECT address, state, attempts, next_try, last_error FROM queue_rcpt"
                " WHERE msg_id = ? ORDER BY id", (msg_id,)).fetchall()
            raw: bytes = row[11]
            end = raw.find(b"\r\n\r\n")
            headers = raw[: end if end >= 0 else len(raw)]
            return {"id": row[0], "sender": row[1], "source": row[2],
                    "auth_account": row[3], "client_ip": row[4], "trusted": bool(row[5]),
                    "size": row[6], "created": row[7], "subject": row[8] or "",
                    "from": row[9] or "", "message_id": row[10] or "",
                    "headers": headers.decode("utf-8", "replace"),
                    "recipients": [_rcpt_dict(r) for r in rcpts]}

        return await self.db.read(job)

    async def delete(self, msg_id: int) -> bool:
        return await self.db.write(_drop_msg_tx, msg_id)

    async def counts(self) -> dict[str, int]:
        rows = await self.db.read(lambda conn: conn.execute(
            "SELECT state, count(*) FROM queue_rcpt GROUP BY state").fetchall())
        return dict(rows)


def _rcpt_dict(r) -> dict:
    return {"address": r[0], "state": r[1], "attempts": r[2], "next_try": r[3],
            "error": r[4] or ""}
