"""The delivery pipeline's result, written in one transaction (the queue worker's commit).

The pipeline decides (``lanmaild.delivery``); this module only writes what it decided:
the mailbox copies, archive entries, new queue entries (DSNs, forwarded copies,
confirmations), recipients handed to the outgoing queue, and the finished state of the
message's own recipients. All of it commits together or not at all, so a crash neither
loses nor duplicates mail. The worker never sees a transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .archive import add_entry_tx
from .autoreply import queue_reply_tx
from .blobs import store_blob_tx
from .db import Database, Tx
from .mailtx import folder_id_tx, insert_message_tx
from .outbound import OutboundMessage, OutboundRecipient
from .queue import (
    QueuedMessage,
    defer_rcpts_tx,
    enqueue_tx,
    finish_rcpts_tx,
    rcpts_waiting_tx,
    set_state_tx,
)


class StaleEntry(Exception):
    """The queue entry changed under the worker (deleted, already handled)."""


@dataclass
class DeliveryResult:
    """What the pipeline decided for one message."""

    raw: bytes
    parsed: object
    sender: str
    deliveries: list = field(default_factory=list)  # (account, folder, flags)
    archive: list = field(default_factory=list)  # (account, direction)
    # (raw, parsed, sender, [(rcpt, state)], source, account it leaves for)
    new_mail: list = field(default_factory=list)
    outbound: set = field(default_factory=set)  # queue_rcpt ids handed to the transports
    # automatic replies: (account, sender, period, raw, [(rcpt, state)]); queued only if
    # that sender got none from the account within the period (store.autoreply)
    autoreplies: list = field(default_factory=list)
    rewritten: bool = False  # raw is not the queued blob (e.g. marked by the e-invoice scan)


class DeliveryStore:
    def __init__(self, db: Database, notify) -> None:
        self.db = db
        self.notify = notify

    async def commit(self, result: DeliveryResult, qm: QueuedMessage) -> int:
        """Write the result of a queued message; returns the mailbox copies made. Raises
        StaleEntry when its recipients are no longer waiting."""
        return await self.db.write(self._commit_tx, result, qm)

    async def deliver_direct(self, result: DeliveryResult, rcpts: list[str],
                             envelope: tuple) -> tuple[int, OutboundMessage | None]:
        """Accept AND deliver in one job (the worker's fast path): the blob, its copies,
        archive entries and new queue entries commit together; the message itself gets a
        queue row only for its internet recipients (``result.outbound``: indexes into
        ``rcpts``), in state ``outbound``. ``envelope`` = (sender, source, auth_account,
        client_ip, trusted). Returns the blob id and, with internet recipients, the queue
        entry as the outgoing runner needs it (so it starts without reading it back)."""
        return await self.db.write(self._direct_tx, result, rcpts, envelope)

    async def defer(self, qm: QueuedMessage, error: str,
                    retry_delay: Callable[[int], int]) -> None:
        """Every recipient of ``qm`` waits ``retry_delay(attempts)`` seconds more."""
        now = int(time.time())

        def job(tx: Tx) -> None:
            defer_rcpts_tx(tx, [(rid, now + retry_delay(attempts), error)
                                for rid, _addr, attempts in qm.recipients])

        await self.db.write(job)

    # ------------------------------------------------------------------ jobs

    def _copies_tx(self, tx: Tx, result: DeliveryResult, blob_id: int, rcpts: list[str]) -> int:
        size = len(result.raw)
        changed: list[int] = []
        for account, folder, flags in result.deliveries:
            folder_id = folder_id_tx(tx, account, folder)
            insert_message_tx(tx, folder_id, blob_id, size, flags)
            changed.append(folder_id)
        for account, direction in result.archive:
            add_entry_tx(tx, account, direction, result.raw, result.parsed, result.sender,
                         rcpts)
        for raw, parsed, sender, recipients, source, account in result.new_mail:
            enqueue_tx(tx, raw, parsed, sender, recipients, source, account=account)
        for account, sender, period, raw, parsed, recipients in result.autoreplies:
            queue_reply_tx(tx, account, sender, period, raw, parsed, recipients)
        if changed:
            notify = self.notify
            tx.after_commit(lambda: [notify.changed(f) for f in changed])
        return len(result.deliveries)

    def _commit_tx(self, tx: Tx, result: DeliveryResult, qm: QueuedMessage) -> int:
        rids = [r[0] for r in qm.recipients]
        if not rcpts_waiting_tx(tx, qm.id, rids):
            raise StaleEntry(qm.id)
        blob_id = store_blob_tx(tx, result.raw, result.parsed) \
            if result.rewritten and (result.deliveries or result.archive) else qm.blob_id
        n = self._copies_tx(tx, result, blob_id, [r[1] for r in qm.recipients])
        if result.outbound:
            set_state_tx(tx, sorted(result.outbound), "outbound")
        finish_rcpts_tx(tx, qm.id, [r for r in rids if r not in result.outbound])
        return n

    def _direct_tx(self, tx: Tx, result: DeliveryResult, rcpts: list[str],
                   envelope: tuple) -> tuple[int, OutboundMessage | None]:
        blob_id = store_blob_tx(tx, result.raw, result.parsed)
        self._copies_tx(tx, result, blob_id, rcpts)
        if not result.outbound:
            return blob_id, None
        sender, source, auth_account, client_ip, trusted = envelope
        qid = enqueue_tx(tx, result.raw, result.parsed, sender,
                         [(rcpts[i], "outbound") for i in sorted(result.outbound)], source,
                         auth_account=auth_account, client_ip=client_ip, trusted=trusted,
                         blob_id=blob_id)
        rows = tx.execute("SELECT id, address FROM queue_rcpt WHERE msg_id = ? ORDER BY id",
                          (qid,)).fetchall()
        msg = OutboundMessage(qid, blob_id, sender, source, auth_account, None, trusted,
                              int(time.time()), result.raw,
                              [OutboundRecipient(rid, addr, 0, False) for rid, addr in rows])
        return blob_id, msg
