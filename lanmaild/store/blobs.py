"""Message blobs (stored once, shared by every copy, reference counted) and the text
index for SEARCH TEXT/BODY (``blob_search`` at delivery, the FTS5 trigram index filled in
the background in batches)."""

from __future__ import annotations

import hashlib

from .db import Tx


def store_blob_tx(tx: Tx, raw: bytes, parsed) -> int:
    """Insert the raw bytes and their parse-once metadata; returns the blob id (refs=0)."""
    cur = tx.execute(
        "INSERT INTO blob (size, sha256, header_size, envelope, bodystructure, body, parts,"
        " subject, from_, to_, cc, bcc, message_id, in_reply_to, sent_date)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (len(raw), hashlib.sha256(raw).digest(), parsed.header_size, parsed.envelope,
         parsed.bodystructure, parsed.body, parsed.parts_json(), parsed.subject, parsed.from_,
         parsed.to, parsed.cc, parsed.bcc, parsed.message_id, parsed.in_reply_to, parsed.date))
    blob_id = cur.lastrowid
    tx.execute("INSERT INTO blob_raw (blob_id, raw) VALUES (?, ?)", (blob_id, raw))
    index_text_tx(tx, blob_id, raw, parsed)
    return blob_id


def _clean(text: str) -> str:
    """SQLite TEXT must be valid UTF-8: no lone surrogates, no NUL."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def index_text_tx(tx: Tx, blob_id: int, raw: bytes, parsed) -> None:
    """Keep the searchable text for IMAP SEARCH TEXT/BODY (``blob_search``).

    ``hdr`` is the header as sent plus the decoded subject and addresses (so encoded words
    are found), ``body`` the decoded text parts (``parsed.search_text``). Only the plain
    text is written here; the FTS5 trigram index over it (case-insensitive substrings)
    costs ten times as much as the blob insert, so it is built after delivery, in small
    batches while the server is idle (``index_text_batch_tx``, driven by
    ``lanmaild.indexer``). SEARCH answers rows above ``indexed_upto`` by scanning their
    text, so results never depend on how far the indexer has come.
    """
    header = raw[:parsed.header_size].decode("utf-8", "replace")
    decoded = " ".join(v for v in (parsed.subject, parsed.from_, parsed.to, parsed.cc,
                                   parsed.bcc) if v)
    tx.execute("INSERT INTO blob_search (blob_id, hdr, body) VALUES (?, ?, ?)",
               (blob_id, _clean(header + "\n" + decoded), _clean(parsed.search_body)))


INDEX_BATCH_TEXT = 1024 * 1024  # characters of text per indexer transaction


def index_text_batch_tx(tx: Tx, limit: int) -> int:
    """One bounded step of index upkeep; returns how many texts it handled (0 = idle).

    Removals first: deleting an indexed row from an FTS5 table means tokenizing its text
    again, and FTS5 keeps all of a transaction's pending changes in memory, so expunging
    thousands of messages at once would take hundreds of MB. Instead the expunge only
    marks the text ``dead`` (blob ids are AUTOINCREMENT, never reused, and a dead row's
    blob is gone, so searches never see it) and the removal happens here in small steps.
    Then additions: blob ids only grow, so "indexed" is one watermark, moved in the same
    transaction as the index rows, so a crash leaves both consistent. Each step stays
    under ``limit`` rows and about ``INDEX_BATCH_TEXT`` characters.
    """
    dead = _within_budget(tx.execute(
        "SELECT blob_id, length(hdr) + length(body) FROM blob_search WHERE dead = 1"
        " ORDER BY blob_id LIMIT ?", (limit,)).fetchall())
    for blob_id in dead:
        tx.execute("INSERT INTO blob_text (blob_text, rowid, hdr, body)"
                   " SELECT 'delete', blob_id, hdr, body FROM blob_search WHERE blob_id = ?",
                   (blob_id,))
        tx.execute("DELETE FROM blob_search WHERE blob_id = ?", (blob_id,))
    if dead:
        return len(dead)
    upto = tx.execute("SELECT indexed_upto FROM text_index_state").fetchone()[0]
    new = _within_budget(tx.execute(
        "SELECT blob_id, length(hdr) + length(body) FROM blob_search WHERE blob_id > ?"
        " ORDER BY blob_id LIMIT ?", (upto, limit)).fetchall())
    if not new:
        return 0
    tx.execute("INSERT INTO blob_text (rowid, hdr, body) SELECT blob_id, hdr, body"
               " FROM blob_search WHERE blob_id > ? AND blob_id <= ?", (upto, new[-1]))
    tx.execute("UPDATE text_index_state SET indexed_upto = ?", (new[-1],))
    return len(new)


def _within_budget(rows: list[tuple[int, int]]) -> list[int]:
    """The leading ids whose text fits INDEX_BATCH_TEXT (always at least one)."""
    ids, total = [], 0
    for blob_id, length in rows:
        if ids and total + length > INDEX_BATCH_TEXT:
            break
        ids.append(blob_id)
        total += length
    return ids
