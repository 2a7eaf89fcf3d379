"""``parse_message``: the one MIME parse a message ever gets (at delivery or APPEND).

The splitter works on the raw bytes and records offsets, so IMAP FETCH later only slices the
stored message. Structure rules follow RFC 2045/2046 with the lenient choices of Dovecot where
the RFCs leave room (first occurrence of a Content-* field wins, MIME-Version is not required,
line counts are the number of LF octets, an empty multipart is shown as one empty text/plain
part, which BODY[n] and BODY[n.MIME] then return as empty too, and a nested multipart that
reuses its parent's boundary owns it up to its own close delimiter), and RFC 2045 5.2 for
invalid Content-Type (treated as text/plain; charset=us-ascii; multipart without a boundary
counts as invalid). ENVELOPE and BODYSTRUCTURE are capped in size (``address`` and
``PARAMS_MAX``), whatever the header holds.

Hostile input: nesting is capped at ``MAX_DEPTH`` multipart/message levels and the tree at
``MAX_PARTS`` entities; beyond that, multiparts and message/rfc822 parts become opaque
application/octet-stream leaves (their bytes stay reachable by offset). Nothing here raises on
any input octets.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from .address import Address, envelope_bytes, first_values
from .headers import Field, decode_header_value, header_end, split_fields
from .params import (
    Param,
    filename,
    parse_content_type,
    parse_disposition,
    strip_comments,
    token_value,
)
from .render import NIL, nstring, string
from .text import MAX_OCTETS_PER_CHAR, base_subject, body_text

__all__ = [
    "LEAF",
    "MAX_DEPTH",
    "MAX_PARTS",
    "MAX_SEARCH_TEXT",
    "MULTIPART",
    "ParsedMessage",
    "PartOffsets",
    "parse_message",
]

_log = logging.getLogger(__name__)

MAX_DEPTH = 50
MAX_PARTS = 1000
MAX_SEARCH_TEXT = 1_000_000

# path -> (MIME header start, body start, end, kind) where kind is the body start of the
# embedded message for message/rfc822 parts, LEAF or MULTIPART otherwise.
PartOffsets = tuple[int, int, int, int]
LEAF = -1
MULTIPART = -2

_TEXT_PLAIN_DEFAULT = (Param("CHARSET", b"US-ASCII", "US-ASCII"),)
_EMPTY_BODY = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)'
_EMPTY_BODYSTRUCTURE = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)'
_SEARCH_HEADERS = ("subject", "from", "to", "cc", "bcc", "reply-to", "sender", "date",
                   "message-id", "in-reply-to", "organization", "keywords", "comments",
                   "list-id")
_MSGID = re.compile(r"<[^<>\s]*>")
_LANG_SPLIT = re.compile(r"[,\s]+")


@dataclass(slots=True, eq=False)
class _Part:
    """One MIME entity: offsets into raw plus what BODYSTRUCTURE needs."""

    hs: int
    bs: int
    end: int
    mtype: str
    subtype: str
    params: list[Param] | tuple[Param, ...]
    content: dict[str, str]
    fields: list[Field]
    children: list[_Part] | None = None
    message: _Part | None = None


@dataclass(slots=True)
class _Ctx:
    raw: bytes
    parts_left: int = MAX_PARTS
    limits_hit: bool = False


def _content_fields(fields: list[Field]) -> dict[str, str]:
    """First occurrence of each Content-* field (later duplicates ignored)."""
    out: dict[str, str] = {}
    for name, value, _s, _e in fields:
        if name.startswith("content-") and name not in out:
            out[name] = value
    return out


def _boundaries(
    raw: bytes, start: int, end: int, boundary: bytes, limit: int
) -> list[tuple[int, int]]:
    """Split ``raw[start:end]`` on ``--boundary`` lines; return (part start, part end) pairs.

    A delimiter must start a line; a normal delimiter may only be followed by whitespace on its
    line, a close delimiter (``--boundary--``) by anything. The line end before a delimiter
    belongs to the delimiter (RFC 2046 5.1.1), so it is not part of the preceding part. A
    missing close delimiter ends the last part at ``end``. At most ``limit`` parts are made;
    the last one then runs to ``end``. The regex has a literal prefix, so the scan runs in C.
    """
    delim = re.compile(b"--" + re.escape(boundary) + rb"(?:(--)|[ \t]*\r?$)", re.M)
    parts: list[tuple[int, int]] = []
    cur = -1
    for m in delim.finditer(raw, start, end):
        i = m.start()
        if i != start and raw[i - 1] != 0x0A:
            continue
        if cur >= 0:
            pe = i - 1  # the LF before the delimiter (i > start here)
            if pe > cur and raw[pe - 1] == 0x0D:
                pe -= 1
            parts.append((cur, max(cur, pe)))
            if len(parts) >= limit:
                parts[-1] = (cur, end)
                return parts
        if m.group(1) is not None:
            return parts
        nl = raw.find(b"\n", m.end(), end)
        if nl < 0:  # a delimiter line cut off by the end opens no part (as in Dovecot)
            return parts
        cur = nl + 1
    if cur >= 0:
        parts.append((cur, end))
    return parts


def _parse_entity(ctx: _Ctx, hs: int, end: int, depth: int, digest: bool) -> _Part:
    """Parse the entity at ``raw[hs:end]`` (header then body) and, recursively, its children."""
    raw = ctx.raw
    ctx.parts_left -= 1
    fields_end, bs = header_end(raw, hs, end)
    fields = split_fields(raw, hs, fields_end)
    content = _content_fields(fields)
    ct = parse_content_type(content.get("content-type"))
    if ct is None:
        ct = ("message", "rfc822", []) if digest else ("text", "plain", [])
    part = _Part(hs, bs, end, ct[0], ct[1], ct[2], content, fields)
    if part.mtype == "multipart":
        _parse_multipart(ctx, part, depth)
    elif part.mtype == "message" and part.subtype == "rfc822":
        if depth >= MAX_DEPTH or ctx.parts_left <= 0:
            _make_opaque(ctx, part)
        else:
            part.message = _parse_entity(ctx, bs, end, depth + 1, False)
    return part


def _parse_multipart(ctx: _Ctx, part: _Part, depth: int) -> None:
    boundary = next((p.wire for p in part.params if p.name == "BOUNDARY"), b"")
    if not boundary:
        part.mtype, part.subtype, part.params = "text", "plain", list(_TEXT_PLAIN_DEFAULT)
        return
    if depth >= MAX_DEPTH or ctx.parts_left <= 0:
        _make_opaque(ctx, part)
        return
    limit = max(ctx.parts_left, 1)
    ranges = _boundaries(ctx.raw, part.bs, part.end, boundary, limit)
    if len(ranges) >= limit:
        ctx.limits_hit = True
    digest = part.subtype == "digest"
    part.children = []
    while True:
        resume = None
        for start, stop in ranges:
            if ctx.parts_left <= 0:
                ctx.limits_hit = True
                break
            if _declares(ctx.raw, start, stop, boundary):
                # A nested multipart reusing this boundary (forbidden by RFC 2046 5.1.1,
                # seen in real mail): the innermost open multipart owns the delimiters up
                # to its own close delimiter, as Dovecot and MimeKit read it.
                close = _owned_close(ctx.raw, start, part.end, boundary)
                if close is not None and close > stop:
                    part.children.append(_parse_entity(ctx, start, close, depth + 1, digest))
                    resume = close
                    break
            part.children.append(_parse_entity(ctx, start, stop, depth + 1, digest))
        if resume is None or ctx.parts_left <= 0:
            break
        ranges = _boundaries(ctx.raw, resume, part.end, boundary, max(ctx.parts_left, 1))


def _declares(raw: bytes, hs: int, end: int, boundary: bytes) -> bool:
    """Does the entity at ``raw[hs:end]`` declare a multipart with ``boundary``?"""
    fields_end, _bs = header_end(raw, hs, end)
    ct = parse_content_type(_content_fields(split_fields(raw, hs, fields_end))
                            .get("content-type"))
    return ct is not None and ct[0] == "multipart" and any(
        p.name == "BOUNDARY" and p.wire == boundary for p in ct[2])


def _owned_close(raw: bytes, hs: int, end: int, boundary: bytes) -> int | None:
    """End of the close-delimiter line that closes the multipart starting at ``hs`` (which
    reuses ``boundary``), counting deeper multiparts that reuse it too; None if unclosed."""
    delim = re.compile(b"--" + re.escape(boundary) + rb"(?:(--)|[ \t]*\r?$)", re.M)
    depth = 0
    for m in delim.finditer(raw, hs, end):
        i = m.start()
        if i != hs and raw[i - 1] != 0x0A:
            continue
        nl = raw.find(b"\n", m.end(), end)
        if m.group(1) is not None:
            if depth == 0:
                return end if nl < 0 else nl + 1
            depth -= 1
        elif nl >= 0 and _declares(raw, nl + 1, end, boundary):
            depth += 1
    return None


def _make_opaque(ctx: _Ctx, part: _Part) -> None:
    """Past the nesting/part limits: keep the bytes, stop interpreting them."""
    ctx.limits_hit = True
    part.mtype, part.subtype = "application", "octet-stream"


# ---------------------------------------------------------------------------------------------
# BODY / BODYSTRUCTURE


# BODYSTRUCTURE size caps (issue 15 item 7): parameters of one part take at most
# PARAMS_MAX octets (a value at most PARAM_VALUE_MAX); with MAX_PARTS entities a
# BODYSTRUCTURE stays in the low megabytes whatever the sender wrote.
PARAMS_MAX = 2048
PARAM_VALUE_MAX = 1024


def _params_bytes(params: list[Param] | tuple[Param, ...]) -> bytes:
    if not params:
        return NIL
    out, size = [], 0
    for p in params:
        item = string(p.name[:PARAM_VALUE_MAX]) + b" " + string(p.wire[:PARAM_VALUE_MAX])
        if out and size + len(item) > PARAMS_MAX:
            break
        out.append(item)
        size += len(item) + 1
    return b"(" + b" ".join(out) + b")"


def _h(part: _Part, name: str) -> bytes:
    value = part.content.get(name)
    return NIL if value is None else nstring(value.encode("latin-1"))


def _extension(part: _Part) -> bytes:
    """body-fld-dsp SP body-fld-lang SP body-fld-loc (shared by leaf and multipart)."""
    dsp = parse_disposition(part.content.get("content-disposition"))
    dsp_b = NIL if dsp is None else b"(%s %s)" % (string(dsp[0].upper()), _params_bytes(dsp[1]))
    lang = part.content.get("content-language")
    tags = [t for t in _LANG_SPLIT.split(strip_comments(lang)) if t] if lang else []
    lang_b = b"(" + b" ".join(string(t.encode("latin-1")) for t in tags) + b")" if tags else NIL
    return b"%s %s %s" % (dsp_b, lang_b, _h(part, "content-location"))


def _leaf_params(part: _Part) -> list[Param] | tuple[Param, ...]:
    if part.mtype == "text" and not any(p.name == "CHARSET" for p in part.params):
        return [*part.params, *_TEXT_PLAIN_DEFAULT]
    return part.params


def _render(ctx: _Ctx, part: _Part) -> tuple[bytes, bytes]:
    """Return (BODY, BODYSTRUCTURE) for ``part``."""
    if part.children is not None:
        return _render_multipart(ctx, part)
    raw = ctx.raw
    cte = token_value(part.content.get("content-transfer-encoding")) or "7bit"
    basic = b"%s %s %s %s %s %s %d" % (
        string(part.mtype.upper()),
        string(part.subtype.upper()),
        _params_bytes(_leaf_params(part)),
        _h(part, "content-id"),
        _h(part, "content-description"),
        string(cte.upper().encode("latin-1")),
        part.end - part.bs,
    )
    body = ext = b""
    if part.message is not None:
        env = _envelope(part.message)[0]
        sub_body, sub_ext = _render(ctx, part.message)
        lines = raw.count(b"\n", part.bs, part.end)
        body = b" %s %s %d" % (env, sub_body, lines)
        ext = b" %s %s %d" % (env, sub_ext, lines)
    elif part.mtype == "text":
        body = ext = b" %d" % raw.count(b"\n", part.bs, part.end)
    tail = b" %s %s" % (_h(part, "content-md5"), _extension(part))
    return b"(" + basic + body + b")", b"(" + basic + ext + tail + b")"


def _render_multipart(ctx: _Ctx, part: _Part) -> tuple[bytes, bytes]:
    rendered = [_render(ctx, child) for child in part.children or ()]
    bodies = b"".join(r[0] for r in rendered) or _EMPTY_BODY
    structs = b"".join(r[1] for r in rendered) or _EMPTY_BODYSTRUCTURE
    sub = string(part.subtype.upper())
    ext = b" %s %s" % (_params_bytes(part.params), _extension(part))
    return b"(" + bodies + b" " + sub + b")", b"(" + structs + b" " + sub + ext + b")"


def _envelope(part: _Part) -> tuple[bytes, dict[str, list[Address]]]:
    return envelope_bytes(first_values(part.fields))


# ---------------------------------------------------------------------------------------------
# Part offsets for BODY[section]


def _numbered(x: _Part) -> list[_Part]:
    """The numbered parts of a message-like entity: its children, or itself as part 1."""
    if x.children is not None:
        return x.children
    return [x]


def _offsets(top: _Part, header_size: int, size: int) -> dict[str, PartOffsets]:
    parts: dict[str, PartOffsets] = {"": (0, 0, size, header_size)}
    stack: list[tuple[str, list[_Part]]] = [("", _numbered(top))]
    if top.children == []:
        parts["1"] = (top.bs, top.bs, top.bs, LEAF)
    while stack:
        prefix, subs = stack.pop()
        for k, p in enumerate(subs, 1):
            path = f"{prefix}{k}"
            if p.message is not None:
                kind = p.message.bs
            else:
                kind = LEAF if p.children is None else MULTIPART
            parts[path] = (p.hs, p.bs, p.end, kind)
            if p.children == []:
                # BODYSTRUCTURE shows an empty multipart as one empty text/plain part
                # (as Dovecot): BODY[n.1] and BODY[n.1.MIME] are that part, empty.
                parts[path + ".1"] = (p.bs, p.bs, p.bs, LEAF)
            if p.children is not None:
                stack.append((path + ".", p.children))
            elif p.message is not None:
                if p.message.children == []:
                    parts[path + ".1"] = (p.message.bs, p.message.bs, p.message.bs, LEAF)
                stack.append((path + ".", _numbered(p.message)))
    return parts


# ---------------------------------------------------------------------------------------------
# Decoded strings for SEARCH / SORT / archive


def _walk(part: _Part) -> Iterator[_Part]:
    yield part
    for child in part.children or ():
        yield from _walk(child)
    if part.message is not None:
        yield from _walk(part.message)


def _charset(part: _Part) -> str | None:
    return next((p.text for p in part.params if p.name == "CHARSET"), None)


def _first_charset(top: _Part) -> str | None:
    """The first declared body charset: the best guess for raw 8-bit header octets."""
    for p in _walk(top):
        if p.mtype == "text" and (cs := _charset(p)):
            return cs
    return None


def _text_parts(part: _Part) -> Iterator[tuple[bool, _Part]]:
    """(is_header, entity) pairs to index: text leaves, plus embedded messages' headers.

    Of a multipart/alternative only the plainest choice is indexed (the others repeat it).
    """
    if part.children is not None:
        kids = part.children
        if part.subtype == "alternative" and kids:
            best = next((k for k in kids if (k.mtype, k.subtype) == ("text", "plain")), None)
            best = best or next((k for k in kids if k.mtype == "text"), None) or kids[0]
            kids = [best]
        for kid in kids:
            yield from _text_parts(kid)
    elif part.message is not None:
        yield True, part.message
        yield from _text_parts(part.message)
    elif part.mtype == "text" or (part.mtype, part.subtype) == ("message", "partial"):
        # RFC 3501 6.4.4: BODY is all of the body; a message/partial's fragment is text
        yield False, part


def _header_text(fields: list[Field], hint: str | None, every: bool = False) -> list[str]:
    """The message's own header: the fields SEARCH TEXT looks at. An attached message's
    header is body text of the outer message (RFC 3501 6.4.4): ``every`` field of it."""
    return [
        f"{name}: {decode_header_value(value, hint)}"
        for name, value, _s, _e in fields
        if every or name in _SEARCH_HEADERS
    ]


def _search_text(ctx: _Ctx, top: _Part, hint: str | None) -> str:
    """Decoded header values, a blank line, then the decoded text parts, capped."""
    chunks = _header_text(top.fields, hint)
    chunks.append("")
    left = MAX_SEARCH_TEXT - sum(len(c) + 1 for c in chunks)
    for is_header, p in _text_parts(top):
        if left <= 0:
            break
        text = ("\n".join(_header_text(p.fields, hint, every=True)) if is_header
                else _leaf_text(ctx, p, left))
        chunks.append(text)
        left -= len(text) + 1
    return "\n".join(chunks)[:MAX_SEARCH_TEXT]


def _leaf_text(ctx: _Ctx, p: _Part, limit: int) -> str:
    cte = token_value(p.content.get("content-transfer-encoding")) or "7bit"
    # cut before slicing: a slice of the whole part would copy all of a 30 MB body
    end = min(p.end, p.bs + limit * MAX_OCTETS_PER_CHAR)
    return body_text(ctx.raw[p.bs : end], cte, _charset(p), p.subtype, limit)


def _attachment_names(top: _Part) -> list[str]:
    names: list[str] = []
    for p in _walk(top):
        if p.children is not None:
            continue
        dsp = parse_disposition(p.content.get("content-disposition"))
        name = filename(dsp[1] if dsp else [], p.params)
        if name:
            names.append(name)
    return names


def _epoch(value: str | None) -> int | None:
    """Date header as epoch seconds; a date without a zone is taken as UTC, not server time."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        if parsed[9] is None:
            parsed = (*parsed[:9], 0)
        return int(email.utils.mktime_tz(parsed))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _first_mailbox(addrs: list[Address]) -> Address | None:
    return next((a for a in addrs if a.host is not None), None)


