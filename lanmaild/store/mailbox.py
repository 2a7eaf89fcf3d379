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

Split by concern: the DDL in ``mailschema``, values and exceptions in ``mailtypes``, the
transaction building blocks in ``mailtx``, blob storage and the text index in ``blobs``, the
IMAP-shaped API in ``imapstore``, the POP3 maildrop in ``pop3store``, the SEARCH compiler in
``searchsql``; this module is the folder and message API and the facade the rest calls.
"""

from __future__ import annotations

from .blobs import index_text_batch_tx, store_blob_tx
from .db import Database, Tx
from .imapstore import FETCH_COLUMNS, ImapViews
from .mailschema import KEYWORDS_SCHEMA, SCHEMA
from .mailtx import (
    _FOLDER_COLS,
    _existing_account_tx,
    _folder_row,
    account_id_tx,
    check_keyword_room_tx,
    create_folder_tx,
    folder_id_tx,
    insert_message_tx,
)
from .mailtypes import (
    DEFAULT_FOLDERS,
    DELETED,
    FLAG_BITS,
    MAX_FOLDER_KEYWORDS,
    SEEN,
    AccountGone,
    Delivery,
    FlagChange,
    FolderChanges,
    FolderExists,
    FolderInfo,
    FolderView,
    KeywordLimit,
    bits_to_flags,
    flags_to_bits,
)
from .pop3store import Pop3Maildrop
from .searchsql import compile_search

__all__ = ["DEFAULT_FOLDERS", "DELETED", "FETCH_COLUMNS", "FLAG_BITS", "KEYWORDS_SCHEMA",
           "MAX_FOLDER_KEYWORDS", "SCHEMA", "SEEN", "AccountGone", "Delivery", "FlagChange",
           "FolderChanges", "FolderExists", "FolderInfo", "FolderView", "KeywordLimit",
           "MailboxStore", "account_id_tx", "bits_to_flags", "check_keyword_room_tx",
           "compile_search", "create_folder_tx", "flags_to_bits", "folder_id_tx",
           "insert_message_tx", "store_blob_tx"]


class MailboxStore(ImapViews, Pop3Maildrop):
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
