"""Scanning a mail before the pipeline runs, off the event loop.

The pipeline's stages are pure and run on the loop; the scan (PDF and XML parsing of
attachments, up to the message size limit) must not. So the queue worker calls ``prescan``
first: only for a mail with an e-invoice mailbox among its recipients (directly or
through groups), in a worker thread (neither the loop nor the store's writer thread),
bounded by ``detect.BUDGET``. The verdict goes into the ``Mail`` for the ``einvoice``
stage, and our ``X-LANMail-EInvoice`` header field on top of the message (any such field
the sender wrote is removed first, so it cannot be forged).
"""

from __future__ import annotations

import asyncio
import re

from ..delivery.address import resolve
from ..mime import parse_message
from .detect import check_mail
from .xmlcheck import Verdict

HEADER = b"X-LANMail-EInvoice"
_OURS = re.compile(rb"^x-lanmail-einvoice[ \t]*:.*\r\n(?:[ \t].*\r\n)*", re.I | re.M)


def needed(cfg, recipients: list[str]) -> bool:
    """Does any recipient reach an e-invoice mailbox (also through groups)?"""
    if not any(a.einvoice for a in cfg.accounts.values()):
        return False
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


def mark(raw: bytes, verdict: Verdict) -> bytes:
    end = raw.find(b"\r\n\r\n")
    header = raw[: end + 2] if end >= 0 else raw
    rest = raw[len(header):]
    header = _OURS.sub(b"", header)
    value = verdict.header().encode("ascii", "replace")
    return HEADER + b": " + value + b"\r\n" + header + rest


async def prescan(cfg, raw: bytes, recipients: list[str]) -> tuple[bytes, object, Verdict] | None:
    """(the marked message, its parse, its verdict), or None when no e-invoice mailbox
    gets it."""
    if not needed(cfg, recipients):
        return None

    def work() -> tuple[bytes, object, Verdict]:
        verdict = check_mail(raw)
        marked = mark(raw, verdict)
        return marked, parse_message(marked), verdict

    return await asyncio.to_thread(work)
