"""Transaction building blocks of the mailbox store (``*_tx``: run inside a write job).

Only the store package calls these: the rest of lanmaild goes through ``MailboxStore``,
``QueueStore`` and ``ArchiveStore``, whose methods are whole units of work."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from .db import Tx
from .mailtypes import (
    DEFAULT_FOLDERS,
    MAX_FOLDER_KEYWORDS,
    AccountGone,
    FolderInfo,
    KeywordLimit,
)


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
