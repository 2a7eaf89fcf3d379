"""The store: the only package that speaks SQL.

``Store`` is what the rest of lanmaild calls; its parts are ``store.mail`` (folders and
messages), ``store.queue`` (accepted mail waiting for the delivery pipeline),
``store.delivery`` (the pipeline's result, written in one transaction), ``store.outbound``
(what the outgoing transports take and report back), ``store.autoreply`` (who got an
automatic reply when; written inside the delivery transaction), ``store.fetch`` (what was
taken from external mailboxes; written with the queue entry), ``store.oauth`` (OAuth2 codes
and tokens, by hash) and ``store.archive``. Nothing outside this package sees a
transaction. Engine notes are in ``db``; table layout notes in each module.
To move to PostgreSQL, this package is what gets rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from .archive import ArchiveStore
from .db import Database, QueryTimeout, StoreError, Tx
from .delivery import DeliveryStore
from .fetchstate import FetchStore
from .mailbox import FLAG_BITS, Delivery, FolderInfo, MailboxStore, bits_to_flags, flags_to_bits
from .notify import ChangeHub
from .oauth import OAuthStore
from .outbound import OutboundMessage, OutboundRecipient, OutboundResult, OutboundStore
from .queue import QueueStore
from .schema import migrate

DB_FILE = "lanmail.db"


class Store:
    def __init__(self, data_dir: Path, readers: int = 3) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        path = data_dir / DB_FILE
        self.db = Database(path, readers=readers, migrate=migrate)
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                os.chmod(p, 0o600)
        self.notify = ChangeHub()
        self.mail = MailboxStore(self.db, self.notify)
        self.queue = QueueStore(self.db)
        self.outbound = OutboundStore(self.db)
        self.fetch = FetchStore(self.db)
        self.oauth = OAuthStore(self.db)
        self.archive = ArchiveStore(self.db)
        self.delivery = DeliveryStore(self.db, self.notify)

    async def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check``: ["ok"] or the problems SQLite found (a whole-file
        read: a heavy reader, never the writer)."""
        rows = await self.db.read(lambda conn: conn.execute(
            "PRAGMA integrity_check(20)").fetchall(), heavy=True)
        return [r[0] for r in rows]

    def set_query_timeout(self, seconds: float) -> None:
        """Bound every read query (``limits.query_timeout``; see ``db``)."""
        self.db.query_timeout = float(seconds) if seconds > 0 else float("inf")

    def close(self) -> None:
        self.db.close()


__all__ = ["FLAG_BITS", "ChangeHub", "Delivery", "FolderInfo", "OutboundMessage",
           "OutboundRecipient", "OutboundResult", "OutboundStore", "QueryTimeout", "Store",
           "StoreError", "Tx", "bits_to_flags", "flags_to_bits"]
