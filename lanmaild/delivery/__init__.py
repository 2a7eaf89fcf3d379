"""Local delivery: the queue worker and the pipeline (see ``pipeline`` for the stages).

``start(runtime)`` runs the queue worker as a service. ``submit()`` is the one entry point
for mail that does not come in over SMTP (mail fetched from external accounts, mail
lanmaild makes itself): it queues durably and the same pipeline delivers it.

Outgoing mail: recipients outside the local domains end in queue state ``outbound``
(``lanmailctl queue list``); the outgoing transport (smarthost, a later issue) takes them
from there.
"""

from __future__ import annotations

from ..mime import normalize_crlf, parse_message
from .worker import QueueWorker

__all__ = ["QueueWorker", "start", "submit"]


async def submit(runtime, raw: bytes, sender: str, recipients: list[str], source: str, *,
                 auth_account: str | None = None, trusted: bool = False) -> int:
    """Queue ``raw`` for ``recipients`` (durable on return) and wake the worker.

    ``source`` tells the pipeline where the mail came from: ``fetch`` for mail fetched
    from an external mailbox (email commands are never honoured for it), ``local`` for
    mail lanmaild makes itself.
    """
    raw = normalize_crlf(raw)
    parsed = parse_message(raw)
    qid = await runtime.store.queue.enqueue(raw, parsed, sender,
                                            [(r, "incoming") for r in recipients], source,
                                            auth_account=auth_account, trusted=trusted)
    worker = runtime.services.get("delivery")
    if worker is not None:
        worker.accepted(qid, raw, parsed)
    return qid


async def start(runtime) -> list:
    worker = QueueWorker(runtime)
    runtime.services["delivery"] = worker
    worker.start()
    return [worker]
