"""Hostile input: parse_message never raises, offsets stay in range, IMAP output stays valid.

The checks call the internal ``_parse`` (``parse_message`` has a last-resort fallback that
would hide a parser exception) and validate ENVELOPE/BODY/BODYSTRUCTURE with a small strict
RFC 3501 reader: one space between items, quoted strings 7-bit without CR/LF/NUL, literals
without NUL, and the BODYSTRUCTURE/ENVELOPE shapes of section 9.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanmaild.mime import MAX_DEPTH, MAX_PARTS, ParsedMessage, normalize_crlf, section_bytes
from lanmaild.mime.parser import _parse

DATA = Path(__file__).parent / "data" / "mime"
FIXTURES = [normalize_crlf(p.read_bytes()) for p in sorted(DATA.glob("*.eml"))]
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- IMAP reader


class Lit(bytes):
    """A string read from the wire (quoted or literal), as opposed to NIL/number."""


def read_imap(data: bytes) -> object:
    value, pos = _value(data, 0)
    assert pos == len(data), f"trailing data at {pos}: {data[pos:pos + 40]!r}"
    return value


def _value(data: bytes, pos: int) -> tuple[object, int]:
    ch = data[pos : pos + 1]
    if ch == b"(":
        return _list(data, pos + 1)
    if ch == b'"':
        return _quoted(data, pos + 1)
    if ch == b"{":
        close = data.index(b"}\r\n", pos)
        n = int(data[pos + 1 : close])
        start = close + 3
        body = data[start : start + n]
        assert len(body) == n and b"\x00" not in body
        return Lit(body), start + n
    if data.startswith(b"NIL", pos):
        return None, pos + 3
    end = pos
    while end < len(data) and data[end : end + 1].isdigit():
        end += 1
    assert end > pos, f"unexpected {data[pos:pos + 20]!r}"
    return int(data[pos:end]), end


def _quoted(data: bytes, pos: int) -> tuple[Lit, int]:
    out = bytearray()
    while True:
        c = data[pos]
        assert c not in (0, 10, 13) and c < 0x80, f"bad octet {c} in quoted string"
        if c == 0x5C:
            assert data[pos + 1] in b'"\\'
            out.append(data[pos + 1])
            pos += 2
        elif c == 0x22:
            return Lit(bytes(out)), pos + 1
        else:
            out.append(c)
            pos += 1


def _list(data: bytes, pos: int) -> tuple[list, int]:
    items: list = []
    while True:
        if data[pos : pos + 1] == b")":
            assert data[pos - 1 : pos] != b" ", "space before )"
            return items, pos + 1
        if items:
            # nested bodies of a multipart follow each other without a space
            if data[pos : pos + 1] == b"(" and isinstance(items[-1], list):
                pass
            else:
                assert data[pos : pos + 1] == b" ", f"missing SP at {pos}"
                pos += 1
        value, pos = _value(data, pos)
        items.append(value)


def is_str(v: object) -> bool:
    return isinstance(v, Lit)


def is_nstr(v: object) -> bool:
    return v is None or is_str(v)


def check_params(v: object) -> None:
    assert v is None or (isinstance(v, list) and v and len(v) % 2 == 0 and all(map(is_str, v)))


def check_envelope(env: object) -> None:
    assert isinstance(env, list) and len(env) == 10
    for i in (0, 1, 8, 9):
        assert is_nstr(env[i])
    for addrs in env[2:8]:
        assert addrs is None or (isinstance(addrs, list) and addrs)
        for a in addrs or ():
            assert isinstance(a, list) and len(a) == 4 and all(map(is_nstr, a))


def check_ext(ext: list, first_is_params: bool) -> None:
    assert len(ext) == 4
    check_params(ext[0]) if first_is_params else is_nstr(ext[0])
    dsp = ext[1]
    assert dsp is None or (len(dsp) == 2 and is_str(dsp[0]) and check_params(dsp[1]) is None)
    lang = ext[2]
    assert is_nstr(lang) or (isinstance(lang, list) and lang and all(map(is_str, lang)))
    assert is_nstr(ext[3])


def leading_lists(b: list) -> list:
    """The nested bodies of a multipart: the run of lists before the subtype."""
    n = 0
    while n < len(b) and isinstance(b[n], list):
        n += 1
    return b[:n]


def check_body(b: object, extended: bool) -> int:
    """Validate a body structure; return its number of leaf parts."""
    assert isinstance(b, list) and b
    if isinstance(b[0], list):
        kids = leading_lists(b)
        rest = b[len(kids) :]
        assert is_str(rest[0])
        if extended:
            check_ext(rest[1:], True)
        else:
            assert len(rest) == 1
        return sum(check_body(k, extended) for k in kids)
    mtype, subtype, params, cid, desc, enc, size = b[:7]
    assert is_str(mtype) and is_str(subtype) and is_str(enc) and isinstance(size, int)
    check_params(params)
    assert is_nstr(cid) and is_nstr(desc)
    rest = b[7:]
    count = 1
    if mtype.upper() == b"MESSAGE" and subtype.upper() == b"RFC822":
        check_envelope(rest[0])
        count += check_body(rest[1], extended)
        assert isinstance(rest[2], int)
        rest = rest[3:]
    elif mtype.upper() == b"TEXT":
        assert isinstance(rest[0], int)
        rest = rest[1:]
    if extended:
        check_ext(rest, False)
    else:
        assert rest == []
    return count


def strip_ext(b: list) -> list:
    """BODY = BODYSTRUCTURE without extension data."""
    if isinstance(b[0], list):
        kids = leading_lists(b)
        return [strip_ext(k) for k in kids] + [b[len(kids)]]
    if b[0].upper() == b"MESSAGE" and b[1].upper() == b"RFC822":
        return b[:7] + [b[7], strip_ext(b[8]), b[9]]
    return b[:8] if b[0].upper() == b"TEXT" else b[:7]


# --------------------------------------------------------------------------- invariants


def check_message(raw: bytes) -> ParsedMessage:
    p = _parse(raw)
    n = len(raw)
    assert 0 <= p.header_size <= n
    assert p.parts[""] == (0, 0, n, p.header_size)
    for path, (hs, bs, end, kind) in p.parts.items():
        assert 0 <= hs <= bs <= end <= n, (path, hs, bs, end)
        assert kind in (-1, -2) or bs <= kind <= end or path == ""
        for suffix in ("", ".MIME", ".HEADER", ".TEXT", ".1", ".HEADER.FIELDS (From)"):
            spec = (path + suffix).lstrip(".") if path or suffix != ".MIME" else ""
            assert isinstance(section_bytes(raw, p, spec), bytes)
    check_envelope(read_imap(p.envelope))
    structure = read_imap(p.bodystructure)
    leaves = check_body(structure, extended=True)
    body = read_imap(p.body)
    check_body(body, extended=False)
    assert strip_ext(structure) == body
    assert leaves <= MAX_PARTS + 1
    for text in (p.subject, p.from_, p.to, p.cc, p.bcc, p.message_id, p.in_reply_to,
                 p.base_subject, p.display_from, p.search_text, *p.attachment_names):
        text.encode("utf-8")
        assert "\x00" not in text
    assert ParsedMessage.from_json(p.to_json()) == p
    return p


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(raw):
    check_message(raw)


@FUZZ
@given(st.sampled_from(FIXTURES), st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=8),
                                                     st.integers(0, 8)), max_size=6))
def test_mutated_fixtures(raw, edits):
    data = bytearray(raw)
    for pos, insert, delete in edits:
        pos %= len(data) + 1
        data[pos : pos + delete] = insert
    check_message(bytes(data))


_NAMES = ["From", "To", "Cc", "Subject", "Content-Type", "Content-Disposition",
          "Content-Transfer-Encoding", "Content-Language", "Date", "Sender"]
_VALUES = st.one_of(
    st.sampled_from([
        "multipart/mixed; boundary=b", "multipart/digest; boundary=\"b\"", "message/rfc822",
        "text/plain; charset=utf-8", "text/html", "attachment; filename*0*=utf-8''%E2%82; "
        "filename*1*=%AC.txt", "=?utf-8?B?w6k=?=", "grp: a@b, <c@d>;", "a (b) <@r:c@d>",
        "base64", "quoted-printable", "\"unterminated", "((((", "en, de",
    ]),
    st.text(max_size=30),
)
_HEADERS = st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES), max_size=5)
_BODY = st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"--b", b"--b--", b"x\r\n--b\r\n"]))


def _entity(children):
    leaf = st.tuples(st.just("leaf"), _HEADERS, _BODY)
    multi = st.tuples(st.just("multi"), _HEADERS, st.sampled_from(["b", "c", "b c"]),
                      st.lists(children, max_size=4), st.booleans())
    message = st.tuples(st.just("message"), _HEADERS, children)
    return st.one_of(leaf, multi, message)


_TREES = st.recursive(st.tuples(st.just("leaf"), _HEADERS, _BODY), _entity, max_leaves=12)


def _serialise(node, eol: bytes) -> bytes:
    kind, headers = node[0], node[1]
    head = b"".join(f"{k}: {v}".encode("utf-8", "surrogateescape") + eol for k, v in headers)
    if kind == "leaf":
        return head + eol + node[2]
    if kind == "message":
        return head + b"Content-Type: message/rfc822" + eol + eol + _serialise(node[2], eol)
    _, _, boundary, kids, close = node
    b = boundary.encode()
    out = head + b'Content-Type: multipart/mixed; boundary="' + b + b'"' + eol + eol
    out += b"".join(b"--" + b + eol + _serialise(k, eol) + eol for k in kids)
    return out + (b"--" + b + b"--" + eol if close else b"")


@FUZZ
@given(_TREES, st.sampled_from([b"\r\n", b"\n"]))
def test_generated_mime_trees(tree, eol):
    check_message(_serialise(tree, eol))


# --------------------------------------------------------------------------- limits, speed


def test_nesting_depth_is_capped():
    raw = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(MAX_DEPTH * 4)
    ) + b"\r\nleaf\r\n"
    p = check_message(raw)
    assert p.limits_hit
    assert max(path.count(".") for path in p.parts) <= MAX_DEPTH
    nested = b"Content-Type: message/rfc822\r\n\r\n" * (MAX_DEPTH * 4) + b"Subject: x\r\n\r\nhi"
    assert check_message(nested).limits_hit


def test_part_count_is_capped():
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + b"--x\r\n\r\na\r\n" * 5000
    p = check_message(raw)
    assert p.limits_hit
    assert len(p.parts) <= MAX_PARTS + 1
    # the last part runs to the end: no byte becomes unreachable
    assert max(end for _hs, _bs, end, _k in p.parts.values()) == len(raw)


def _timed(raw: bytes, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        _parse(raw)
    return (time.perf_counter() - start) / repeat


def test_hostile_inputs_stay_fast():
    # Each of these was quadratic in some naive implementation; bounds are generous so that
    # a loaded CI box does not flake, yet far below what quadratic behaviour would cost.
    cases = [
        b"To: " + b"a@b, " * 50_000 + b"\r\n\r\n",
        b"To: " + b"(" * 100_000 + b"\r\n\r\n",
        b"To: " + b'"' * 100_000 + b"\r\nSubject: " + b"=?" * 100_000 + b"\r\n\r\n",
        b"Subject: " + b"Re: [x] " * 50_000 + b"\r\n\r\n",
        b"Subject: " + b"[a] " * 50_000 + b"\r\n\r\n",
        b"Content-Type: text/html\r\n\r\n" + b"<" * 500_000,
        b"Content-Type: text/html\r\n\r\n" + b"<script>" * 60_000,
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + b"--xy\r\n" * 100_000,
        b"".join(b"X-H%d: v\r\n" % i for i in range(50_000)) + b"\r\nbody",
    ]
    for raw in cases:
        assert _timed(raw) < 1.0, raw[:40]


def test_typical_messages_are_fast():
    plain = FIXTURES[[p.name for p in sorted(DATA.glob("*.eml"))].index("plain.eml")]
    header, _sep, _body = plain.partition(b"\r\n\r\n")
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    ten_k = header + b"\r\n\r\n" + line * (10_000 // len(line))
    attachment = base64.encodebytes(os.urandom(140_000)).replace(b"\n", b"\r\n")
    multipart = (
        header.replace(b"TEXT/PLAIN; CHARSET=US-ASCII", b'multipart/mixed; boundary="b1"')
        + b"\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n"
        b"--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + line * 300
        + b"\r\n--b2\r\nContent-Type: text/html\r\n\r\n" + b"<p>Hi <b>there</b></p>\r\n" * 800
        + b"\r\n--b2--\r\n--b1\r\nContent-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"\r\n--b1--\r\n"
    )
    # targets: well under 1 ms / a few ms; asserted with 10x headroom for busy machines
    assert _timed(ten_k, 50) < 0.01
    assert _timed(multipart, 20) < 0.05
