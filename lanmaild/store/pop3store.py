"""The POP3 maildrop half of the mailbox store (a mixin of ``MailboxStore``), used only by
lanmaild.pop3. POP3 sees INBOX; message numbers are a snapshot taken once at log-in;
deletions are applied in one transaction at QUIT."""

from __future__ import annotations

import json
from array import array

from .db import Tx


class Pop3Maildrop:
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
