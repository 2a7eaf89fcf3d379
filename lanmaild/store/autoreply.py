"""Who got an automatic reply when (RFC 3834 2: at most one per sender per period).

The check and the reply's queue entry are one step inside the transaction that delivers
the mail, so two mails from the same sender in one group commit still get one reply, a
restart keeps the memory, and a crash before the commit sends none (the mail itself is
delivered again after the restart, and answered then).
"""

from __future__ import annotations

import time

from .db import Tx
from .queue import enqueue_tx

SCHEMA = """
CREATE TABLE autoreply_sent (
    account TEXT NOT NULL,
    sender TEXT NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (account, sender)
) WITHOUT ROWID;
"""


def queue_reply_tx(tx: Tx, account: str, sender: str, period: int, raw: bytes, parsed,
                   recipients: list[tuple[str, str]]) -> bool:
    """Queue the reply unless ``sender`` got one from ``account`` within ``period``."""
    now = int(time.time())
    row = tx.execute("SELECT sent FROM autoreply_sent WHERE account = ? AND sender = ?",
                     (account, sender)).fetchone()
    if row is not None and now - row[0] < period:
        return False
    tx.execute("INSERT OR REPLACE INTO autoreply_sent (account, sender, sent) VALUES (?,?,?)",
               (account, sender, now))
    enqueue_tx(tx, raw, parsed, "", recipients, "local")
    return True

