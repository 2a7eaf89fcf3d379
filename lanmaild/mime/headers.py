"""Header-level helpers: locating the header, splitting/unfolding fields, decoding for humans.

Everything works on ``bytes`` and never raises on malformed input. Field values used for
structure (addresses, parameters) are handled as latin-1 ``str`` so that the round trip back
to the original octets is lossless: IMAP ENVELOPE/BODYSTRUCTURE must echo the header bytes, not
our guess of their charset. Only the *decoded* strings (for SEARCH, sorting, attachment names)
go through charset guessing, and those are sanitised so that SQLite TEXT accepts them.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "Field",
    "clean_text",
    "decode_bytes",
    "decode_header_value",
    "header_end",
    "header_fields",
    "normalize_crlf",
    "split_fields",
]

# (lower-case name, unfolded value as latin-1 str, raw start offset, raw end offset)
Field = tuple[str, str, int, int]

_BLANK_LINE = re.compile(rb"\n\r?\n")
# A field: name (no colon, no whitespace) at a line start, optional WSP, colon, then the value
# including any continuation lines (lines starting with SP/HTAB).
_FIELD = re.compile(rb"^([^:\s]+)[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)(?:\n|\Z)", re.M)
_FOLD = re.compile(rb"\r?\n")
# More fields than this in one header is an attack (Postfix also bounds header work); the
# rest stay in the raw header but are not interpreted.
MAX_FIELDS = 10_000
_BARE_LF = re.compile(rb"(?<!\r)\n")
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")


def normalize_crlf(raw: bytes) -> bytes:
    """Turn bare LF line ends into CRLF.

    IMAP sizes and literals are defined on CRLF text; the store should call this before
    ``parse_message`` so that RFC822.SIZE, offsets and what clients download agree.
    """
    if b"\n" not in raw:
        return raw
    if raw.count(b"\n") == raw.count(b"\r\n"):
        return raw
    return _BARE_LF.sub(b"\r\n", raw)


def header_end(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Return ``(fields_end, body_start)`` for the header beginning at ``start``.

    ``raw[start:fields_end]`` holds the fields (each with its line end), ``raw[start:body_start]``
    is the header including the blank line. Without a blank line the whole range is header and
    the body is empty (RFC 3501: "a message which has no body and no blank line").
    """
    if raw.startswith(b"\n", start, end):
        return start, start + 1
    if raw.startswith(b"\r\n", start, end):
        return start, start + 2
    m = _BLANK_LINE.search(raw, start, end)
    if m is None:
        return end, end
    return m.start() + 1, m.end()


def split_fields(raw: bytes, start: int, end: int) -> list[Field]:
    """Split ``raw[start:end]`` (a header without its blank line) into unfolded fields.

    Lines that are not fields (no colon, stray continuation lines) are skipped: they carry no
    meaning we could act on. Unfolding follows RFC 5322 2.2.3 (drop the CRLF, keep the WSP);
    whitespace around the value, including a trailing CR, is removed. At most ``MAX_FIELDS``
    fields are returned.
    """
    fields: list[Field] = []
    for m in _FIELD.finditer(raw, start, end):
        if len(fields) >= MAX_FIELDS:
            break
        value = m.group(2)
        if b"\n" in value:
            value = _FOLD.sub(b"", value).lstrip(b" \t")
        fields.append(
            (
                m.group(1).decode("latin-1").lower(),
                value.rstrip(b" \t\r").decode("latin-1"),
                m.start(),
                m.end(),
            )
        )
    return fields


def header_fields(header: bytes, names: Iterable[str | bytes], not_: bool = False) -> bytes:
    """Subset a raw header for BODY[HEADER.FIELDS (..)] / BODY[HEADER.FIELDS.NOT (..)].

    ``header`` is the header as stored (normally including the blank line). Matching is
    case-insensitive on the field name; fields keep their original folding and line ends. The
    blank line is appended when ``header`` had one, as RFC 3501 6.4.5 requires.
    """
    wanted = {(n.decode("latin-1") if isinstance(n, bytes) else n).lower() for n in names}
    fields_end, body_start = header_end(header, 0, len(header))
    out = [
        header[s:e]
        for name, _v, s, e in split_fields(header, 0, fields_end)
        if (name in wanted) != not_
    ]
    out.append(header[fields_end:body_start])
    return b"".join(out)


def clean_text(text: str) -> str:
    """Drop NUL and lone surrogates (from odd codecs) so the text is valid for SQLite TEXT."""
    if text.isascii():  # O(1) in CPython; ASCII text can only hold a NUL
        if "\x00" not in text:
            return text
    elif _UNSAFE_TEXT.search(text) is None:
        return text
    return _UNSAFE_TEXT.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