def _display(addr: Address | None, hint: str | None) -> str:
    """RFC 5957 display name: decoded personal name, else mailbox@host."""
    if addr is None:
        return ""
    if addr.name:
        return decode_header_value(addr.name, hint)
    return decode_header_value(f"{addr.mailbox}@{addr.host}", hint)


# ---------------------------------------------------------------------------------------------
# The result


@dataclass(slots=True)
class ParsedMessage:
    """Everything IMAP/SEARCH/archive need about one message, computed once at delivery.

    ``envelope``, ``bodystructure`` and ``body`` are ready-to-send IMAP bytes. ``parts`` maps a
    section path ("" = whole message, "1", "2.1" ...) to (MIME header start, body start, end,
    kind) offsets into the raw message, kind being the embedded message's body start for
    message/rfc822 parts (and for "", the header size), ``LEAF`` (-1) or ``MULTIPART`` (-2);
    see ``section_bytes``.
    The str fields are decoded (RFC 2047, charsets) and safe for SQLite TEXT.
    """

    header_size: int
    envelope: bytes
    bodystructure: bytes
    body: bytes
    parts: dict[str, PartOffsets]
    subject: str = ""
    from_: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    date: int | None = None
    base_subject: str = ""
    sort_from: str = ""
    sort_to: str = ""
    sort_cc: str = ""
    display_from: str = ""
    display_to: str = ""
    search_text: str = ""
    attachment_names: list[str] = field(default_factory=list)
    has_8bit_headers: bool = False
    limits_hit: bool = False

    @property
    def search_body(self) -> str:
        """The body half of ``search_text`` (after the header lines and the empty line)."""
        if self.search_text.startswith("\n"):
            return self.search_text[1:]
        return self.search_text.partition("\n\n")[2]

    def parts_json(self) -> bytes:
        """Compact storage form of ``parts``: ``[["",0,0,size,hsize],["1",...],...]``."""
        rows = [[path, *offs] for path, offs in self.parts.items()]
        return json.dumps(rows, separators=(",", ":")).encode("ascii")

    @staticmethod
    def parts_from_json(blob: bytes | str) -> dict[str, PartOffsets]:
        """Inverse of ``parts_json``."""
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in json.loads(blob)}

    def to_json(self) -> str:
        """Whole object as JSON; bytes fields are stored as latin-1 strings (lossless)."""
        data = asdict(self)
        for key in ("envelope", "bodystructure", "body"):
            data[key] = data[key].decode("latin-1")
        data["parts"] = [[path, *offs] for path, offs in self.parts.items()]
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ParsedMessage:
        """Inverse of ``to_json``."""
        data = json.loads(text)
        for key in ("envelope", "bodystructure", "body"):
            data[key] = data[key].encode("latin-1")
        data["parts"] = {row[0]: tuple(row[1:5]) for row in data["parts"]}
        return cls(**data)


