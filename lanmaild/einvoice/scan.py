"""Scanning a mail before the pipeline runs, off the event loop.

The pipeline's stages are pure and run on the loop; the scan (PDF and XML parsing of
attachments, up to the message size limit) must not. So the queue worker calls ``prescan``
first: only for a mail with an e-invoice mailbox among its recipients (directly or
through groups), in a worker process (``_executor``: not the loop, not the store's
writer thread, not the GIL they share), bounded by ``detect.BUDGET``. The verdict goes
into the ``Mail`` for the ``einvoice`` stage, and our ``X-LANMail-EInvoice`` header field
on top of the message (any such field the sender wrote is removed first: no forgery).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..mime import parse_message
from .detect import scan_and_mark
from .header import mark
from .xmlcheck import Verdict


def needed(cfg, recipients: list[str]) -> bool:
    """Does any recipient reach an e-invoice mailbox (also through groups)?"""
    if not any(a.einvoice for a in cfg.accounts.values()):
        return False
    from ..delivery.address import resolve  # not at import: the scan process stays light

    seen: set[str] = set()
    todo = list(recipients)
    while todo:
        r = resolve(cfg, todo.pop())
        if r.kind == "account" and cfg.account(r.name).einvoice:
            return True
        if r.kind == "group" and r.name not in seen:
            seen.add(r.name)
            todo += list(cfg.group(r.name).members)
    return False


_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    """One worker process for the scans. A thread is not enough: pypdf and lxml run long
    stretches of C code (regular expressions over the whole file, parsing) that hold the
    GIL, which would stall the event loop for as long. The worker is started with
    forkserver (never fork a threaded process) and replaced if it dies."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1,
                                    mp_context=multiprocessing.get_context("forkserver"))
    return _pool


async def prescan(cfg, raw: bytes, recipients: list[str]
                  ) -> tuple[bytes, object, Verdict] | None:
    """(the marked message, its parse, its verdict), or None when no e-invoice mailbox
    gets it."""
    global _pool
    if not needed(cfg, recipients):
        return None
    loop = asyncio.get_running_loop()
    try:
        marked, verdict = await loop.run_in_executor(_executor(), scan_and_mark, raw)
    except BrokenProcessPool:
        _pool = None  # the worker died (a hostile file, out of memory): start a new one
        verdict = Verdict(container="eml", reasons=["the scan failed: the scanning process "
                                                    "died on this mail"])
        marked = mark(raw, verdict)
    parsed = await asyncio.to_thread(parse_message, marked)
    return marked, parsed, verdict
