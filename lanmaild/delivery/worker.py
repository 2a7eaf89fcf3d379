"""The queue worker: takes queued messages in batches, runs the pipeline, commits.

Each message's whole result (mailbox copies, archive entries, new queue entries such as
DSNs, confirmations and forwarded copies, the recipients' end state) is ONE write job:
the store's group commit puts the jobs of a batch into one transaction with one fsync,
and a failing job rolls back alone (its savepoint). Before writing, the job checks that
its recipients are still waiting, so a message is never delivered twice, even if a queue
entry were deleted or handed over meanwhile. A crash before the commit leaves the
recipients ``incoming``: the restart delivers them (exactly once).

Accept and deliver in ONE commit (``QueueWorker.accept``, used by the SMTP handler): the
pipeline has no side effects (stages only fill in the ``Mail``), so it can run in memory
before anything is stored. When its result is purely local (mailbox copies, archive
entries, forwarded copies as new queue entries; no failure, no recipient for the outgoing
email-command action) the blob and all of that are one write job
(``store.delivery.deliver_direct``): no queue row is written for the message at all, or,
when it has internet recipients, one already in state ``outbound`` (the pipeline's second
commit is saved; the outgoing runner takes it from there).
Durability: the
caller answers 250 only after that job's commit (fsync) returned, exactly as for a queue
insert, so a crash before the commit leaves nothing and the client retries; after it the
mail is in the mailbox. Idempotence: there is no queue row the worker could pick up again,
so it cannot be delivered twice. Any other result, a pipeline exception, or a failing
``deliver_direct`` (rolled back alone to its savepoint) falls back to the queue path below.

Messages queued by SMTP are handed over in memory (raw bytes + parse result), so
the common path neither re-reads nor re-parses them; after a restart they come from the
store. A message whose pipeline run fails is ``deferred`` and retried with back-off; after
``MAX_ATTEMPTS`` it is bounced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from ..einvoice.scan import prescan
from ..mime import parse_message
from ..store import StoreError
from ..store.delivery import DeliveryResult, StaleEntry
from ..store.queue import QueuedMessage
from . import pipeline
from .address import resolve, sender_account
from .mail import Context, Failure, Mail, Target

log = logging.getLogger("lanmaild.delivery")

BATCH = 256
CACHE_BYTES = 64 * 1024 * 1024
MAX_ATTEMPTS = 12
BACKOFF_MIN = 1.0  # seconds the worker waits after a batch that made no progress ...
BACKOFF_MAX = 60.0  # ... doubling up to this
RETRY_BASE = 60
RETRY_MAX = 3600


def retry_delay(attempts: int) -> int:
    return min(RETRY_MAX, RETRY_BASE * (2 ** min(attempts, 10)))


def _result(mail: Mail) -> DeliveryResult:
    """The pipeline's decisions, as the store writes them."""
    return DeliveryResult(
        raw=mail.raw, parsed=mail.parsed, sender=mail.sender, deliveries=mail.deliveries,
        archive=mail.archive, outbound=set(mail.outbound),
        new_mail=[(n.raw, n.parsed, n.sender, n.recipients, n.source, n.account)
                  for n in mail.new_mail],
        autoreplies=[(a, s, period, raw, parse_message(raw), rcpts)
                     for a, s, period, raw, rcpts in mail.autoreplies],
        rewritten=mail.rewritten)


