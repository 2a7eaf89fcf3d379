"""queue.list / show / delete / retry / flush: the mail queue (accepted, not yet done)."""

from __future__ import annotations

from ...store.queue import STATES
from ..registry import OpError, arg, op


def _worker(runtime):
    return runtime.services.get("delivery")


def _busy(runtime) -> set[int]:
    """Queue ids the pipeline or the outgoing transports work on right now."""
    busy: set[int] = set()
    for name in ("delivery", "outgoing"):
        service = runtime.services.get(name)
        if service is not None:
            busy |= service.inflight
    return busy


def _wake_all(runtime) -> None:
    for name in ("delivery", "outgoing"):
        service = runtime.services.get(name)
        if service is not None:
            service.wake()


@op("queue.list")
async def queue_list(runtime, args: dict) -> dict:
    """Queued messages with their recipients' states (incoming, deferred, outbound, ...)."""
    state = arg(args, "state", required=False)
    if state is not None and state not in STATES:
        raise OpError("invalid", f"state must be one of {', '.join(STATES)}")
    limit = arg(args, "limit", int, required=False, default=1000)
    items = await runtime.store.queue.list(state, limit=max(1, limit))
    worker = _worker(runtime)
    busy = worker.inflight if worker is not None else set()
    outgoing = runtime.services.get("outgoing")
    sending = outgoing.inflight if outgoing is not None else set()
    for item in items:
        for r in item["recipients"]:
            if item["id"] in busy and r["state"] in ("incoming", "deferred"):
                r["state"] = "delivering"
            elif item["id"] in sending and r["state"] == "outbound":
                r["state"] = "sending"
    return {"messages": items, "counts": await runtime.store.queue.counts()}


@op("queue.show")
async def queue_show(runtime, args: dict) -> dict:
    """One queued message: envelope, recipients and their states, the header."""
    qid = arg(args, "id", int)
    item = await runtime.store.queue.show(qid)
    if item is None:
        raise OpError("not_found", f"no queued message {qid}")
    return item


@op("queue.delete")
async def queue_delete(runtime, args: dict) -> dict:
    """Remove a message from the queue (all its recipients); it is not delivered."""
    qid = arg(args, "id", int)
    if qid in _busy(runtime):
        raise OpError("conflict", f"message {qid} is being delivered right now; try again "
                      "in a moment")
    if not await runtime.store.queue.delete(qid):
        raise OpError("not_found", f"no queued message {qid}")
    return {"deleted": qid}


@op("queue.retry")
async def queue_retry(runtime, args: dict) -> dict:
    """Try a waiting message again now (its deferred and outbound recipients)."""
    qid = arg(args, "id", int)
    if await runtime.store.queue.show(qid) is None:
        raise OpError("not_found", f"no queued message {qid}")
    n = await runtime.store.outbound.retry(qid)
    _wake_all(runtime)
    return {"id": qid, "recipients": n}


@op("queue.flush")
async def queue_flush(runtime, args: dict) -> dict:
    """Try every waiting message again now."""
    n = await runtime.store.outbound.retry(None)
    _wake_all(runtime)
    return {"recipients": n}
