"""Turning MIME bodies into searchable text, and RFC 5256 base subjects.

Only used at delivery time, so it may decode; it must still be linear-time on hostile input
(the HTML stripper uses patterns that cannot backtrack quadratically).
"""

from __future__ import annotations

import binascii
import html
import re

from .headers import decode_bytes

__all__ = ["base_subject", "decode_transfer", "html_to_text", "body_text"]

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|\Z)", re.S | re.I)
_TAG = re.compile(r"<[^<>]*>")
_BLOCK_TAG = re.compile(r"<(?:br|/p|/div|/tr|/li|/h[1-6])\b[^<>]*>", re.I)
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def decode_transfer(data: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding; unknown encodings and broken data degrade, not raise."""
    if encoding == "base64":
        try:
            return binascii.a2b_base64(data)
        except (binascii.Error, ValueError):
            clean = _B64_JUNK.sub(b"", data)
            clean = clean[: len(clean) - len(clean) % 4]
            try:
                return binascii.a2b_base64(clean)
            except (binascii.Error, ValueError):
                return b""
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def html_to_text(text: str) -> str:
    """Crude HTML to text for indexing: drop scripts/styles and tags, unescape entities."""
    text = _SCRIPT_STYLE.sub(" ", text)
    text = _BLOCK_TAG.sub("\n", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


MAX_OCTETS_PER_CHAR = 8  # html; plain text needs at most 4


def body_text(data: bytes, encoding: str, charset: str | None, subtype: str, limit: int) -> str:
    """Decoded text of one text/* part, at most ``limit`` characters.

    The encoded data is cut first (4 octets per wanted character is generous for any
    transfer/charset encoding) so a huge part costs no more than ``limit`` needs.
    """
    if limit <= 0:
        return ""
    factor = MAX_OCTETS_PER_CHAR if subtype == "html" else 4
    data = data[: limit * factor]
    text = decode_bytes(decode_transfer(data, encoding), charset)
    if subtype == "html":
        text = html_to_text(text)
    return text[:limit]


_WS = re.compile(r"\s+")
_BLOB = r"\[[^\[\]]*\] *"
_LEADER = re.compile(r"(?:(?:" + _BLOB + r")*(?:re|fwd?) *(?:" + _BLOB + r")?:| )", re.I)
_LEADING_BLOB = re.compile(_BLOB)
_MAX_SUBJECT = 1000


def _strip_trailer(s: str) -> str:
    """RFC 5256 step 2: drop trailing "(fwd)" and spaces, repeatedly."""
    end = len(s)
    while end > 0:
        if s[end - 1] == " ":
            end -= 1
        elif s[max(0, end - 5) : end].lower() == "(fwd)":
            end -= 5
        else:
            break
    return s[:end]


def base_subject(subject: str) -> str:
    """RFC 5256 section 2.1 base subject (input already RFC 2047 decoded).

    Compare results with i;ascii-casemap (e.g. SQLite ``COLLATE NOCASE``). Only the first
    ``_MAX_SUBJECT`` characters are considered, which keeps hostile subjects linear-time.
    """
    s = _WS.sub(" ", subject[:_MAX_SUBJECT])
    for _ in range(100):  # bounded: each round strips something or stops
        s = _strip_trailer(s)
        pos = 0
        while True:
            m = _LEADER.match(s, pos)
            if m is not None and m.end() > pos:
                pos = m.end()
                continue
            m = _LEADING_BLOB.match(s, pos)
            if m is not None and s[m.end() :].strip():
                pos = m.end()
                continue
            break
        s = s[pos:]
        if s[:5].lower() == "[fwd:" and s.endswith("]"):
            s = s[5:-1]
            continue
        break
    return s
