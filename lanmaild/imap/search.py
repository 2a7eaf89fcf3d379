"""SEARCH: IMAP search keys (parser tuples) -> the store's search program.

Sequence numbers become UID ranges of this session's view, \\Recent becomes the session's
own recent UIDs, strings are decoded in the CHARSET the client named. The store compiles
the program to one SQL statement (header fields from the blob columns, TEXT/BODY through
the FTS5 trigram index).
"""

from __future__ import annotations

import calendar
import codecs
import datetime as _dt

from ..store.mailbox import FLAG_BITS
from .base import No
from .selected import SelectedMailbox

CHARSETS = ("US-ASCII", "UTF-8")
_EXTRA_CHARSETS = {f"ISO-8859-{i}" for i in range(1, 17)} | {
    f"WINDOWS-{i}" for i in range(1250, 1259)} | {"KOI8-R", "KOI8-U"}

_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
}
_FIELD_KEYS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc", "SUBJECT": "subject"}
_HEADER_FIELDS = {"from", "to", "cc", "bcc", "subject", "message-id", "in-reply-to"}
DAY = 86400


def check_charset(charset: str | None) -> str:
    if charset is None or charset in CHARSETS:
        return "utf-8"
    if charset in _EXTRA_CHARSETS:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    raise No(f"Unsupported charset {charset}", "BADCHARSET (US-ASCII UTF-8)")


def _day(d: _dt.date) -> int:
    return calendar.timegm(d.timetuple())


class Translator:
    def __init__(self, box: SelectedMailbox, codec: str) -> None:
        self.box = box
        self.codec = codec

    def text(self, value: bytes) -> str:
        return value.decode(self.codec, "replace")

    def recent(self) -> tuple:
        uids = sorted(self.box.recent)
        return ("UIDS", [(u, u) for u in uids])

    def dates(self, which: str, op: str, d: _dt.date) -> tuple:
        start = _day(d)
        if op == "BEFORE":
            return ("DATE", which, "<", start)
        if op == "SINCE":
            return ("DATE", which, ">=", start)
        return ("AND", [("DATE", which, ">=", start), ("DATE", which, "<", start + DAY)])

    def node(self, key: tuple) -> tuple:
        kind = key[0]
        if kind == "AND":
            return ("AND", [self.node(k) for k in key[1]])
        if kind == "OR":
            return ("OR", self.node(key[1]), self.node(key[2]))
        if kind == "NOT":
            return ("NOT", self.node(key[1]))
        if kind == "ALL":
            return ("ALL",)
        if kind in _FLAG_KEYS:
            name, present = _FLAG_KEYS[kind]
            return ("FLAG", FLAG_BITS[name], present)
        if kind == "RECENT":
            return self.recent()
        if kind == "NEW":
            return ("AND", [self.recent(), ("FLAG", FLAG_BITS["\\Seen"], False)])
        if kind == "OLD":
            return ("NOT", self.recent())
        if kind in _FIELD_KEYS:
            return ("FIELD", _FIELD_KEYS[kind], self.text(key[1]))
        if kind == "TEXT":
            return ("TEXT", self.text(key[1]))
        if kind == "BODY":
            return ("BODY", self.text(key[1]))
        if kind == "HEADER":
            name, value = key[1].lower(), self.text(key[2])
            if name in _HEADER_FIELDS and value:
                return ("FIELD", name, value)
            return ("HEADER", name, value)
        if kind in ("BEFORE", "ON", "SINCE"):
            return self.dates("internal", kind, key[1])
        if kind in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            return self.dates("sent", kind[4:], key[1])
        if kind == "KEYWORD":
            return ("KEYWORD", key[1], True)
        if kind == "UNKEYWORD":
            return ("KEYWORD", key[1], False)
        if kind == "LARGER":
            return ("SIZE", ">", key[1])
        if kind == "SMALLER":
            return ("SIZE", "<", key[1])
        if kind == "UID":
            return ("UIDS", self.box.uid_ranges_for_uids(key[1]))
        if kind == "SEQ":
            return ("UIDS", self.box.uid_ranges_for_seqs(key[1]))
        if kind == "MODSEQ":
            return ("MODSEQ", key[1])
        raise ValueError(kind)


def translate(box: SelectedMailbox, charset: str | None, program: tuple) -> tuple:
    return Translator(box, check_charset(charset)).node(program)