def _decoded(hdr: dict[str, str], name: str, hint: str | None) -> str:
    value = hdr.get(name)
    return "" if value is None else decode_header_value(value, hint).strip()


def _sort_keys(addrs: dict[str, list[Address]], hint: str | None) -> dict[str, str]:
    """RFC 5256 SORT keys (first mailbox local part) and RFC 5957 DISPLAY names."""
    first = {name: _first_mailbox(addrs[name]) for name in ("from", "to", "cc")}
    keys = {
        f"sort_{name}": decode_header_value(a.mailbox or "") if a else ""
        for name, a in first.items()
    }
    keys["display_from"] = _display(first["from"], hint)
    keys["display_to"] = _display(first["to"], hint)
    return keys


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw`` (the message as stored, ideally CRLF-normalised) once, for good.

    The parser is written not to raise on any octets; should a bug still make it raise, the
    message is described as one opaque text/plain body rather than bounced or lost.
    """
    try:
        return _parse(raw)
    except Exception:  # noqa: BLE001 - delivery must not fail on a parser bug
        _log.exception("MIME parse failed; storing message with a minimal structure")
        return _minimal(bytes(raw))


def _minimal(raw: bytes) -> ParsedMessage:
    """Last-resort description: header/body split only, NIL envelope, text/plain body."""
    _fields_end, hsize = header_end(raw, 0, len(raw))
    size, lines = len(raw) - hsize, raw.count(b"\n", hsize)
    basic = b'"TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d %d' % (size, lines)
    return ParsedMessage(
        header_size=hsize,
        envelope=b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure=b"(" + basic + b" NIL NIL NIL NIL)",
        body=b"(" + basic + b")",
        parts={"": (0, 0, len(raw), hsize), "1": (0, hsize, len(raw), LEAF)},
        limits_hit=True,
    )


def _parse(raw: bytes) -> ParsedMessage:
    ctx = _Ctx(bytes(raw))
    top = _parse_entity(ctx, 0, len(ctx.raw), 0, False)
    body, bodystructure = _render(ctx, top)
    envelope, addrs = _envelope(top)
    hdr = first_values(top.fields)
    hint = _first_charset(top)
    subject = _decoded(hdr, "subject", hint)
    refs = " ".join(v for n, v, _s, _e in top.fields if n == "references")
    return ParsedMessage(
        header_size=top.bs,
        envelope=envelope,
        bodystructure=bodystructure,
        body=body,
        parts=_offsets(top, top.bs, len(ctx.raw)),
        subject=subject,
        from_=_decoded(hdr, "from", hint),
        to=_decoded(hdr, "to", hint),
        cc=_decoded(hdr, "cc", hint),
        bcc=_decoded(hdr, "bcc", hint),
        message_id=_decoded(hdr, "message-id", hint),
        in_reply_to=_decoded(hdr, "in-reply-to", hint),
        references=[decode_header_value(r) for r in _MSGID.findall(refs)],
        date=_epoch(hdr.get("date")),
        base_subject=base_subject(subject),
        search_text=_search_text(ctx, top, hint),
        attachment_names=_attachment_names(top),
        has_8bit_headers=not ctx.raw[: top.bs].isascii(),
        limits_hit=ctx.limits_hit,
        **_sort_keys(addrs, hint),
    )
