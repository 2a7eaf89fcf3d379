"""Backups of the store (issue 13): an online copy, and reading mail back out of one.

``copy_to``: SQLite's online backup API from a connection of its own, in one step, so the
copy is the database as of one moment (WAL: the writer is not held up, it only cannot
checkpoint past the reader meanwhile). The copy is written to a temporary name, fsynced
and renamed: a backup folder never holds half a database.

``restore_messages``: one account (or one folder of it, optionally only mail since a date)
from a backup into the live store. Messages the live folder already holds (same SHA-256
of the raw bytes) are skipped, so restoring twice, or into a mailbox where only some mail
was lost, adds each message once. Flags, keywords and INTERNALDATE come along; UIDs are
new (the live folder's UIDVALIDITY stays; clients see new messages).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..mime import parse_message
from .db import Database

BATCH_BYTES = 8 * 1024 * 1024  # raw octets per restore transaction


def copy_to(db: Database, dest: Path) -> int:
    """Blocking (run it in a thread): the database into ``dest``; returns its size."""
    tmp = dest.with_name(dest.name + ".part")
    src = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    return dest.stat().st_size


def open_backup(path: Path) -> sqlite3.Connection:
    """A backup database, read-only; ``ValueError`` when it is none of ours."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    # check_same_thread off: the restore reads it from whichever worker thread is free
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("SELECT 1 FROM message LIMIT 1")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ValueError(f"{path}: not a lanmaild store ({exc})") from None
    if version < 1:
        conn.close()
        raise ValueError(f"{path}: not a lanmaild store")
    return conn


def schema_version(path: Path) -> int:
    conn = open_backup(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def backed_up_messages(conn: sqlite3.Connection, account: str, folder: str | None,
                       since: int | None) -> Iterator[tuple]:
    """(folder, raw, flags, keywords, internaldate, sha256) of an account in a backup."""
    sql = ("SELECT f.name, r.raw, m.flags, m.keywords, m.internaldate, b.sha256"
           " FROM message m JOIN folder f ON f.id = m.folder_id"
           " JOIN account a ON a.id = f.account_id JOIN blob b ON b.id = m.blob_id"
           " JOIN blob_raw r ON r.blob_id = m.blob_id WHERE a.name = ?")
    params: list = [account]
    if folder is not None:
        sql += " AND f.name = ?"
        params.append(folder)
    if since is not None:
        sql += " AND m.internaldate >= ?"
        params.append(since)
    yield from conn.execute(sql + " ORDER BY f.name, m.uid", params)


def _present(conn, account: str, folder: str) -> set[bytes]:
    return {row[0] for row in conn.execute(
        "SELECT b.sha256 FROM message m JOIN folder f ON f.id = m.folder_id"
        " JOIN account a ON a.id = f.account_id JOIN blob b ON b.id = m.blob_id"
        " WHERE a.name = ? AND f.name = ?", (account, folder))}


async def add_missing(store, account: str, folder: str, items: list[tuple]) -> int:
    """Append ``items`` (raw, flags, keywords, internaldate) to a folder (made if needed)
    in one transaction, leaving out those the folder already holds (same SHA-256);
    returns how many were added. Restore and ``mail import`` both come through here, so
    running either twice never doubles a message."""
    import asyncio
    import hashlib

    present = await store.db.read(lambda c: _present(c, account, folder))
    todo = []
    for raw, flags, keywords, date in items:
        digest = hashlib.sha256(raw).digest()
        if digest in present:
            continue
        present.add(digest)
        todo.append((raw, await asyncio.to_thread(parse_message, raw), flags, keywords, date))
    if todo:
        await store.mail.append_many(account, folder, todo, create_folder=True)
    return len(todo)


async def folder_messages(store, account: str, folder: str, after_uid: int,
                          limit: int) -> list[tuple]:
    """(uid, raw, flags, keywords, internaldate) of a live folder, by UID (export)."""
    def job(conn) -> list[tuple]:
        return conn.execute(
            "SELECT m.uid, r.raw, m.flags, m.keywords, m.internaldate FROM message m"
            " JOIN folder f ON f.id = m.folder_id JOIN account a ON a.id = f.account_id"
            " JOIN blob_raw r ON r.blob_id = m.blob_id WHERE a.name = ? AND f.name = ?"
            " AND m.uid > ? ORDER BY m.uid LIMIT ?", (account, folder, after_uid, limit)
        ).fetchall()

    return await store.db.read(job)


async def restore_messages(store, backup: Path, account: str, folder: str | None = None,
                           since: int | None = None) -> dict:
    """Copy an account's mail (or one folder's) from ``backup`` into the live store;
    returns {"restored", "skipped", "folders"}."""
    import asyncio

    conn = await asyncio.to_thread(open_backup, backup)
    restored = skipped = 0
    folders: set[str] = set()
    try:
        rows = backed_up_messages(conn, account, folder, since)
        batch: list[tuple] = []
        size = 0
        current = None

        async def flush() -> None:
            nonlocal restored, skipped, batch, size
            if not batch:
                return
            name = batch[0][0]
            added = await add_missing(store, account, name,
                                      [(raw, flags, kw, date)
                                       for _f, raw, flags, kw, date, _sha in batch])
            skipped += len(batch) - added
            restored += added
            if added:
                folders.add(name)
            batch, size = [], 0

        while True:
            row = await asyncio.to_thread(next, rows, None)
            if row is None:
                break
            if row[0] != current or size >= BATCH_BYTES:
                await flush()
                current = row[0]
            batch.append(row)
            size += len(row[1])
        await flush()
    finally:
        conn.close()
    return {"restored": restored, "skipped": skipped, "folders": sorted(folders)}
