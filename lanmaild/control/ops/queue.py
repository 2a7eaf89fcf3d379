"""queue.list / queue.show / queue.delete: the mail queue (accepted, not yet done)."""

from __future__ import annotations

from ...store.queue import STATES
from ..registry import OpError, arg, op


def _worker(runtime):
    return runtime.services.get("delivery")


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
    for item in items:
        if item["id"] in busy:
            for r in item["recipients"]:
                if r["state"] in ("incoming", "deferred"):
                    r["state"] = "delivering"
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
    worker = _worker(runtime)
    if worker is not None and qid in worker.inflight:
        raise OpError("conflict", f"message {qid} is being delivered right now")
    if not await runtime.store.queue.delete(qid):
        raise OpError("not_found", f"no queued message {qid}")
    return {"deleted": qid}
