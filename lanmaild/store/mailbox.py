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

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

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
    id INTEGER PRIMARY KEY,
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
CREATE TRIGGER message_ins AFTER INSERT ON message BEGIN
    UPDATE folder SET messages = messages + 1, size = size + NEW.size,
        unseen = unseen + ((NEW.flags & 1) = 0) WHERE id = NEW.folder_id;
    UPDATE blob SET refs = refs + 1 WHERE id = NEW.blob_id;
END;
CREATE TRIGGER message_del AFTER DELETE ON message BEGIN
    UPDATE folder SET messages = messages - 1, size = size - OLD.size,
        unseen = unseen - ((OLD.flags & 1) = 0) WHERE id = OLD.folder_id;
    UPDATE blob SET refs = refs - 1 WHERE id = OLD.blob_id;
    DELETE FROM blob WHERE id = OLD.blob_id AND refs <= 0;
END;
CREATE TRIGGER message_seen AFTER UPDATE OF flags ON message
WHEN (OLD.flags & 1) != (NEW.flags & 1) BEGIN
    UPDATE folder SET unseen = unseen + ((NEW.flags & 1) = 0) - ((OLD.flags & 1) = 0)
        WHERE id = NEW.folder_id;
END;
"""

FLAG_BITS = {"\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Deleted": 8, "\\Draft": 16}
SEEN = 1
DELETED = 8

DEFAULT_FOLDERS: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("INBOX.SENT", "\\Sent"),
    ("INBOX.Drafts", "\\Drafts"),
    ("INBOX.Trash", "\\Trash"),
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


def account_id_tx(tx: Tx, name: str, create: bool = True) -> int | None:
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


def folder_id_tx(tx: Tx, account: str, folder: str, create: bool = True) -> int:
    """The folder's id; made on demand (delivery into a deleted INBOX.SENT recreates it)."""
    account_id = account_id_tx(tx, account)
    if folder.upper() == "INBOX":
        folder = "INBOX"
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
         parsed.bodystructure, parsed.body, parsed.parts_blob(), parsed.subject, parsed.from_,
         parsed.to, parsed.cc, parsed.bcc, parsed.message_id, parsed.in_reply_to, parsed.date))
    blob_id = cur.lastrowid
    tx.execute("INSERT INTO blob_raw (blob_id, raw) VALUES (?, ?)", (blob_id, raw))
    return blob_id


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

    # -------------------------------------------------------------- accounts

    async def ensure_account(self, name: str) -> None:
        await self.db.write(lambda tx: account_id_tx(tx, name))

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

        def job(tx: Tx) -> tuple[int, int, int]:
            folder_id = folder_id_tx(tx, account, folder, create=create_folder)
            blob_id = store_blob_tx(tx, raw, parsed)
            uid = insert_message_tx(tx, folder_id, blob_id, len(raw), flags, keywords,
                                    internaldate)
            uidvalidity = tx.execute("SELECT uidvalidity FROM folder WHERE id = ?",
                                     (folder_id,)).fetchone()[0]
            tx.after_commit(lambda: self.notify.changed(folder_id))
            return folder_id, uidvalidity, uid

        _folder_id, uidvalidity, uid = await self.db.write(job)
        return uidvalidity, uid

    async def all_uids(self, account: str) -> list[tuple[str, int]]:
        """(folder, uid) of every message of the account: the export before a delete."""

        def job(conn) -> list[tuple[str, int]]:
            return conn.execute(
                "SELECT f.name, m.uid FROM message m JOIN folder f ON f.id = m.folder_id"
                " JOIN account a ON a.id = f.account_id WHERE a.name = ?"
                " ORDER BY f.name, m.uid", (account,)).fetchall()

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

