"""The mail archive's tables: kept apart from the mailboxes, append-only, hash-chained.

- ``archive_entry`` one archived mail for one account and direction ('in' received,
  'out' sent). It keeps its OWN copy of the raw bytes: deleting or expunging mail in a
  mailbox never touches the archive.
- ``archive_fts`` an FTS5 index (contentless: the text is not stored twice) over from,
  to, cc, subject, body text and attachment names; its rowid is the entry id.
- Tamper evidence: ``sha256`` is the SHA-256 of the raw message; ``chain`` is
  SHA-256(previous entry's chain || this entry's columns || sha256), the first entry
  chains to 32 zero bytes. Changing, removing or reordering any entry (or its raw bytes)
  breaks the chain from that entry on; ``verify`` names the first broken entry.
- Chain versions (``chain_version``): version 1 (entries written before schema 3) covered
  id, account, direction, archived, sender and recipients only; version 2 covers every
  stored column (also sent_date, from, to, cc, subject, message_id, size and the version
  itself), encoded as a JSON array so no two rows hash alike. Old entries keep verifying
  under their rule (recomputing them would launder earlier tampering); a version may only
  grow along the chain.
- A chain cannot show that its newest entries were removed: the head just moves back.
  ``anchor`` gives the head (entry count, id and chain hash) for the admin to keep outside
  the server (a daily cron job mailing or copying it away); ``verify(anchor=...)`` then
  checks that the anchored entry is still there, unchanged, with a valid chain up to it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time

from .db import Database, Tx

SCHEMA = """
CREATE TABLE archive_entry (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    direction TEXT NOT NULL,
    archived INTEGER NOT NULL,
    sent_date INTEGER,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    from_ TEXT,
    to_ TEXT,
    cc TEXT,
    subject TEXT,
    message_id TEXT,
    size INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    chain BLOB NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX archive_account ON archive_entry(account, archived);
CREATE VIRTUAL TABLE archive_fts USING fts5(
    from_, to_, cc, subject, body, attachments, content='', tokenize='unicode61 remove_diacritics 2'
);
"""

GENESIS = b"\0" * 32
CHAIN_VERSION = 2
# The columns chain version 2 covers, in order (raw is covered through sha256).
_CHAINED = ("id", "account", "direction", "archived", "sent_date", "sender", "recipients",
            "from_", "to_", "cc", "subject", "message_id", "size", "chain_version")


def _chain_v1(prev: bytes, entry_id: int, account: str, direction: str, archived: int,
              sender: str, recipients: str, digest: bytes) -> bytes:
    h = hashlib.sha256(prev)
    h.update(f"{entry_id}\n{account}\n{direction}\n{archived}\n{sender}\n{recipients}\n"
             .encode("utf-8", "surrogateescape"))
    h.update(digest)
    return h.digest()


def _chain(prev: bytes, values: tuple, digest: bytes) -> bytes:
    """Version 2: every column of ``_CHAINED`` (``values`` in that order)."""
    h = hashlib.sha256(prev)
    h.update(json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
             .encode("utf-8", "surrogateescape"))
    h.update(digest)
    return h.digest()


def _entry_chain(prev: bytes, row: dict, digest: bytes) -> bytes:
    if row["chain_version"] == 1:
        return _chain_v1(prev, row["id"], row["account"], row["direction"], row["archived"],
                         row["sender"], row["recipients"], digest)
    return _chain(prev, tuple(row[c] for c in _CHAINED), digest)


def add_entry_tx(tx: Tx, account: str, direction: str, raw: bytes, parsed, sender: str,
                 recipients: list[str]) -> int:
    """Append one entry (runs inside a delivery transaction, so the chain is serial)."""
    row = tx.execute("SELECT id, chain FROM archive_entry ORDER BY id DESC LIMIT 1").fetchone()
    prev_id, prev = (row[0], row[1]) if row else (0, GENESIS)
    entry_id = prev_id + 1
    archived = int(time.time())
    rcpts = ", ".join(recipients)
    digest = hashlib.sha256(raw).digest()
    values = (entry_id, account, direction, archived, parsed.date, sender, rcpts,
              parsed.from_, parsed.to, parsed.cc, parsed.subject, parsed.message_id,
              len(raw), CHAIN_VERSION)
    chain = _chain(prev, values, digest)
    tx.execute(
        "INSERT INTO archive_entry (id, account, direction, archived, sent_date, sender,"
        " recipients, from_, to_, cc, subject, message_id, size, chain_version, sha256,"
        " chain, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (*values, digest, chain, raw))
    attachments = " ".join(parsed.attachment_names)
    tx.execute(
        "INSERT INTO archive_fts (rowid, from_, to_, cc, subject, body, attachments)"
        " VALUES (?,?,?,?,?,?,?)",
        (entry_id, f"{parsed.from_ or ''} {sender}", f"{parsed.to or ''} {rcpts}",
         parsed.cc or "", parsed.subject or "", parsed.search_text,
         attachments))
    return entry_id


_COLS = ("id, account, direction, archived, sent_date, sender, recipients, from_, to_, cc,"
         " subject, message_id, size")


def _row(r) -> dict:
    return {"id": r[0], "account": r[1], "direction": r[2], "archived": r[3],
            "date": r[4], "sender": r[5], "recipients": r[6], "from": r[7] or "",
            "to": r[8] or "", "cc": r[9] or "", "subject": r[10] or "",
            "message_id": r[11] or "", "size": r[12]}


class ArchiveQueryError(ValueError):
    """The full-text query is not valid FTS5 syntax."""


class ArchiveStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, query: str | None = None, account: str | None = None,
                     sender: str | None = None, to: str | None = None,
                     since: int | None = None, until: int | None = None,
                     limit: int = 1000) -> list[dict]:
        """Entries matching all given criteria, oldest first. ``query`` is FTS5 syntax;
        ``sender``/``to`` are substrings of From/envelope sender and To/Cc/recipients;
        ``since``/``until`` bound the archive time (unix seconds, until exclusive)."""
        where, params = [], []
        if query:
            where.append("id IN (SELECT rowid FROM archive_fts WHERE archive_fts MATCH ?)")
            params.append(query)
        if account:
            where.append("account = ? COLLATE NOCASE")
            params.append(account)
        if sender:
            where.append("(instr(lower(coalesce(from_, '')), ?) OR instr(lower(sender), ?))")
            params += [sender.lower(), sender.lower()]
        if to:
            where.append("(instr(lower(coalesce(to_, '') || ' ' || coalesce(cc, '') || ' ' ||"
                         " recipients), ?))")
            params.append(to.lower())
        if since is not None:
            where.append("archived >= ?")
            params.append(since)
        if until is not None:
            where.append("archived < ?")
            params.append(until)
        sql = f"SELECT {_COLS} FROM archive_entry"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)

        def job(conn) -> list[dict]:
            try:
                return [_row(r) for r in conn.execute(sql, params).fetchall()]
            except sqlite3.OperationalError as exc:
                if not query:
                    raise
                first = exc
            # Not FTS5 syntax (e.g. "rechnung-4711"): search the words as plain phrases.
            params[0] = " ".join('"' + w.replace('"', '""') + '"' for w in query.split())
            try:
                return [_row(r) for r in conn.execute(sql, params).fetchall()]
            except sqlite3.OperationalError:
                raise ArchiveQueryError(str(first)) from None

        return await self.db.read(job)

    async def show(self, entry_id: int, raw: bool = False) -> dict | None:
        def job(conn) -> dict | None:
            r = conn.execute(f"SELECT {_COLS}, sha256, raw FROM archive_entry WHERE id = ?",
                             (entry_id,)).fetchone()
            if r is None:
                return None
            out = _row(r)
            out["sha256"] = r[13].hex()
            if raw:
                out["raw"] = r[14]
            else:
                end = r[14].find(b"\r\n\r\n")
                out["headers"] = r[14][: end if end >= 0 else len(r[14])].decode(
                    "utf-8", "replace")
            return out

        return await self.db.read(job)

    async def anchor(self) -> dict:
        """The head of the chain, for the admin to keep outside the server."""

        def job(conn) -> dict:
            row = conn.execute("SELECT id, chain FROM archive_entry ORDER BY id DESC LIMIT 1"
                               ).fetchone()
            count = conn.execute("SELECT count(*) FROM archive_entry").fetchone()[0]
            if row is None:
                return {"entries": 0, "id": 0, "head": GENESIS.hex(), "anchor": "0:" +
                        GENESIS.hex()}
            return {"entries": count, "id": row[0], "head": row[1].hex(),
                    "anchor": f"{row[0]}:{row[1].hex()}"}

        return await self.db.read(job)

    async def verify(self, anchor: tuple[int, bytes] | None = None) -> dict:
        """Walk the chain; returns {ok, entries, first_broken, reason}. With ``anchor``
        (entry id, chain hash from ``anchor()``), also: that entry is still there with
        that hash (so nothing up to it was removed or changed)."""
        cols = ", ".join(("sha256", "chain", "raw") + _CHAINED)

        def job(conn) -> dict:
            prev, expected_id, count, version = GENESIS, 1, 0, 1
            anchored = anchor is None or anchor[0] == 0
            for r in conn.execute(f"SELECT {cols} FROM archive_entry ORDER BY id"):
                digest, chain, raw = r[0], r[1], r[2]
                row = dict(zip(_CHAINED, r[3:], strict=True))
                eid = row["id"]
                count += 1
                reason = None
                if not isinstance(raw, bytes):  # altered to another SQLite type
                    raw = str(raw).encode("utf-8", "surrogateescape")
                if eid != expected_id:
                    reason = f"entry {expected_id} is missing"
                elif row["chain_version"] not in (1, CHAIN_VERSION) or \
                        row["chain_version"] < version:
                    reason = "the chain version was altered"
                elif hashlib.sha256(raw).digest() != digest:
                    reason = "the message bytes do not match their SHA-256"
                elif _entry_chain(prev, row, digest) != chain:
                    reason = "the chain hash does not match (entry or its predecessor altered)"
                elif anchor is not None and eid == anchor[0]:
                    if chain != anchor[1]:
                        reason = "the anchored entry's chain hash differs from the anchor"
                    anchored = True
                if reason:
                    return {"ok": False, "entries": count, "first_broken": eid,
                            "reason": reason}
                prev, expected_id, version = chain, eid + 1, row["chain_version"]
            if not anchored:
                return {"ok": False, "entries": count, "first_broken": anchor[0],
                        "reason": f"entry {anchor[0]} of the anchor is gone: entries were "
                                  "removed from the end of the archive"}
            return {"ok": True, "entries": count, "first_broken": None, "reason": ""}

        # An admin's check of everything: as long as it takes, beside the mail readers.
        return await self.db.read(job, heavy=True, timeout=float("inf"))
