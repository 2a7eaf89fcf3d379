"""FETCH: which store columns a request needs, and rendering one message's response.

Nothing is parsed at request time: ENVELOPE, BODYSTRUCTURE and BODY are the bytes the MIME
parser produced at delivery, and BODY[section] is a slice of the raw message found through
the part offsets stored beside it (``ParsedMessage.parts_json``). Only what a request needs
is read: metadata requests never touch ``blob_raw``; header-only sections read just the
header.
"""

from __future__ import annotations

import json
import time

from ..mime.headers import header_fields
from ..mime.render import literal
from .parser import FetchAtt, Section
from .selected import flags_bytes

SEEN_SETTING = {"RFC822", "RFC822.TEXT"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def internaldate(stamp: int) -> bytes:
    t = time.gmtime(stamp)
    return b'"%02d-%s-%04d %02d:%02d:%02d +0000"' % (
        t.tm_mday, _MONTHS[t.tm_mon - 1].encode(), t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


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
    blob = row.get("parts")
    if blob:
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in json.loads(blob)}
    from ..mime.parser import parse_message  # stored before part offsets existed

    return parse_message(row["raw"]).parts


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
    raw = row["raw"]
    offsets = _parts(row).get(".".join(str(p) for p in section.part))
    if offsets is None:
        return None
    hs, bs, end, mbs = offsets
    if section.text == "":
        return raw[bs:end]
    if section.text == "MIME":
        return raw[hs:bs]
    if mbs < 0:  # HEADER/TEXT of a part that is not message/rfc822
        return b""
    if section.text == "TEXT":
        return raw[mbs:end]
    header = raw[bs:mbs]
    if section.text == "HEADER":
        return header
    return header_fields(header, section.fields, section.text == "HEADER.FIELDS.NOT")


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