class QueueWorker:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self._wake = asyncio.Event()
        self._cache: dict[int, tuple[bytes, object]] = {}
        self._cache_bytes = 0
        self._inflight: set[int] = set()
        self._backoff = 0.0
        self._task: asyncio.Task | None = None
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ acceptance

    async def accept(self, raw: bytes, parsed, sender: str, recipients: list[str],
                     source: str, *, auth_account: str | None = None,
                     client_ip: str | None = None, trusted: bool = False) -> str:
        """Durably accept a message (returns only after the commit) and, when the pipeline
        result is purely local, deliver it in that same commit.

        Returns the id to name in the reply: ``D<blob id>`` when it was delivered at once,
        the queue id (as text) when it was queued for the worker. ``StoreError`` means
        nothing was stored.
        """
        verdict = None
        scanned = await prescan(self.runtime.config, raw, recipients)
        if scanned is not None:
            raw, parsed, verdict = scanned
        mail = self._plan_direct(raw, parsed, sender, recipients, source, auth_account,
                                 client_ip, trusted, verdict)
        store = self.runtime.store
        if mail is not None:
            try:
                blob_id, outbound = await store.delivery.deliver_direct(
                    _result(mail), recipients,
                    (sender, source, auth_account, client_ip, trusted))
            except StoreError:
                raise
            except Exception:  # noqa: BLE001 - rolled back alone: queue it instead
                log.exception("direct delivery failed, queueing the message instead")
            else:
                self.stats["messages"] += 1
                self.stats["copies"] += len(mail.deliveries)
                states = {state for new in mail.new_mail for _addr, state in new.recipients}
                self._notify(mail)
                if "incoming" in states or mail.autoreplies:
                    self._wake.set()
                if "outbound" in states or outbound is not None:
                    self._wake_outgoing(outbound)
                return f"D{blob_id}"
        qid = await store.queue.enqueue(raw, parsed, sender,
                                        [(r, "incoming") for r in recipients], source,
                                        auth_account=auth_account, client_ip=client_ip,
                                        trusted=trusted)
        self.accepted(qid, raw, parsed)
        return str(qid)

    def _plan_direct(self, raw: bytes, parsed, sender: str, recipients: list[str],
                     source: str, auth_account: str | None, client_ip: str | None,
                     trusted: bool, verdict=None) -> Mail | None:
        """Run the pipeline in memory before anything is stored. The result qualifies for
        the one-commit path if it has at least one mailbox copy or internet recipient, no
        failure (a DSN names a queue id) and no side effect outside the store (an email
        command's action). Internet recipients get their queue row (state ``outbound``)
        in that same commit. Anything else returns None and takes the queue."""
        cfg = self.runtime.config
        mail = Mail(queue_id=0, blob_id=None, raw=raw, parsed=parsed, sender=sender,
                    source=source, auth_account=auth_account, trusted=trusted,
                    client_ip=client_ip, einvoice=verdict)
        if auth_account:
            mail.sender_account = auth_account
        elif trusted:
            mail.sender_account = sender_account(cfg, sender)
        try:
            for i, address in enumerate(recipients):
                r = resolve(cfg, address)
                mail.targets.append(Target(address, i, r.kind, r.name, r.address))
            pipeline.run(Context(self.runtime, cfg), mail, bounce=False)
            if mail.actions or mail.failures or not (mail.deliveries or mail.outbound):
                return None
            for new in mail.new_mail:
                if new.parsed is None:
                    new.parsed = parse_message(new.raw)
        except Exception:  # noqa: BLE001 - the queue path retries and defers properly
            log.exception("pipeline failed before queueing; the queue worker retries")
            return None
        return mail

    # ------------------------------------------------------------------ hand-over

    def accepted(self, queue_id: int, raw: bytes, parsed) -> None:
        """A message was committed to the queue: keep its parse and wake up."""
        if self._cache_bytes + len(raw) <= CACHE_BYTES:
            self._cache[queue_id] = (raw, parsed)
            self._cache_bytes += len(raw)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _notify(self, mail: Mail) -> None:
        """After the commit: SMS notifications (never awaited: ``lanmaild.sms``)."""
        sms = self.runtime.services.get("sms") if mail.notifications else None
        if sms is None:
            return
        subject = getattr(mail.parsed, "subject", "") or ""
        for account, number in mail.notifications:
            sms.notify(account, number, mail.sender or "MAILER-DAEMON", subject)

    def _wake_outgoing(self, message=None) -> None:
        """New ``outbound`` recipients: the outgoing runner (``lanmaild.transports``)
        takes them now instead of at its next timer; ``message`` (committed) is handed
        over in memory."""
        outgoing = self.runtime.services.get("outgoing")
        if outgoing is None:
            return
        if message is not None:
            outgoing.accepted(message)
        else:
            outgoing.wake()

    @property
    def inflight(self) -> set[int]:
        return set(self._inflight)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="queue-worker")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def wait_closed(self) -> None:
        if self._task is not None:
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the worker must keep running
                log.exception("queue worker: batch failed")
                handled = -1
            if handled > 0:
                self._backoff = 0.0
                continue
            if handled < 0:
                # Nothing could be delivered or deferred (the store refuses writes): wait,
                # longer each time, instead of retrying the same messages in a tight loop.
                self._backoff = min(BACKOFF_MAX, max(BACKOFF_MIN, self._backoff * 2))
                log.warning("queue worker: no progress, retrying in %.0f s", self._backoff)
                await asyncio.sleep(self._backoff)
                continue
            timeout = 60.0
            try:
                due = await self.runtime.store.queue.next_due()
            except Exception:  # noqa: BLE001
                due = None
            if due is not None:
                timeout = max(0.5, min(timeout, due - time.time()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ one batch

    async def run_once(self) -> int:
        store = self.runtime.store
        msgs = await store.queue.due(BATCH, self._inflight, with_raw=set(self._cache))
        if not msgs:
            return 0
        ctx = Context(self.runtime, self.runtime.config)
        jobs = []
        for qm in msgs:
            self._inflight.add(qm.id)
            jobs.append(self._process(ctx, qm))
        try:
            results = await asyncio.gather(*jobs, return_exceptions=True)
        finally:
            for qm in msgs:
                self._inflight.discard(qm.id)
        progress = 0
        for qm, result in zip(msgs, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, StaleEntry):
                log.error("queue %d: delivery failed, deferred: %s", qm.id, result,
                          exc_info=result)
                if await self._defer_or_bounce(ctx, qm,
                                               f"{result.__class__.__name__}: {result}"):
                    progress += 1
            else:
                progress += 1
        return progress or -1

    def _mail(self, ctx: Context, qm: QueuedMessage) -> Mail:
        cached = self._cache.pop(qm.id, None)
        if cached is not None:
            self._cache_bytes -= len(cached[0])
            raw, parsed = cached
        else:
            raw = qm.raw
            if raw is None:  # cache was dropped meanwhile: cannot happen, but be safe
                raise RuntimeError("message bytes missing")
            parsed = parse_message(raw)
        cfg = ctx.config
        mail = Mail(queue_id=qm.id, blob_id=qm.blob_id, raw=raw, parsed=parsed,
                    sender=qm.sender, source=qm.source, auth_account=qm.auth_account,
                    trusted=qm.trusted, client_ip=qm.client_ip)
        if qm.auth_account:
            mail.sender_account = qm.auth_account
        elif qm.trusted:
            mail.sender_account = sender_account(cfg, qm.sender)
        for rid, address, _attempts in qm.recipients:
            r = resolve(cfg, address)
            mail.targets.append(Target(address, rid, r.kind, r.name, r.address))
        return mail

    async def _process(self, ctx: Context, qm: QueuedMessage) -> int:
        if qm.raw is None and qm.id not in self._cache:
            # handed over in memory but evicted: read it now
            qm.raw = await self.runtime.store.mail.blob_raw(qm.blob_id)
        mail = self._mail(ctx, qm)
        scanned = await prescan(ctx.config, mail.raw, [r[1] for r in qm.recipients])
        if scanned is not None:  # the marked message is stored as a new blob
            mail.raw, mail.parsed, mail.einvoice = scanned
            mail.rewritten = True
        pipeline.run(ctx, mail)
        for action in mail.actions:
            await action()
        for new in mail.new_mail:
            if new.parsed is None:
                new.parsed = parse_message(new.raw)
        n = await self.runtime.store.delivery.commit(_result(mail), qm)
        self._notify(mail)
        if mail.outbound or any(state == "outbound" for new in mail.new_mail
                                for _a, state in new.recipients):
            self._wake_outgoing()
        self.stats["messages"] += 1
        self.stats["copies"] += n
        # from acceptance to the mailbox (the direct path, without a queue, counts ~0)
        self.stats["queued_seconds"] += max(0, int(time.time()) - qm.created)
        self.stats["queued_messages"] += 1
        return n

    async def _defer_or_bounce(self, ctx: Context, qm: QueuedMessage, error: str) -> bool:
        """Defer (or after MAX_ATTEMPTS bounce) a failed message; False if even that failed."""
        attempts = max((a for _r, _a, a in qm.recipients), default=0)
        try:
            if attempts + 1 < MAX_ATTEMPTS:
                await self.runtime.store.delivery.defer(qm, error, retry_delay)
                return True
            if qm.raw is None:
                qm.raw = await self.runtime.store.mail.blob_raw(qm.blob_id)
            mail = Mail(queue_id=qm.id, blob_id=qm.blob_id, raw=qm.raw,
                        parsed=parse_message(qm.raw), sender=qm.sender, source=qm.source)
            mail.failures = [Failure(addr, rid, "4.3.0",
                                     f"delivery failed {attempts + 1} times: {error}")
                             for rid, addr, _a in qm.recipients]
            from . import dsn

            dsn.bounce(ctx, mail)
            for new in mail.new_mail:
                new.parsed = parse_message(new.raw)
            await self.runtime.store.delivery.commit(_result(mail), qm)
        except Exception:  # noqa: BLE001
            log.exception("queue %d: could not defer", qm.id)
            return False
        return True
