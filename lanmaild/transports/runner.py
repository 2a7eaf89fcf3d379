"""The outgoing queue runner: takes due ``outbound`` recipients, prepares each message for
the internet, hands it to its transport, and records per recipient what happened.

Per message (one task each, at most ``PARALLEL`` at once; connection limits per
destination are the transport's):

1. Whose mail is it? The account it leaves for (a forward: the forwarding account; else
   the logged-in sender, or on a trusted network the local sender). Its ``[outgoing]``
   picks the transport (``default``: the global one) and the rules below.
2. ``deny_internet`` holds here too (also for mail queued before the setting changed):
   the recipients fail with 5.7.1. A message over the account's size limit fails 5.3.4.
3. Prepare (``prepare``): sender overwrite, S/MIME, DKIM; split into transactions of at
   most ``max_recipients`` (never mixing domains when delivering to MX).
4. Send; ``sent`` recipients are dropped, ``perm`` ones bounce (RFC 3464 DSN to the sender,
   copy to the postmaster), ``temp`` ones wait ``retry[attempts]`` (the last wait repeats)
   until ``max_age``, then bounce; after ``delay_warning`` the sender gets one warning DSN.

The result of a message is ONE store write (with its DSNs), made only after the transport
answered: a crash before it re-sends those recipients after the restart (see
``store.outbound``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from types import SimpleNamespace

from ..delivery import dsn
from ..delivery.address import sender_account
from ..delivery.mail import Failure
from ..mime import parse_message
from ..store.outbound import OutboundMessage, OutboundResult
from .base import Envelope, Outcome, TransportError
from .prepare import Prepared, prepare
from .settings import account_settings, global_settings, size_limit
from .transports import TransportCache

log = logging.getLogger("lanmaild.outgoing")

BATCH = 256
PARALLEL = 64
READY_MAX = 4096  # messages handed over in memory; beyond that the store is read
SEEN_MAX = 65536


class OutgoingRunner:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.transports = TransportCache(runtime)
        self._wake = asyncio.Event()
        self._inflight: set[int] = set()
        self._ready: dict[int, OutboundMessage] = {}  # handed over in memory, not started
        self._scan_finished: set[int] | None = None  # finished while due() reads
        self._scan = True  # read the store at the next turn (start-up: everything due)
        # Ids run since start (bounded): a hand-over can arrive after the store scan
        # already found and ran that message; ids are never reused (AUTOINCREMENT).
        self._seen: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._slots = asyncio.Semaphore(PARALLEL)
        self._tasks: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None
        self.stats = {"sent": 0, "deferred": 0, "failed": 0}

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="outgoing")

    def status(self) -> dict:
        """For ``lanmailctl status``: recipients sent/deferred/failed since start."""
        return {**self.stats, "in_flight": len(self._inflight)}

    def wake(self) -> None:
        """New or newly due outbound recipients in the store: scan it."""
        self._scan = True
        self._wake.set()

    def accepted(self, msg: OutboundMessage) -> None:
        """A message committed with outbound recipients, handed over in memory: it starts
        without being read back from the store."""
        if msg.id not in self._seen and len(self._ready) < READY_MAX:
            self._ready[msg.id] = msg
        self._wake.set()

    @property
    def inflight(self) -> set[int]:
        return set(self._inflight)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for t in self._tasks:
            t.cancel()

    async def wait_closed(self) -> None:
        for t in [self._task, *self._tasks]:
            if t is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        await self.transports.close()

    async def _due(self) -> list[OutboundMessage]:
        """Due messages from the store that nobody handles yet.

        The query runs on a reader thread with its own snapshot: a message handed over or
        finished while it runs can be in its result although it is (or was) being sent.
        So the result is filtered after the query against what is in flight or ready
        now and what finished meanwhile (a message finished before the query started is
        not in it: its record commit precedes its removal from ``_inflight``)."""
        self._scan_finished = set()
        try:
            msgs = await self.runtime.store.outbound.due(
                BATCH, set(self._inflight) | set(self._ready))
        finally:
            finished, self._scan_finished = self._scan_finished, None
        busy = self._inflight | set(self._ready) | finished
        return [m for m in msgs if m.id not in busy]

    def _start(self, m: OutboundMessage) -> None:
        self._seen[m.id] = None
        if len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        self._inflight.add(m.id)
        task = asyncio.get_running_loop().create_task(self._run(m))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self) -> None:
        """Start handed-over messages at once; read the store only when asked to
        (``wake``: start-up, forwards and DSNs queued by the pipeline, ``queue retry``)
        or when the earliest waiting recipient is due: a scan per accepted message would
        cost a read for mail that is being handed over anyway."""
        store = self.runtime.store
        while True:
            self._wake.clear()
            if self._ready:
                await self._start_ready()
                continue
            if self._scan:
                self._scan = False
                try:
                    msgs = await self._due()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - keep running; the store logs its trouble
                    log.exception("outgoing: reading the queue failed")
                    msgs = []
                    self._scan = True
                    await asyncio.sleep(5)
                for m in msgs:
                    await self._slots.acquire()
                    if m.id in self._inflight:  # handed over and started meanwhile
                        self._slots.release()
                        continue
                    self._ready.pop(m.id, None)
                    self._start(m)
                if msgs:
                    self._scan = True  # there may be more than one batch
                    continue
            await self.transports.expire()
            timeout = 60.0
            with contextlib.suppress(Exception):
                due = await store.outbound.next_due()
                if due is not None:
                    # rows of messages in flight look due too: look again in a second
                    floor = 1.0 if self._inflight else 0.05
                    timeout = max(floor, min(timeout, due - time.time()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                self._scan = True

    async def _start_ready(self) -> None:
        while self._ready:
            await self._slots.acquire()
            if not self._ready:
                self._slots.release()
                break
            _id, m = self._ready.popitem()
            if m.id in self._inflight or m.id in self._seen:
                self._slots.release()  # the store scan was first
                continue
            self._start(m)

    async def _run(self, msg: OutboundMessage) -> None:
        try:
            result = await self.process(msg)
            await self.runtime.store.outbound.record([result])
            if result.new_mail:
                worker = self.runtime.services.get("delivery")
                if worker is not None:
                    worker.wake()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - stays queued; retried at the next wake-up
            log.exception("outgoing %d: failed, it stays queued", msg.id)
            await asyncio.sleep(1)
        finally:
            if self._scan_finished is not None:
                self._scan_finished.add(msg.id)
            self._inflight.discard(msg.id)
            self._slots.release()

    # ------------------------------------------------------------------ one message

    def _account(self, cfg, msg: OutboundMessage) -> str | None:
        if msg.account:
            return msg.account
        if msg.auth_account:
            return msg.auth_account
        return sender_account(cfg, msg.sender) if msg.trusted else None

    async def process(self, msg: OutboundMessage) -> OutboundResult:
        cfg = self.runtime.config
        g = global_settings(cfg)
        name = self._account(cfg, msg)
        account = cfg.account(name) if name else None
        a = account_settings(cfg, name)
        kind = a.transport if a.transport != "default" else g.transport
        outcomes: dict[int, Outcome] = {}
        by_addr: dict[str, list[int]] = {}
        for r in msg.recipients:
            by_addr.setdefault(r.address.lower(), []).append(r.id)
        limit = size_limit(cfg, name)
        if account is not None and account.deny_internet:
            fail = Outcome("perm", f"account {account.name} may not send to the internet "
                           "(deny_internet)", "5.7.1")
            outcomes = {r.id: fail for r in msg.recipients}
        elif len(msg.raw) > limit:
            fail = Outcome("perm", f"552 5.3.4 message too big to send to the internet "
                           f"({len(msg.raw)} bytes, at most {limit})", "5.3.4")
            outcomes = {r.id: fail for r in msg.recipients}
        elif kind == "none":
            wait = Outcome("temp", "no outgoing transport configured: set [outgoing] "
                           "transport in lanmaild.toml", "4.4.0")
            outcomes = {r.id: wait for r in msg.recipients}
        else:
            settings = a if a.transport != "default" else g
            transport = self.transports.get(kind, settings)
            prepared = await prepare(self.runtime, msg, name, a, g, kind)
            for env in prepared:
                for address, outcome in (await self._send(msg, kind, transport, env)).items():
                    for rid in by_addr.get(address.lower(), []):
                        outcomes.setdefault(rid, outcome)
        return self._result(cfg, g, msg, outcomes)

    async def _send(self, msg: OutboundMessage, kind: str, transport,
                    env: Prepared) -> dict[str, Outcome]:
        e = Envelope(env.sender, env.recipients, env.data, f"{msg.id}")
        try:
            result = await transport.send(e)
        except TransportError as exc:
            o = Outcome("perm" if exc.permanent else "temp", exc.reply, exc.status_code)
            result = {r: o for r in env.recipients}
        for rcpt in env.recipients:
            o = result.get(rcpt) or Outcome("temp", "no answer for this recipient", "4.0.0")
            result[rcpt] = o
            log.info("outgoing %d: to=<%s> via %s: %s (%s)", msg.id, _printable(rcpt), kind,
                     o.status, _printable(o.reply))
        return result

    def _result(self, cfg, g, msg: OutboundMessage, outcomes: dict[int, Outcome]
                ) -> OutboundResult:
        now = int(time.time())
        result = OutboundResult(msg.id)
        failures, delays = [], []
        expired = now - msg.created >= g.max_age
        for r in msg.recipients:
            o = outcomes.get(r.id) or Outcome("temp", "not sent", "4.0.0")
            if o.status == "sent":
                result.sent.append(r.id)
                self.stats["sent"] += 1
            elif o.status == "perm" or expired:
                result.failed.append(r.id)
                self.stats["failed"] += 1
                reason = o.reply if o.status == "perm" else \
                    f"gave up after {_age(now - msg.created)}; last error: {o.reply}"
                # RFC 3463: 4.4.7 "delivery time expired" for a message given up on
                status = _status(o, "5") if o.status == "perm" else "4.4.7"
                failures.append(Failure(r.address, r.id, status, reason, diagnostic=_diag(o)))
            else:
                wait = g.retry[min(r.attempts, len(g.retry) - 1)]
                result.deferred.append((r.id, now + wait, o.reply))
                self.stats["deferred"] += 1
                if g.delay_warning and not r.warned and now - msg.created >= g.delay_warning:
                    result.warned.append(r.id)
                    delays.append(Failure(r.address, r.id, _status(o, "4"), o.reply,
                                          diagnostic=_diag(o)))
        if msg.sender and (failures or delays):
            parsed = parse_message(msg.raw[: _header_end(msg.raw)])
            for action, items in (("failed", failures), ("delayed", delays)):
                if items:
                    result.new_mail.append(self._dsn(cfg, msg, parsed, items, action))
        elif failures:
            log.warning("outgoing %d: bounce of a null-sender mail dropped (%s)", msg.id,
                        _printable(failures[0].reason))
        return result

    def _dsn(self, cfg, msg: OutboundMessage, parsed, failures: list, action: str) -> tuple:
        view = SimpleNamespace(sender=msg.sender, raw=msg.raw, parsed=parsed,
                               failures=failures, queue_id=msg.id)
        raw = dsn.build_dsn(cfg, view, action)
        rcpts = [(msg.sender, "incoming")]
        pm = dsn.postmaster_address(cfg)
        if pm and pm != msg.sender.lower():
            rcpts.append((pm, "incoming"))
        return (raw, parse_message(raw), "", rcpts, "dsn", None)


def _status(o: Outcome, klass: str) -> str:
    """The RFC 3463 code to report, in class ``klass`` (4 or 5)."""
    code = o.status_code or ""
    return code if code.startswith(klass + ".") else f"{klass}.0.0"


def _diag(o: Outcome) -> str:
    return o.reply if o.reply[:3].isdigit() else ""


def _header_end(raw: bytes) -> int:
    end = raw.find(b"\r\n\r\n")
    return len(raw) if end < 0 else end + 4


def _age(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds // 86400} days"
    return f"{seconds // 3600} hours" if seconds >= 3600 else f"{seconds} seconds"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:300]
