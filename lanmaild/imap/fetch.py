"""FETCH: which store columns a request needs, and rendering one message's response.

Nothing is parsed at request time: ENVELOPE, BODYSTRUCTURE and BODY are the bytes the MIME
parser produced at delivery, and BODY[section] is a slice of the raw message found through
the part offsets stored beside it (``ParsedMessage.parts_json``). Only what a request needs
is read: metadata requests never touch ``blob_raw``; header-only sections read just the
header.
"""

from __future__ import annotations

import time

from ..mime.headers import header_fields
from ..mime.parser import ParsedMessage
from ..mime.render import literal
from ..mime.sections import slice_part
from .parser import FetchAtt, Section
from .selected import flags_bytes

SEEN_SETTING = {"RFC822", "RFC822.TEXT"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_DAYS: dict[int, bytes] = {}


def internaldate(stamp: int) -> bytes:
    """INTERNALDATE in UTC; the date part is cached per day (FETCH 1:* formats many)."""
    day, secs = divmod(stamp, 86400)
    prefix = _DAYS.get(day)
    if prefix is None:
        t = time.gmtime(day * 86400)
        prefix = b'"%02d-%s-%04d ' % (t.tm_mday, _MONTHS[t.tm_mon - 1].encode(), t.tm_year)
        if len(_DAYS) > 20000:
            _DAYS.clear()
        _DAYS[day] = prefix
    return prefix + b'%02d:%02d:%02d +0000"' % (secs // 3600, secs // 60 % 60, secs % 60)


def sets_seen(att: FetchAtt) -> bool:
    return att.name in SEEN_SETTING or (att.section is not None and not att.peek)


def _header_only(section: Section) -> bool:
    return not section.part and section.text in ("HEADER", "HEADER.FIELDS",
                                                 "HEADER.FIELDS.NOT")


def columns(atts: list[FetchAtt]) -> tuple[str, ...]:
    """The FETCH_COLUMNS a request needs (uid first, always)."""
    cols = ["uid"]

    def need(*names: str) -> None:
        for n in names:
            if n not in cols:
                cols.append(n)

    for att in atts:
        if att.name == "FLAGS":
            need("flags", "keywords")
        elif att.name == "INTERNALDATE":
            need("internaldate")
        elif att.name == "RFC822.SIZE":
            need("size")
        elif att.name == "MODSEQ":
            need("modseq")
        elif att.name in ("ENVELOPE", "BODYSTRUCTURE"):
            need(att.name.lower())
        elif att.name == "BODY":
            need("body")
        elif att.name == "RFC822.HEADER":
            need("header")
        elif att.name in ("RFC822", "RFC822.TEXT"):
            need("raw", "header_size")
        elif att.section is not None:
            if _header_only(att.section):
                need("header")
            else:
                need("raw", "header_size", "parts")
    return tuple(cols)


def _parts(row: dict) -> dict:
    return ParsedMessage.parts_from_json(row["parts"])


def section_bytes(row: dict, section: Section) -> bytes | None:
    """The octets of BODY[section] (None = NIL for a part that does not exist)."""
    if not section.part:
        if section.text == "":
            return row["raw"]
        if section.text == "TEXT":
            return row["raw"][row["header_size"]:]
        header = row["header"] if "header" in row else row["raw"][:row["header_size"]]
        if section.text == "HEADER":
            return header
        return header_fields(header, section.fields, section.text == "HEADER.FIELDS.NOT")
    return slice_part(row["raw"], _parts(row), ".".join(str(p) for p in section.part),
                      section.text, section.fields)


_FLAG_CACHE: dict[tuple[int, str | None, bool], bytes] = {}


def cached_flags(flags: int, keywords: str | None, recent: bool) -> bytes:
    key = (flags, keywords, recent)
    value = _FLAG_CACHE.get(key)
    if value is None:
        if len(_FLAG_CACHE) > 4096:
            _FLAG_CACHE.clear()
        value = _FLAG_CACHE[key] = flags_bytes(flags, keywords, recent)
    return value


_FAST = {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY",
         "MODSEQ"}


def compile_renderer(atts: list[FetchAtt], cols: tuple[str, ...]):
    """A renderer for rows as returned by the store (tuples in ``cols`` order).

    The metadata-only attributes (what clients ask for when they open a folder) are
    rendered from tuple positions without building a dict per message; anything with
    body sections goes through ``render``.
    """
    if not all(a.name in _FAST for a in atts):
        def slow(seq: int, row: tuple, recent: bool, add_flags: bool) -> bytes:
            return render(seq, dict(zip(cols, row, strict=True)), atts, recent, add_flags)
        return slow
    pos = {c: i for i, c in enumerate(cols)}
    steps = []
    for att in atts:
        name = att.name
        if name == "UID":
            i = pos["uid"]
            steps.append(lambda row, recent, i=i: b"UID %d" % row[i])
        elif name == "FLAGS":
            i, k = pos["flags"], pos["keywords"]
            steps.append(lambda row, recent, i=i, k=k:
                         b"FLAGS " + cached_flags(row[i], row[k], recent))
        elif name == "INTERNALDATE":
            i = pos["internaldate"]
            steps.append(lambda row, recent, i=i: b"INTERNALDATE " + internaldate(row[i]))
        elif name == "RFC822.SIZE":
            i = pos["size"]
            steps.append(lambda row, recent, i=i: b"RFC822.SIZE %d" % row[i])
        elif name == "MODSEQ":
            i = pos["modseq"]
            steps.append(lambda row, recent, i=i: b"MODSEQ (%d)" % row[i])
        else:
            i = pos[name.lower()]
            label = name.encode() + b" "
            steps.append(lambda row, recent, i=i, label=label: label + (row[i] or b"NIL"))
    fi = pos.get("flags")
    ki = pos.get("keywords")

    def fast(seq: int, row: tuple, recent: bool, add_flags: bool) -> bytes:
        items = [step(row, recent) for step in steps]
        if add_flags:
            items.append(b"FLAGS " + cached_flags(row[fi], row[ki], recent))
        return b"* %d FETCH (" % seq + b" ".join(items) + b")\r\n"

    return fast


def render(seq: int, row: dict, atts: list[FetchAtt], recent: bool,
           add_flags: bool) -> bytes:
    """``* seq FETCH (...)`` for one message (``row`` maps column names to values)."""
    items: list[bytes] = []
    for att in atts:
        name = att.name
        if name == "UID":
            items.append(b"UID %d" % row["uid"])
        elif name == "FLAGS":
            items.append(b"FLAGS " + flags_bytes(row["flags"], row["keywords"], recent))
        elif name == "INTERNALDATE":
            items.append(b"INTERNALDATE " + internaldate(row["internaldate"]))
        elif name == "RFC822.SIZE":
            items.append(b"RFC822.SIZE %d" % row["size"])
        elif name == "MODSEQ":
            items.append(b"MODSEQ (%d)" % row["modseq"])
        elif name == "ENVELOPE":
            items.append(b"ENVELOPE " + (row["envelope"] or b"NIL"))
        elif name == "BODYSTRUCTURE":
            items.append(b"BODYSTRUCTURE " + (row["bodystructure"] or b"NIL"))
        elif name == "BODY":
            items.append(b"BODY " + (row["body"] or b"NIL"))
        elif name == "RFC822":
            items.append(b"RFC822 " + literal(row["raw"]))
        elif name == "RFC822.HEADER":
            items.append(b"RFC822.HEADER " + literal(row["header"]))
        elif name == "RFC822.TEXT":
            items.append(b"RFC822.TEXT " + literal(row["raw"][row["header_size"]:]))
        else:
            data = section_bytes(row, att.section)
            label = att.response_name().encode()
            if data is None:
                items.append(label + b" NIL")
                continue
            if att.partial is not None:
                origin, length = att.partial
                data = data[origin:origin + length]
            items.append(label + b" " + literal(data))
    if add_flags:
        items.append(b"FLAGS " + flags_bytes(row["flags"], row["keywords"], recent))
    return b"* %d FETCH (" % seq + b" ".join(items) + b")\r\n"