# Codecs Python knows that must never be applied to mail (they interpret escapes, not octets).
_REFUSED_CODECS = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"}
# Labels that mail software uses for supersets or under other names (WHATWG practice).
_WIDE = {"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}
# 7-bit stateful encodings: their text is pure ASCII octets (escape sequences switch the
# character set), so it must never take the ASCII fast path.
_SEVEN_BIT = {"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3",
              "iso2022_jp_ext", "iso2022_kr", "utf-7", "hz"}
# Multi-byte charsets whose strict decoding rejects text in another charset: a declared one
# is tried before UTF-8 (single-byte labels such as iso-8859-1 decode anything, so for them
# UTF-8 still goes first).
_MULTIBYTE = {"shift_jis", "shift_jis_2004", "shift_jisx0213", "cp932", "euc_jp",
              "euc_jis_2004", "euc_jisx0213", "gb18030", "gbk", "gb2312", "big5", "big5hkscs",
              "cp950", "cp949", "euc_kr", "johab"}
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
}


@lru_cache(maxsize=256)
def _codec(charset: str | None) -> str | None:
    """Map a MIME charset label to a Python codec name, or None if unknown/unsafe."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower().split("*", 1)[0]
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None = None, fallback: str | None = None) -> str:
    """Decode octets whose declared charset may be wrong or missing; never raises.

    Order: pure ASCII fast path (not for 7-bit encodings such as ISO-2022-JP), UTF-8 (strict;
    text that validates as UTF-8 almost never is anything else, and "us-ascii"/"iso-8859-1"
    labels on UTF-8 text are common), the declared charset, the ``fallback`` hint (e.g. the
    message's body charset), then the declared charset or cp1252 with replacement. A declared
    UTF-16/32, 7-bit (ISO-2022-*) or multi-byte CJK charset goes first: their octets often
    validate as UTF-8 too, and the label is rarely wrong.
    The result is sanitised for SQLite.
    """
    declared = _codec(charset)
    if data.isascii() and declared not in _SEVEN_BIT:
        return clean_text(data.decode("ascii"))
    if declared in _WIDE or declared in _SEVEN_BIT or declared in _MULTIBYTE:
        # Declared first: these labels are rarely wrong, and their octets often validate
        # as UTF-8 too (ISO-2022-JP is 7-bit, so it is valid ASCII and UTF-8).
        order: tuple[str | None, ...] = (charset, "utf-8", fallback)
    else:
        order = ("utf-8", charset, fallback)
    for label in order:
        name = _codec(label)
        if name is None:
            continue
        try:
            return clean_text(data.decode(name))
        except (UnicodeDecodeError, ValueError, LookupError):
            continue
    name = _codec(charset) or "cp1252"
    try:
        return clean_text(data.decode(name, "replace"))
    except (UnicodeDecodeError, ValueError, LookupError):
        return clean_text(data.decode("cp1252", "replace"))


_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_QP_HEADER_ESC = re.compile(rb"=([0-9A-Fa-f]{2})")


def _decode_word(enc: bytes, text: bytes) -> bytes:
    """Transfer-decode the payload of one RFC 2047 encoded-word (lenient about padding)."""
    if enc in (b"b", b"B"):
        text = text.rstrip(b"=")
        text += b"=" * (-len(text) % 4)
        try:
            return binascii.a2b_base64(text)
        except (binascii.Error, ValueError):
            text = text.rstrip(b"=")
            text = text[: len(text) - len(text) % 4]
            try:
                return binascii.a2b_base64(text)
            except (binascii.Error, ValueError):
                return b""
    return _QP_HEADER_ESC.sub(
        lambda m: bytes((int(m.group(1), 16),)), text.replace(b"_", b" ")
    )


def decode_header_value(value: str | bytes, fallback: str | None = None) -> str:
    """Decode an (unfolded) header value for humans: RFC 2047 words plus raw 8-bit text.

    Adjacent encoded-words are joined (the whitespace between them is dropped, RFC 2047 6.2),
    and consecutive words in the same charset are decoded together because real senders split
    multi-byte characters across words. Raw 8-bit octets are decoded as UTF-8 or ``fallback``.
    Line breaks (which an encoded-word can smuggle in) become spaces: a header value is one
    line, and stored "name: value" lines must stay one line each.
    """
    data = value.encode("latin-1", "replace") if isinstance(value, str) else value
    if b"=?" not in data:
        return _one_line(decode_bytes(data, None, fallback))
    out: list[str] = []
    run_charset: bytes | None = None
    run: list[bytes] = []
    pos = 0

    def flush() -> None:
        if run:
            charset = run_charset.decode("latin-1") if run_charset else None
            out.append(decode_bytes(b"".join(run), charset, fallback))
            run.clear()

    for m in _ENCODED_WORD.finditer(data):
        gap = data[pos : m.start()]
        if gap and not (run and gap.strip(b" \t") == b""):
            flush()
            out.append(decode_bytes(gap, None, fallback))
        charset = m.group(1).lower()
        if charset != run_charset:
            flush()
            run_charset = charset
        run.append(_decode_word(m.group(2), m.group(3)))
        pos = m.end()
    flush()
    if pos < len(data):
        out.append(decode_bytes(data[pos:], None, fallback))
    return _one_line("".join(out))


def _one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return text
