"""Folders and messages: the mailbox store IMAP and POP3 read, delivery writes.

Layout (designed for 100,000+ messages in one folder):

- ``message`` is a WITHOUT ROWID table keyed (folder_id, uid): a folder's messages are one
  contiguous, UID-ordered range of the b-tree, so ``FETCH 1:*`` and UID ranges are range
  scans and never touch message bodies.
- ``blob`` holds what ``mime.parse_message`` computed once at delivery (ENVELOPE,
  BODYSTRUCTURE, part offsets, header fields for SEARCH); ``blob_raw`` holds the raw bytes
  in a separate table so scanning metadata never pages through bodies. One blob is shared
  by every copy (multi-recipient delivery, COPY) and reference counted.
- Folder counters (messages, size, unseen) are kept by triggers, so STATUS and
  ``lanmailctl account show`` never count rows.
- UIDs come from ``folder.uidnext``, which only grows; UIDVALIDITY is set when the folder
  is made (and changes only if a folder of the same name is made again).
- Flags: system flags as a bit mask (``FLAG_BITS``), keywords as a space-separated text.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from .db import Database, Tx

SCHEMA = """
CREATE TABLE account (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created INTEGER NOT NULL
);
CREATE TABLE folder (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    recent_uid INTEGER NOT NULL DEFAULT 0,
    special_use TEXT,
    subscribed INTEGER NOT NULL DEFAULT 1,
    messages INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    unseen INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);
