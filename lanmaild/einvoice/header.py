"""The ``X-LANMail-EInvoice`` header field: ours on top, any the sender wrote removed."""

from __future__ import annotations

import re

from .xmlcheck import Verdict

HEADER = b"X-LANMail-EInvoice"
_OURS = re.compile(rb"^x-lanmail-einvoice[ \t]*:.*\r\n(?:[ \t].*\r\n)*", re.I | re.M)


def mark(raw: bytes, verdict: Verdict) -> bytes:
    end = raw.find(b"\r\n\r\n")
    header = raw[: end + 2] if end >= 0 else raw
    rest = raw[len(header):]
    header = _OURS.sub(b"", header)
    value = verdict.header().encode("ascii", "replace")
    return HEADER + b": " + value + b"\r\n" + header + rest
