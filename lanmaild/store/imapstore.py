"""The IMAP-shaped half of the mailbox store (a mixin of ``MailboxStore``).

Everything the IMAP server needs, set-based: one statement per chunk of messages, never one
per message. Folder ids are handed out by ``folder_view`` / ``get_folder``; UID lists are
passed as JSON arrays (``json_each``) so a statement's size does not depend on how many
messages it touches."""

from __future__ import annotations

import asyncio
import json
from array import array

from .db import Tx
from .mailtx import _FOLDER_COLS, _folder_row, check_keyword_room_tx
from .mailtypes import SEEN, FlagChange, FolderChanges, FolderInfo, FolderView
from .searchsql import _contains, _header_contains, _TextPlanner, compile_search

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


class ImapViews:
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
            # The covering index message_uid (schema 4: 8 bytes a message, not the row),
            # handed over as one JSON array: parsed in C, no Python object per row (half
            # the time of fetching rows). SQLite 3.40 has no ORDER BY inside aggregates;
            # the subquery's order is kept in practice, and checked (a sort of sorted
            # input is one linear pass in C).
            listed = json.loads(conn.execute(
                "SELECT json_group_array(uid) FROM (SELECT uid FROM message INDEXED BY"
                " message_uid WHERE folder_id = ? ORDER BY uid)", (info.id,)).fetchone()[0])
            ordered = sorted(listed)
            uids = array("I", ordered if ordered != listed else listed)
            # In UID order, stopping at the first unseen one (min() would read them all).
            first = conn.execute(
                "SELECT uid FROM message WHERE folder_id = ? AND flags & ? = 0"
                " ORDER BY uid LIMIT 1", (info.id, SEEN)).fetchone() if info.unseen else None
            first_unseen = first[0] if first else None
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
                # Through the modseq index: the changes since the session last looked, a
                # handful of rows. (Without INDEXED BY, SQLite picked the primary key for
                # "uid <= ?" and read the whole folder at every poll of every session.)
                flags = sorted(conn.execute(
                    "SELECT uid, flags, keywords, modseq FROM message INDEXED BY message_modseq"
                    " WHERE folder_id = ? AND modseq > ? AND uid <= ?",
                    (folder_id, flag_modseq, known_uid)).fetchall())
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