CREATE TABLE blob (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL DEFAULT 0,
    sha256 BLOB NOT NULL,
    header_size INTEGER NOT NULL,
    envelope BLOB,
    bodystructure BLOB,
    body BLOB,
    parts BLOB,
    subject TEXT,
    from_ TEXT,
    to_ TEXT,
    cc TEXT,
    bcc TEXT,
    message_id TEXT,
    in_reply_to TEXT,
    sent_date INTEGER
);
CREATE TABLE blob_raw (
    blob_id INTEGER PRIMARY KEY REFERENCES blob(id) ON DELETE CASCADE,
    raw BLOB NOT NULL
);
CREATE TABLE message (
    folder_id INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    blob_id INTEGER NOT NULL REFERENCES blob(id),
    flags INTEGER NOT NULL DEFAULT 0,
    keywords TEXT,
    internaldate INTEGER NOT NULL,
    size INTEGER NOT NULL,
    modseq INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX message_blob ON message(blob_id);
CREATE INDEX message_modseq ON message(folder_id, modseq);
CREATE TABLE expunged (
    folder_id INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(folder_id, modseq);
CREATE TABLE blob_search (
    blob_id INTEGER PRIMARY KEY,
    hdr TEXT NOT NULL,
    body TEXT NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blob_search_dead ON blob_search(blob_id) WHERE dead = 1;
CREATE VIRTUAL TABLE blob_text USING fts5(hdr, body, tokenize = 'trigram',
    content = 'blob_search', content_rowid = 'blob_id');
CREATE TABLE text_index_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO text_index_state (id, indexed_upto) VALUES (1, 0);
CREATE TRIGGER message_ins AFTER INSERT ON message BEGIN
    UPDATE folder SET messages = messages + 1, size = size + NEW.size,
        unseen = unseen + ((NEW.flags & 1) = 0) WHERE id = NEW.folder_id;
    UPDATE blob SET refs = refs + 1 WHERE id = NEW.blob_id;
END;
CREATE TRIGGER message_del AFTER DELETE ON message BEGIN
    UPDATE folder SET messages = messages - 1, size = size - OLD.size,
        unseen = unseen - ((OLD.flags & 1) = 0), highestmodseq = highestmodseq + 1
        WHERE id = OLD.folder_id;
    INSERT OR REPLACE INTO expunged (folder_id, uid, modseq)
        SELECT id, OLD.uid, highestmodseq FROM folder WHERE id = OLD.folder_id;
    UPDATE blob SET refs = refs - 1 WHERE id = OLD.blob_id;
    DELETE FROM blob WHERE id = OLD.blob_id AND refs <= 0;
END;
CREATE TRIGGER blob_gone AFTER DELETE ON blob BEGIN
    DELETE FROM blob_search WHERE blob_id = OLD.id
        AND blob_id > (SELECT indexed_upto FROM text_index_state);
    UPDATE blob_search SET dead = 1 WHERE blob_id = OLD.id;
END;
CREATE TRIGGER message_seen AFTER UPDATE OF flags ON message
WHEN (OLD.flags & 1) != (NEW.flags & 1) BEGIN
    UPDATE folder SET unseen = unseen + ((NEW.flags & 1) = 0) - ((OLD.flags & 1) = 0)
        WHERE id = NEW.folder_id;
END;
"""

# Version 2: the keywords used in each folder, for the FLAGS and PERMANENTFLAGS a SELECT
# announces (RFC 3501 7.2.6: clients build their tag lists from them), kept by triggers on
# every path that writes keywords (APPEND, delivery, STORE, COPY/MOVE) and never read by
# scanning messages. A keyword stays listed once used (as in Dovecot).
KEYWORDS_SCHEMA = """
CREATE TABLE folder_keyword (
    folder_id INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (folder_id, keyword)
) WITHOUT ROWID;
CREATE TRIGGER message_kw_ins AFTER INSERT ON message WHEN NEW.keywords IS NOT NULL BEGIN
    INSERT OR IGNORE INTO folder_keyword (folder_id, keyword)
        SELECT NEW.folder_id, value FROM json_each('["' || replace(NEW.keywords, ' ', '","')
                                                   || '"]');
END;
CREATE TRIGGER message_kw_upd AFTER UPDATE OF keywords ON message
WHEN NEW.keywords IS NOT NULL BEGIN
    INSERT OR IGNORE INTO folder_keyword (folder_id, keyword)
        SELECT NEW.folder_id, value FROM json_each('["' || replace(NEW.keywords, ' ', '","')
                                                   || '"]');
END;
INSERT OR IGNORE INTO folder_keyword (folder_id, keyword)
    SELECT m.folder_id, j.value FROM message m,
        json_each('["' || replace(m.keywords, ' ', '","') || '"]') j
    WHERE m.keywords IS NOT NULL;
"""
# Keywords one folder may hold: an authenticated client can invent any number, and each
# SELECT lists them all. Beyond it a STORE or APPEND with a new keyword gets NO [LIMIT].
MAX_FOLDER_KEYWORDS = 256

FLAG_BITS = {"\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Deleted": 8, "\\Draft": 16}
SEEN = 1
DELETED = 8

DEFAULT_FOLDERS: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("INBOX.SENT", "\\Sent"),
    ("INBOX.Drafts", "\\Drafts"),
    ("INBOX.Trash", "\\Trash"),
    ("INBOX.Junk", "\\Junk"),
)


@dataclass(frozen=True)
class FolderInfo:
    id: int
    account: str
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    special_use: str | None
    subscribed: bool
    messages: int
    size: int
    unseen: int


@dataclass(frozen=True)
class Delivery:
    """One copy of a message to put into a folder (the pipeline's final stage)."""

    account: str
    folder: str
    flags: int = 0
    keywords: str | None = None


def flags_to_bits(flags: Iterable[str]) -> tuple[int, str | None]:
    """Split IMAP flags into the system-flag mask and the keyword text."""
    bits, keywords = 0, []
    for flag in flags:
        bit = next((b for name, b in FLAG_BITS.items() if name.lower() == flag.lower()), None)
        if bit is not None:
            bits |= bit
        elif flag and not flag.startswith("\\") and flag not in keywords:
            keywords.append(flag)
    return bits, (" ".join(keywords) or None)


def bits_to_flags(bits: int, keywords: str | None) -> list[str]:
    flags = [name for name, bit in FLAG_BITS.items() if bits & bit]
    if keywords:
        flags.extend(keywords.split())
    return flags


def _folder_row(row, account: str) -> FolderInfo:
    return FolderInfo(id=row[0], account=account, name=row[1], uidvalidity=row[2],
                      uidnext=row[3], highestmodseq=row[4], special_use=row[5],
                      subscribed=bool(row[6]), messages=row[7], size=row[8], unseen=row[9])


_FOLDER_COLS = ("f.id, f.name, f.uidvalidity, f.uidnext, f.highestmodseq, f.special_use, "
                "f.subscribed, f.messages, f.size, f.unseen")


def _new_uidvalidity(tx: Tx) -> int:
    """Time based, but strictly larger than any UIDVALIDITY already handed out."""
    highest = tx.execute("SELECT max(uidvalidity) FROM folder").fetchone()[0] or 0
    return max(int(time.time()), highest + 1)


def create_folder_tx(tx: Tx, account_id: int, name: str, special_use: str | None = None) -> int:
    cur = tx.execute(
        "INSERT INTO folder (account_id, name, uidvalidity, special_use) VALUES (?, ?, ?, ?)",
        (account_id, name, _new_uidvalidity(tx), special_use))
    return cur.lastrowid


class AccountGone(Exception):
    """The account is not (or no longer) in the store: it was deleted. Only the
    configuration makes accounts (``ensure_accounts``); a session or a queued delivery of
    a deleted account must not bring it back with an empty mailbox that the next account
    of that name would inherit."""


def account_id_tx(tx: Tx, name: str, create: bool = False) -> int | None:
    """The account's id; None if it is missing, unless ``create`` (``ensure_accounts``
    only) makes it with its default folders."""
    row = tx.execute("SELECT id FROM account WHERE name = ?", (name,)).fetchone()
    if row:
        return row[0]
    if not create:
        return None
    account_id = tx.execute("INSERT INTO account (name, created) VALUES (?, ?)",
                            (name.lower(), int(time.time()))).lastrowid
    for folder, special in DEFAULT_FOLDERS:
        create_folder_tx(tx, account_id, folder, special)
    return account_id


def _existing_account_tx(tx: Tx, name: str) -> int:
    account_id = account_id_tx(tx, name)
    if account_id is None:
        raise AccountGone(name)
    return account_id


_FOLDER_ID = ("SELECT f.id FROM folder f JOIN account a ON a.id = f.account_id"
              " WHERE a.name = ? AND f.name = ?")


def folder_id_tx(tx: Tx, account: str, folder: str, create: bool = True) -> int:
    """The folder's id; made on demand (delivery into a deleted INBOX.SENT recreates it),
    but never the account (AccountGone). One statement in the common case (account and
    folder exist): delivery calls this for every copy."""
    if folder.upper() == "INBOX":
        folder = "INBOX"
    row = tx.execute(_FOLDER_ID, (account, folder)).fetchone()
    if row:
        return row[0]
    account_id = _existing_account_tx(tx, account)
    row = tx.execute("SELECT id FROM folder WHERE account_id = ? AND name = ?",
                     (account_id, folder)).fetchone()
    if row:
        return row[0]
    if not create:
        raise KeyError(folder)
    return create_folder_tx(tx, account_id, folder)


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


class KeywordLimit(Exception):
    """A new keyword would exceed ``MAX_FOLDER_KEYWORDS`` in the folder."""


def check_keyword_room_tx(tx: Tx, folder_id: int, keywords: Iterable[str]) -> None:
    wanted = set(keywords)
    if not wanted:
        return
    known = {k for (k,) in tx.execute(
        "SELECT keyword FROM folder_keyword WHERE folder_id = ? AND keyword IN"
        " (SELECT value FROM json_each(?))", (folder_id, json.dumps(sorted(wanted))))}
    if len(wanted - known) == 0:
        return
    count = tx.execute("SELECT count(*) FROM folder_keyword WHERE folder_id = ?",
                       (folder_id,)).fetchone()[0]
    if count + len(wanted - known) > MAX_FOLDER_KEYWORDS:
        raise KeywordLimit(f"a folder holds at most {MAX_FOLDER_KEYWORDS} keywords")


def insert_message_tx(tx: Tx, folder_id: int, blob_id: int, size: int, flags: int = 0,
                      keywords: str | None = None, internaldate: int | None = None) -> int:
    """Give the blob the folder's next UID; returns that UID."""
    uid, modseq = tx.execute(
        "UPDATE folder SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1"
        " WHERE id = ? RETURNING uidnext - 1, highestmodseq", (folder_id,)).fetchone()
    tx.execute(
        "INSERT INTO message (folder_id, uid, blob_id, flags, keywords, internaldate, size,"
        " modseq) VALUES (?,?,?,?,?,?,?,?)",
        (folder_id, uid, blob_id, flags, keywords, internaldate or int(time.time()), size,
         modseq))
    return uid


class MailboxStore:
    """Async API over folders and messages; every method is one unit of work."""

    def __init__(self, db: Database, notify) -> None:
        self.db = db
        self.notify = notify  # ChangeHub: wakes IMAP IDLE / sessions on a folder

    # -------------------------------------------------------------- text index

    async def index_text(self, limit: int = 50) -> int:
        """Move up to ``limit`` messages' text into the trigram index (see index_text_tx)."""
        return await self.db.write(index_text_batch_tx, limit, background=True)

    # -------------------------------------------------------------- accounts

    async def ensure_accounts(self, names: list[str]) -> None:
        """Every named account has its default folders (one transaction for all: start-up
        and each reload call this with the whole account list)."""

        def job(tx: Tx) -> None:
            for name in names:
                account_id_tx(tx, name, create=True)

        await self.db.write(job)

    async def delete_account(self, name: str) -> bool:
        """Remove the account's folders and messages (blobs go with their last reference)."""

        def job(tx: Tx) -> bool:
            account_id = account_id_tx(tx, name, create=False)
            if account_id is None:
                return False
            tx.execute("DELETE FROM message WHERE folder_id IN"
                       " (SELECT id FROM folder WHERE account_id = ?)", (account_id,))
            tx.execute("DELETE FROM account WHERE id = ?", (account_id,))
            return True

        return await self.db.write(job)

    # -------------------------------------------------------------- folders

    async def list_folders(self, account: str) -> list[FolderInfo]:
        def job(conn) -> list[FolderInfo]:
            rows = conn.execute(
                f"SELECT {_FOLDER_COLS} FROM folder f JOIN account a ON a.id = f.account_id"
                " WHERE a.name = ? ORDER BY f.name", (account,)).fetchall()
            return [_folder_row(r, account.lower()) for r in rows]

        return await self.db.read(job)

    async def get_folder(self, account: str, name: str) -> FolderInfo | None:
        if name.upper() == "INBOX":
            name = "INBOX"

        def job(conn) -> FolderInfo | None:
            row = conn.execute(
                f"SELECT {_FOLDER_COLS} FROM folder f JOIN account a ON a.id = f.account_id"
                " WHERE a.name = ? AND f.name = ?", (account, name)).fetchone()
            return _folder_row(row, account.lower()) if row else None

        return await self.db.read(job)

    # -------------------------------------------------------------- messages

    async def append(self, account: str, folder: str, raw: bytes, parsed, flags: int = 0,
                     keywords: str | None = None, internaldate: int | None = None,
                     create_folder: bool = False) -> tuple[int, int]:
        """Store one message (IMAP APPEND, save_sent); returns (uidvalidity, uid)."""
        uidvalidity, uids = await self.append_many(
            account, folder, [(raw, parsed, flags, keywords, internaldate)], create_folder)
        return uidvalidity, uids[0]

    async def append_many(self, account: str, folder: str, items: list[tuple],
                          create_folder: bool = False) -> tuple[int, list[int]]:
        """Store messages ``(raw, parsed, flags, keywords, internaldate)`` all or none, in
        one transaction (IMAP MULTIAPPEND, RFC 3502); returns (uidvalidity, their UIDs)."""

        def job(tx: Tx) -> tuple[int, list[int]]:
            folder_id = folder_id_tx(tx, account, folder, create=create_folder)
            check_keyword_room_tx(tx, folder_id, {k for item in items if item[3]
                                                  for k in item[3].split()})
            uids = []
            for raw, parsed, flags, keywords, internaldate in items:
                blob_id = store_blob_tx(tx, raw, parsed)
                uids.append(insert_message_tx(tx, folder_id, blob_id, len(raw), flags,
                                              keywords, internaldate))
            uidvalidity = tx.execute("SELECT uidvalidity FROM folder WHERE id = ?",
                                     (folder_id,)).fetchone()[0]
            tx.after_commit(lambda: self.notify.changed(folder_id))
            return uidvalidity, uids

        return await self.db.write(job)

    async def all_uids(self, account: str) -> list[tuple[str, int]]:
        """(folder, uid) of every message of the account: the export before a delete."""

        def job(conn) -> list[tuple[str, int]]:
            return conn.execute(
                "SELECT f.name, m.uid FROM message m JOIN folder f ON f.id = m.folder_id"
                " JOIN account a ON a.id = f.account_id WHERE a.name = ?"
                " ORDER BY f.name, m.uid", (account,)).fetchall()

        return await self.db.read(job)

    async def blob_raw(self, blob_id: int) -> bytes | None:
        """The raw bytes of a stored blob (the queue worker re-reading a queued message)."""

        def job(conn) -> bytes | None:
            row = conn.execute("SELECT raw FROM blob_raw WHERE blob_id = ?",
                               (blob_id,)).fetchone()
            return row[0] if row else None

        return await self.db.read(job)

    async def read_raw(self, account: str, folder: str, uid: int) -> bytes | None:
        def job(conn) -> bytes | None:
            row = conn.execute(
                "SELECT r.raw FROM message m JOIN folder f ON f.id = m.folder_id"
                " JOIN account a ON a.id = f.account_id JOIN blob_raw r ON r.blob_id = m.blob_id"
                " WHERE a.name = ? AND f.name = ? AND m.uid = ?",
                (account, folder, uid)).fetchone()
            return row[0] if row else None

        return await self.db.read(job)

    async def list_messages(self, account: str, folder: str, limit: int = 1000,
                            offset: int = 0) -> list[dict]:
        """A page of a folder for ``lanmailctl mail list`` (newest last)."""

        def job(conn) -> list[dict]:
            rows = conn.execute(
                "SELECT m.uid, m.size, m.internaldate, m.flags, m.keywords, b.from_, b.subject"
                " FROM message m JOIN folder f ON f.id = m.folder_id"
                " JOIN account a ON a.id = f.account_id JOIN blob b ON b.id = m.blob_id"
                " WHERE a.name = ? AND f.name = ? ORDER BY m.uid LIMIT ? OFFSET ?",
                (account, "INBOX" if folder.upper() == "INBOX" else folder, limit,
                 offset)).fetchall()
            return [{"uid": r[0], "size": r[1], "internaldate": r[2],
                     "flags": bits_to_flags(r[3], r[4]), "from": r[5] or "",
                     "subject": r[6] or ""} for r in rows]

        return await self.db.read(job)


    # ================================================================== IMAP
    #
    # Everything the IMAP server needs, set-based: one statement per chunk of messages,
    # never one per message. Folder ids are handed out by ``folder_view`` / ``get_folder``;
    # UID lists are passed as JSON arrays (``json_each``) so a statement's size does not
    # depend on how many messages it touches.

    async def folder_view(self, account: str, name: str) -> FolderView | None:
        """SELECT/EXAMINE: the folder and its UIDs (one range scan, no message data)."""
        if name.upper() == "INBOX":
            name = "INBOX"

        def job(conn) -> FolderView | None:
            row = conn.execute(
                f"SELECT {_FOLDER_COLS}, f.recent_uid FROM folder f"
                " JOIN account a ON a.id = f.account_id WHERE a.name = ? AND f.name = ?",
                (account, name)).fetchone()
            if row is None:
                return None
            info = _folder_row(row, account.lower())
            uids = array("I")
            first_unseen = None
            cur = conn.execute("SELECT uid, flags FROM message WHERE folder_id = ? ORDER BY uid",
                               (info.id,))
            while True:
                rows = cur.fetchmany(8192)
                if not rows:
                    break
                uids.extend(r[0] for r in rows)
                if first_unseen is None:
                    first_unseen = next((r[0] for r in rows if not r[1] & SEEN), None)
            keywords = [k for (k,) in conn.execute(
                "SELECT keyword FROM folder_keyword WHERE folder_id = ? ORDER BY keyword",
                (info.id,))]
            return FolderView(info, uids, first_unseen, row[10], keywords)

        return await self.db.read(job)

    async def folder_by_id(self, folder_id: int) -> FolderInfo | None:
        def job(conn) -> FolderInfo | None:
            row = conn.execute(
                f"SELECT {_FOLDER_COLS}, a.name FROM folder f JOIN account a"
                " ON a.id = f.account_id WHERE f.id = ?", (folder_id,)).fetchone()
            return _folder_row(row, row[10]) if row else None

        return await self.db.read(job)

    async def claim_recent(self, folder_id: int, upto_uid: int) -> int:
        """Mark UIDs up to ``upto_uid`` as seen by a session; returns the previous mark.

        Messages above the previous mark are \\Recent for the caller and for nobody else.
        """

        def job(tx: Tx) -> int:
            row = tx.execute("SELECT recent_uid FROM folder WHERE id = ?", (folder_id,)).fetchone()
            if row is None:
                return upto_uid
            if row[0] < upto_uid:
                tx.execute("UPDATE folder SET recent_uid = ? WHERE id = ?", (upto_uid, folder_id))
            return row[0]

        return await self.db.write(job)

    async def recent_count(self, folder_id: int) -> int:
        def job(conn) -> int:
            return conn.execute(
                "SELECT count(*) FROM message m JOIN folder f ON f.id = m.folder_id"
                " WHERE f.id = ? AND m.uid > f.recent_uid", (folder_id,)).fetchone()[0]

        return await self.db.read(job)

    async def folder_changes(self, folder_id: int, known_uid: int, flag_modseq: int,
                             exp_modseq: int, expunges: bool = True) -> FolderChanges:
        """What other sessions did since a session last looked (one snapshot).

        New messages are those above ``known_uid``; flag changes are rows at or below it
        with a newer modseq; expunges come from the ``expunged`` tombstones.
        """

        def job(conn) -> FolderChanges:
            row = conn.execute("SELECT highestmodseq, uidnext FROM folder WHERE id = ?",
                               (folder_id,)).fetchone()
            if row is None:
                return FolderChanges(gone=True)
            new = array("I", (r[0] for r in conn.execute(
                "SELECT uid FROM message WHERE folder_id = ? AND uid > ? ORDER BY uid",
                (folder_id, known_uid))))
            flags = []
            if row[0] > flag_modseq:
                flags = conn.execute(
                    "SELECT uid, flags, keywords, modseq FROM message WHERE folder_id = ?"
                    " AND modseq > ? AND uid <= ? ORDER BY uid",
                    (folder_id, flag_modseq, known_uid)).fetchall()
            gone: list[tuple[int, int]] = []
            if expunges and row[0] > exp_modseq:
                gone = conn.execute(
                    "SELECT uid, modseq FROM expunged WHERE folder_id = ? AND modseq > ?"
                    " ORDER BY uid", (folder_id, exp_modseq)).fetchall()
            return FolderChanges(highestmodseq=row[0], uidnext=row[1], new_uids=new,
                                 flags=flags, expunged=gone)

        # Every change wakes each session on the folder, and each asks this at its next
        # command: usually a handful of index entries, so no thread hop (a big backlog
        # runs out of the inline budget and moves to the pool; see db).
        return await self.db.read(job, inline=True)

    async def vanished(self, folder_id: int, since_modseq: int) -> list[int]:
        """UIDs expunged after ``since_modseq`` (QRESYNC VANISHED (EARLIER)), ascending."""

        def job(conn) -> list[int]:
            return [r[0] for r in conn.execute(
                "SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid",
                (folder_id, since_modseq))]

        return await self.db.read(job)

    async def fetch_rows(self, folder_id: int, uids: list[int], cols: tuple[str, ...],
                         changedsince: int | None = None, octets: int | None = None
                         ) -> list[tuple]:
        """Rows (in UID order) for the given UIDs with ``cols`` from ``FETCH_COLUMNS``;
        with ``changedsince`` only those whose modseq is higher (CONDSTORE). ``octets``:
        the messages' total size when the caller knows it (small reads skip the pool)."""
        exprs = [FETCH_COLUMNS[c] for c in cols]
        joins = ""
        if any(e.startswith("b.") or "b.header_size" in e for e in exprs):
            joins += " JOIN blob b ON b.id = m.blob_id"
        if any("r.raw" in e for e in exprs):
            joins += " JOIN blob_raw r ON r.blob_id = m.blob_id"
        select = f"SELECT {', '.join(exprs)} FROM message m{joins} WHERE m.folder_id = ?"
        if changedsince is not None:
            select += f" AND m.modseq > {int(changedsince)}"
        uid_pos = cols.index("uid") if "uid" in cols else None

        def job(conn) -> list[tuple]:
            if not uids:
                return []
            lo, hi = uids[0], uids[-1]
            if hi - lo + 1 <= 2 * len(uids):
                rows = conn.execute(select + " AND m.uid BETWEEN ? AND ? ORDER BY m.uid",
                                    (folder_id, lo, hi)).fetchall()
                if hi - lo + 1 != len(uids) and uid_pos is not None:
                    wanted = set(uids)
                    rows = [r for r in rows if r[uid_pos] in wanted]
                return rows
            return conn.execute(
                select + " AND m.uid IN (SELECT value FROM json_each(?)) ORDER BY m.uid",
                (folder_id, json.dumps(uids))).fetchall()

        # One click in a mail program = one small metadata FETCH: no thread hop for it.
        inline = len(uids) <= INLINE_ROWS and (
            INLINE_COLUMNS.issuperset(cols) or (octets is not None and octets <= INLINE_OCTETS))
        return await self.db.read(job, inline=inline)

    async def set_flags(self, folder_id: int, uids: list[int], mode: str, bits: int,
                        keywords: list[str], unchangedsince: int | None = None,
                        origin: asyncio.Event | None = None) -> FlagChange:
        """STORE: ``mode`` "" replaces, "+" adds, "-" removes. With ``unchangedsince``
        (CONDSTORE) messages whose modseq is higher are left alone and listed in
        ``modified``. ``origin``: the caller's change event, not woken by this change."""

        def job(tx: Tx) -> FlagChange:
            if keywords and mode != "-":
                check_keyword_room_tx(tx, folder_id, keywords)
            rows = tx.execute(
                "SELECT uid, flags, keywords, modseq FROM message WHERE folder_id = ?"
                " AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
                (folder_id, json.dumps(uids))).fetchall()
            out = FlagChange()
            changed = []
            for uid, flags, kw, modseq in rows:
                if unchangedsince is not None and modseq > unchangedsince:
                    out.modified.append(uid)
                    continue
                nflags, nkw = _apply_flags(flags, kw, mode, bits, keywords)
                if nflags != flags or nkw != kw:
                    changed.append((nflags, nkw, uid))
                else:
                    out.rows.append((uid, nflags, nkw, modseq))
            if changed:
                out.modseq = tx.execute(
                    "UPDATE folder SET highestmodseq = highestmodseq + 1 WHERE id = ?"
                    " RETURNING highestmodseq", (folder_id,)).fetchone()[0]
                tx.conn.executemany(
                    "UPDATE message SET flags = ?, keywords = ?, modseq = ? WHERE folder_id = ?"
                    " AND uid = ?", [(f, k, out.modseq, folder_id, u) for f, k, u in changed])
                out.changed = {u for _f, _k, u in changed}
                out.rows.extend((u, f, k, out.modseq) for f, k, u in changed)
                out.rows.sort()
                tx.after_commit(lambda: self.notify.changed(folder_id, origin))
            return out

        return await self.db.write(job, durable=False)  # flags: no fsync (see db)

    async def expunge(self, folder_id: int, max_uid: int, uids: list[int] | None = None
                      ) -> list[int]:
        """Remove \\Deleted messages (at most ``max_uid``, within ``uids`` if given)."""

        def job(tx: Tx) -> list[int]:
            if uids is None:
                rows = tx.execute(
                    "DELETE FROM message WHERE folder_id = ? AND uid <= ? AND flags & 8 != 0"
                    " RETURNING uid", (folder_id, max_uid)).fetchall()
            else:
                rows = tx.execute(
                    "DELETE FROM message WHERE folder_id = ? AND uid <= ? AND flags & 8 != 0"
                    " AND uid IN (SELECT value FROM json_each(?)) RETURNING uid",
                    (folder_id, max_uid, json.dumps(uids))).fetchall()
            if rows:
                tx.after_commit(lambda: self.notify.changed(folder_id))
            return sorted(r[0] for r in rows)

        return await self.db.write(job)

    async def copy_messages(self, folder_id: int, uids: list[int], dest_id: int,
                            move: bool = False) -> tuple[int, list[int], list[int]]:
        """COPY/MOVE: new UIDs in ``dest_id`` sharing the blobs; flags and INTERNALDATE are
        kept. Returns (dest UIDVALIDITY, source UIDs, new UIDs) in matching order."""

        def job(tx: Tx):
            rows = tx.execute(
                "SELECT uid, blob_id, flags, keywords, internaldate, size FROM message"
                " WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
                (folder_id, json.dumps(uids))).fetchall()
            validity = tx.execute("SELECT uidvalidity FROM folder WHERE id = ?",
                                  (dest_id,)).fetchone()[0]
            if not rows:
                return validity, [], []
            n = len(rows)
            first, modseq = tx.execute(
                "UPDATE folder SET uidnext = uidnext + ?, highestmodseq = highestmodseq + 1"
                " WHERE id = ? RETURNING uidnext - ?, highestmodseq", (n, dest_id, n)).fetchone()
            new_uids = list(range(first, first + n))
            tx.conn.executemany(
                "INSERT INTO message (folder_id, uid, blob_id, flags, keywords, internaldate,"
                " size, modseq) VALUES (?,?,?,?,?,?,?,?)",
                [(dest_id, nu, r[1], r[2], r[3], r[4], r[5], modseq)
                 for nu, r in zip(new_uids, rows, strict=True)])
            src = [r[0] for r in rows]
            if move:
                tx.execute("DELETE FROM message WHERE folder_id = ?"
                           " AND uid IN (SELECT value FROM json_each(?))",
                           (folder_id, json.dumps(src)))
                tx.after_commit(lambda: self.notify.changed(folder_id))
            tx.after_commit(lambda: self.notify.changed(dest_id))
            return validity, src, new_uids

        return await self.db.write(job)

    async def search(self, folder_id: int, max_uid: int, program: tuple
                     ) -> list[tuple[int, int]]:
        """(uid, modseq) of the messages (ascending, UID at most ``max_uid``) matching a
        search program (see ``compile_search``)."""

        def job(conn) -> list[int]:
            params: list = []
            functions: dict = {}
            size = conn.execute("SELECT messages FROM folder WHERE id = ?",
                                (folder_id,)).fetchone()
            text = _TextPlanner(conn, size[0] if size else 0)
            where = compile_search(program, params, functions, text)
            needs_raw = "r.raw" in where
            sql = ("SELECT m.uid, m.modseq FROM message m JOIN blob b ON b.id = m.blob_id"
                   + (" JOIN blob_raw r ON r.blob_id = m.blob_id" if needs_raw else "")
                   + f" WHERE m.folder_id = ? AND m.uid <= ? AND ({where}) ORDER BY m.uid")
            conn.create_function("imap_contains", 2, _contains, deterministic=True)
            conn.create_function("imap_header", 3, _header_contains, deterministic=True)
            for fname, fn in functions.items():
                conn.create_function(fname, 1, fn, deterministic=True)
            return conn.execute(sql, (folder_id, max_uid, *params)).fetchall()

        return await self.db.read(job, heavy=True)

    # ------------------------------------------------------------ folder management

    async def create_folder(self, account: str, name: str) -> int:
        """CREATE (superior names are made too); raises FolderExists, AccountGone."""

        def job(tx: Tx) -> int:
            account_id = _existing_account_tx(tx, account)
            if tx.execute("SELECT 1 FROM folder WHERE account_id = ? AND name = ?",
                          (account_id, name)).fetchone():
                raise FolderExists(name)
            parts = name.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if not tx.execute("SELECT 1 FROM folder WHERE account_id = ? AND name = ?",
                                  (account_id, parent)).fetchone():
                    create_folder_tx(tx, account_id, parent)
            return create_folder_tx(tx, account_id, name)

        return await self.db.write(job)

    async def delete_folder(self, account: str, name: str) -> bool:
        """DELETE: the folder and its messages (sub-folders stay). False if missing."""

        def job(tx: Tx) -> bool:
            row = tx.execute("SELECT f.id FROM folder f JOIN account a ON a.id = f.account_id"
                             " WHERE a.name = ? AND f.name = ?", (account, name)).fetchone()
            if row is None:
                return False
            tx.execute("DELETE FROM message WHERE folder_id = ?", (row[0],))
            tx.execute("DELETE FROM folder WHERE id = ?", (row[0],))
            tx.after_commit(lambda: self.notify.changed(row[0]))
            return True

        return await self.db.write(job)

    async def rename_folder(self, account: str, old: str, new: str) -> None:
        """RENAME with its sub-folders; renaming INBOX moves its messages into a new folder
        and leaves INBOX empty (RFC 3501 6.3.5). Raises KeyError / FolderExists /
        AccountGone."""

        def job(tx: Tx) -> None:
            account_id = _existing_account_tx(tx, account)
            row = tx.execute("SELECT id FROM folder WHERE account_id = ? AND name = ?",
                             (account_id, old)).fetchone()
            if row is None:
                raise KeyError(old)
            if tx.execute("SELECT 1 FROM folder WHERE account_id = ? AND name = ?",
                          (account_id, new)).fetchone():
                raise FolderExists(new)
            parts = new.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent != old and not tx.execute(
                        "SELECT 1 FROM folder WHERE account_id = ? AND name = ?",
                        (account_id, parent)).fetchone():
                    create_folder_tx(tx, account_id, parent)
            if old == "INBOX":
                dest = create_folder_tx(tx, account_id, new)
                n = tx.execute("SELECT count(*) FROM message WHERE folder_id = ?",
                               (row[0],)).fetchone()[0]
                first = tx.execute("UPDATE folder SET uidnext = uidnext + ? WHERE id = ?"
                                   " RETURNING uidnext - ?", (n, dest, n)).fetchone()[0]
                tx.execute(
                    "INSERT INTO message (folder_id, uid, blob_id, flags, keywords, internaldate,"
                    " size, modseq) SELECT ?, ? + row_number() OVER (ORDER BY uid) - 1, blob_id,"
                    " flags, keywords, internaldate, size, 1 FROM message WHERE folder_id = ?",
                    (dest, first, row[0]))
                tx.execute("DELETE FROM message WHERE folder_id = ?", (row[0],))
            else:
                prefix = old + "."
                children = tx.execute(
                    "SELECT id, name FROM folder WHERE account_id = ? AND substr(name, 1, ?) = ?",
                    (account_id, len(prefix), prefix)).fetchall()
                clash = [new + "." + c[1][len(prefix):] for c in children]
                for name in clash:
                    if tx.execute("SELECT 1 FROM folder WHERE account_id = ? AND name = ?",
                                  (account_id, name)).fetchone():
                        raise FolderExists(name)
                tx.execute("UPDATE folder SET name = ? WHERE id = ?", (new, row[0]))
                for (cid, _), cname in zip(children, clash, strict=True):
                    tx.execute("UPDATE folder SET name = ? WHERE id = ?", (cname, cid))
            tx.after_commit(lambda: self.notify.changed(row[0]))

        await self.db.write(job)

    async def set_subscribed(self, account: str, name: str, subscribed: bool) -> bool:
        def job(tx: Tx) -> bool:
            cur = tx.execute(
                "UPDATE folder SET subscribed = ? WHERE name = ? AND account_id ="
                " (SELECT id FROM account WHERE name = ?)", (int(subscribed), name, account))
            return cur.rowcount > 0

        return await self.db.write(job)

    # ============================================================== POP3 maildrop
    # Used only by lanmaild.pop3 (owner: POP3). POP3 sees INBOX; message numbers are a
    # snapshot taken once at log-in; deletions are applied in one transaction at QUIT.

    async def pop3_snapshot(self, account: str) -> tuple[int, int, array, array] | None:
        """(INBOX id, UIDVALIDITY, uids, sizes) in UID order; one range scan, no bodies."""

        def job(conn) -> tuple[int, int, array, array] | None:
            row = conn.execute(
                "SELECT f.id, f.uidvalidity FROM folder f JOIN account a ON a.id = f.account_id"
                " WHERE a.name = ? AND f.name = 'INBOX'", (account,)).fetchone()
            if row is None:
                return None
            uids, sizes = array("I"), array("Q")
            for uid, size in conn.execute(
                    "SELECT uid, size FROM message WHERE folder_id = ? ORDER BY uid", (row[0],)):
                uids.append(uid)
                sizes.append(size)
            return row[0], row[1], uids, sizes

        return await self.db.read(job)

    async def pop3_read(self, folder_id: int, uid: int, offset: int, length: int
                        ) -> bytes | None:
        """Up to ``length`` raw bytes of a message from ``offset`` (incremental blob I/O, so
        a large message is streamed without loading it whole); None when it is gone."""

        def job(conn) -> bytes | None:
            row = conn.execute("SELECT blob_id FROM message WHERE folder_id = ? AND uid = ?",
                               (folder_id, uid)).fetchone()
            if row is None:
                return None
            with conn.blobopen("blob_raw", "raw", row[0], readonly=True) as blob:
                blob.seek(min(offset, len(blob)))
                return blob.read(length)

        return await self.db.read(job)

    async def pop3_read_whole(self, folder_id: int, uids: list[int]) -> dict[int, bytes]:
        """Whole raw messages for several (small) UIDs in one hop: the read-ahead that
        keeps a client doing RETR 1..n from waiting a thread hop per message."""

        def job(conn) -> dict[int, bytes]:
            marks = ",".join("?" * len(uids))
            return dict(conn.execute(
                "SELECT m.uid, r.raw FROM message m JOIN blob_raw r ON r.blob_id = m.blob_id"
                f" WHERE m.folder_id = ? AND m.uid IN ({marks})", (folder_id, *uids)))

        return await self.db.read(job)

    async def pop3_update(self, folder_id: int, delete: list[int], seen: list[int]) -> int:
        """The UPDATE state in one transaction, durable on return: remove ``delete`` and
        flag ``seen`` (retrieved with RETR) \\Seen, so IMAP shows them as read. Messages
        already gone (expunged over IMAP meanwhile) are skipped; returns how many were
        removed."""

        def job(tx: Tx) -> int:
            removed = 0
            if delete:
                cur = tx.conn.executemany("DELETE FROM message WHERE folder_id = ? AND uid = ?",
                                          [(folder_id, uid) for uid in delete])
                removed = max(cur.rowcount, 0)
            unseen = [r[0] for r in tx.execute(
                "SELECT uid FROM message WHERE folder_id = ? AND flags & 1 = 0"
                " AND uid IN (SELECT value FROM json_each(?))",
                (folder_id, json.dumps(seen)))] if seen else []
            if unseen:
                modseq = tx.execute(
                    "UPDATE folder SET highestmodseq = highestmodseq + 1 WHERE id = ?"
                    " RETURNING highestmodseq", (folder_id,)).fetchone()[0]
                tx.conn.executemany(
                    "UPDATE message SET flags = flags | 1, modseq = ? WHERE folder_id = ?"
                    " AND uid = ?", [(modseq, folder_id, uid) for uid in unseen])
            if removed or unseen:
                tx.after_commit(lambda: self.notify.changed(folder_id))
            return removed

        return await self.db.write(job)

    # ========================================================== end of POP3 maildrop


@dataclass
class FlagChange:
    """What ``set_flags`` did: the new modseq (0: nothing changed), (uid, flags, keywords,
    modseq) of every message it looked at, the UIDs it changed and those it skipped
    because of UNCHANGEDSINCE."""

    modseq: int = 0
    rows: list = field(default_factory=list)
    changed: set = field(default_factory=set)
    modified: list = field(default_factory=list)


class FolderExists(Exception):
    """CREATE/RENAME onto a name that is taken."""


@dataclass
class FolderView:
    """A folder as SELECT sees it: UIDs in order (array('I'), 4 bytes each)."""

    folder: FolderInfo
    uids: array
    first_unseen_uid: int | None
    recent_uid: int
    keywords: list = field(default_factory=list)  # in use in the folder (FLAGS)


@dataclass
class FolderChanges:
    highestmodseq: int = 0
    uidnext: int = 0
    new_uids: array = field(default_factory=lambda: array("I"))
    flags: list = field(default_factory=list)  # (uid, flags, keywords, modseq)
    expunged: list = field(default_factory=list)  # (uid, modseq)
    gone: bool = False  # the folder was deleted or renamed away


# fetch_rows answers on the event loop (``Database.read(inline=True)``) when a request is
# this small: a few rows of fixed-size columns, an indexed lookup of microseconds.
INLINE_ROWS = 64
INLINE_COLUMNS = frozenset({"uid", "flags", "keywords", "internaldate", "size", "modseq"})
INLINE_OCTETS = 128 * 1024  # ... or whole messages this small (a memcpy, not a scan)

FETCH_COLUMNS = {
    "uid": "m.uid",
    "flags": "m.flags",
    "keywords": "m.keywords",
    "internaldate": "m.internaldate",
    "size": "m.size",
    "modseq": "m.modseq",
    "envelope": "b.envelope",
    "bodystructure": "b.bodystructure",
    "body": "b.body",
    "parts": "b.parts",
    "header_size": "b.header_size",
    "raw": "r.raw",
    "header": "substr(r.raw, 1, b.header_size)",
}


def _apply_flags(flags: int, keywords: str | None, mode: str, bits: int,
                 add: list[str]) -> tuple[int, str | None]:
    current = keywords.split() if keywords else []
    if mode == "+":
        nflags = flags | bits
        lower = {k.lower() for k in current}
        kws = current + [k for k in add if k.lower() not in lower]
    elif mode == "-":
        nflags = flags & ~bits
        drop = {k.lower() for k in add}
        kws = [k for k in current if k.lower() not in drop]
    else:
        nflags = bits
        kws = add
    seen: set[str] = set()
    unique = []
    for k in kws:
        if k.lower() not in seen:
            seen.add(k.lower())
            unique.append(k)
    return nflags, (" ".join(unique) or None)


# ---------------------------------------------------------------------- IMAP SEARCH
#
# A search program is a tree of tuples built by the IMAP layer (sequence numbers already
# turned into UIDs):
#   ("ALL",) ("NONE",) ("AND", [nodes]) ("OR", a, b) ("NOT", a)
#   ("FLAG", bit, present) ("KEYWORD", word, present)
#   ("UIDS", [(lo, hi), ...]) ("FIELD", column, text) ("HEADER", name, text)
#   ("TEXT", text) ("BODY", text) ("SIZE", "<" | ">", n)
#   ("DATE", "internal" | "sent", "<" | ">=", epoch)

_SEARCH_FIELDS = {"subject": "b.subject", "from": "b.from_", "to": "b.to_", "cc": "b.cc",
                  "bcc": "b.bcc", "message-id": "b.message_id",
                  "in-reply-to": "b.in_reply_to"}


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(hay, needle: str) -> int:
    if hay is None:
        return 0
    if isinstance(hay, bytes):
        hay = hay.decode("utf-8", "replace")
    return int(needle in hay.casefold())


def _header_contains(header: bytes | None, name: str, needle: str) -> int:
    if header is None:
        return 0
    from ..mime.headers import decode_header_value, split_fields

    lname = name.lower()
    for fname, value, _start, _end in split_fields(header, 0, len(header)):
        if fname == lname and (not needle or needle in decode_header_value(value).casefold()):
            return 1
    return 0


class _TextPlanner:
    """TEXT/BODY: the FTS5 trigram index when the string is selective, a scan otherwise.

    The index answers rare strings in milliseconds, but a string found in most messages
    (of every folder the index covers) costs far more through it than reading this
    folder's text once. A capped probe of the index decides; strings under three
    characters (below the trigram size) are always scanned.
    """

    def __init__(self, conn, folder_size: int) -> None:
        self.conn = conn
        self.cap = min(max(folder_size // 4, 50), 500)

    def selective(self, query: str) -> bool:
        if self.conn is None:
            return True
        n = self.conn.execute(
            "SELECT count(*) FROM (SELECT rowid FROM blob_text WHERE blob_text MATCH ?"
            " LIMIT ?)", (query, self.cap + 1)).fetchone()[0]
        return n <= self.cap

    def sql(self, column: str | None, text: str, params: list) -> str:
        if len(text) >= 3:
            phrase = '"' + text.replace('"', '""') + '"'
            query = f"{column} : {phrase}" if column else phrase
            if self.selective(query):
                # Indexed rows through the index, the not yet indexed tail by a scan.
                params.append(query)
                indexed = "b.id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH ?)"
                tail = self._scan(column, text, params)
                return (f"({indexed} OR (b.id > (SELECT indexed_upto FROM text_index_state)"
                        f" AND {tail}))")
        return self._scan(column, text, params)

    @staticmethod
    def _scan(column: str | None, text: str, params: list) -> str:
        cols = [column] if column else ["hdr", "body"]
        if text.isascii():
            conds = " OR ".join(f"t.{c} LIKE ? ESCAPE '\\'" for c in cols)
            params.extend([_like_pattern(text)] * len(cols))
        else:
            conds = " OR ".join(f"imap_contains(t.{c}, ?)" for c in cols)
            params.extend([text.casefold()] * len(cols))
        return f"EXISTS (SELECT 1 FROM blob_search t WHERE t.blob_id = b.id AND ({conds}))"


def compile_search(node: tuple, params: list, functions: dict,
                   text: _TextPlanner | None = None) -> str:
    if text is None:
        text = _TextPlanner(None, 0)
    kind = node[0]
    if kind == "ALL":
        return "1"
    if kind == "NONE":
        return "0"
    if kind == "AND":
        parts = [compile_search(n, params, functions, text) for n in node[1]]
        return " AND ".join(f"({p})" for p in parts) if parts else "1"
    if kind == "OR":
        a = compile_search(node[1], params, functions, text)
        b = compile_search(node[2], params, functions, text)
        return f"({a}) OR ({b})"
    if kind == "NOT":
        return f"NOT ({compile_search(node[1], params, functions, text)})"
    if kind == "FLAG":
        _, bit, present = node
        params.append(int(bit))
        return f"(m.flags & ?) {'!=' if present else '='} 0"
    if kind == "KEYWORD":
        _, word, present = node
        params.append(_like_pattern(f" {word} "))
        return (f"(' ' || coalesce(m.keywords, '') || ' ') {'' if present else 'NOT '}"
                "LIKE ? ESCAPE '\\'")
    if kind == "UIDS":
        ranges = node[1]
        if not ranges:
            return "0"
        if len(ranges) <= 32:
            conds = []
            for lo, hi in ranges:
                params.extend((lo, hi))
                conds.append("m.uid BETWEEN ? AND ?")
            return " OR ".join(conds)
        starts = [lo for lo, _ in ranges]
        ends = [hi for _, hi in ranges]

        def in_ranges(uid: int) -> int:
            i = bisect.bisect_right(starts, uid) - 1
            return int(i >= 0 and uid <= ends[i])

        fname = f"imap_ranges_{len(functions)}"
        functions[fname] = in_ranges
        return f"{fname}(m.uid)"
    if kind == "FIELD":
        _, column, text = node
        col = _SEARCH_FIELDS[column]
        if text.isascii():
            params.append(_like_pattern(text))
            return f"coalesce({col}, '') LIKE ? ESCAPE '\\'"
        params.append(text.casefold())
        return f"imap_contains({col}, ?)"
    if kind == "HEADER":
        _, name, text = node
        params.extend((name, text.casefold()))
        return "imap_header(substr(r.raw, 1, b.header_size), ?, ?)"
    if kind == "TEXT":
        return text.sql(None, node[1], params)
    if kind == "BODY":
        return text.sql("body", node[1], params)
    if kind == "MODSEQ":
        params.append(node[1])
        return "m.modseq >= ?"
    if kind == "SIZE":
        params.append(node[2])
        return f"m.size {'<' if node[1] == '<' else '>'} ?"
    if kind == "DATE":
        _, which, op, stamp = node
        params.append(stamp)
        col = "m.internaldate" if which == "internal" else "b.sent_date"
        return f"{col} {'<' if op == '<' else '>='} ?"
    raise ValueError(f"unknown search node {kind}")
