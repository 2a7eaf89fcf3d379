"""MIME header values: Content-Type, Content-Disposition, parameters with RFC 2231.

Parameter values are kept as the header's octets (latin-1 ``str``) except where RFC 2231 says
they are encoded: continuations (``name*0``, ``name*1`` ...) are joined and ``name*=charset''..``
values are percent- and charset-decoded, because a BODYSTRUCTURE that shows ``NAME*0`` pieces is
useless to clients. A decoded value that is not pure ASCII is sent as an RFC 2047 UTF-8
encoded-word under the plain attribute name: IMAP4rev1 has no charset for 8-bit strings in
BODYSTRUCTURE, while every client already decodes RFC 2047 in filenames (senders put it there).
"""

from __future__ import annotations

import binascii
import re
from typing import NamedTuple

from .headers import decode_bytes, decode_header_value

__all__ = [
    "Param",
    "filename",
    "parse_content_type",
    "parse_disposition",
    "parse_params",
    "strip_comments",
    "token_value",
]


class Param(NamedTuple):
    """One parameter: upper-case attribute, value octets for IMAP, decoded text for humans.

    ``text`` has RFC 2231 and (non-standard but common) RFC 2047 encodings decoded.
    """

    name: str
    wire: bytes
    text: str


_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"
_TOKEN_RE = re.compile(_TOKEN)
_TYPE = re.compile(r"[ \t]*(" + _TOKEN + r")[ \t]*/[ \t]*(" + _TOKEN + r")")
_LEADING_TOKEN = re.compile(r"[ \t]*(" + _TOKEN + r")")
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)", re.S)
_TRAILING_COMMENT = re.compile(r"[ \t]+\((?:[^()\\]|\\.)*\)[ \t]*\Z", re.S)
_RFC2231_NAME = re.compile(r"(.+?)\*(?:(\d{1,3})(\*?))?\Z", re.S)
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_MAX_PARAMS = 100


def strip_comments(text: str) -> str:
    """Remove (possibly nested) RFC 822 comments; repeated to peel nesting from the inside."""
    for _ in range(5):
        if "(" not in text:
            break
        text = _COMMENT.sub(" ", text)
    return text


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[pos] == '"'``; unterminated runs to the end."""
    out: list[str] = []
    i = pos + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), n


def _raw_params(text: str) -> list[tuple[str, str]]:
    """Split ``; a=b; c="d;e"`` into (lower name, value) pairs, leniently.

    Unquoted values run to the next ";" so that unquoted filenames with spaces survive; a
    trailing comment such as ``us-ascii (Plain text)`` (RFC 2045's own example) is dropped.
    """
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n and len(out) < _MAX_PARAMS:
        eq = text.find("=", i)
        if eq < 0:
            break
        semi = text.rfind(";", i, eq)  # junk without "=" before the name is skipped
        if semi >= 0:
            i = semi + 1
        name = strip_comments(text[i:eq]).strip(" \t;").lower()
        j = eq + 1
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == '"':
            value, j = _quoted(text, j)
            semi = text.find(";", j)
            i = n if semi < 0 else semi + 1
        else:
            semi = text.find(";", j)
            end = n if semi < 0 else semi
            value = _TRAILING_COMMENT.sub("", text[j:end]).strip(" \t")
            i = end + 1
        if _TOKEN_RE.fullmatch(name):
            out.append((name, value))
    return out


def _pct_decode(value: str) -> bytes:
    return _PCT.sub(lambda m: binascii.unhexlify(m.group(1)), value.encode("latin-1", "replace"))


def _encoded_word(text: str) -> bytes:
    """RFC 2047 B-encode ``text`` as UTF-8 words of at most 75 octets, split on characters."""
    words: list[bytes] = []
    chunk = ""
    for ch in text:
        if len((chunk + ch).encode("utf-8")) > 45:
            words.append(chunk.encode("utf-8"))
            chunk = ""
        chunk += ch
    words.append(chunk.encode("utf-8"))
    return b" ".join(b"=?UTF-8?B?" + binascii.b2a_base64(w, newline=False) + b"?=" for w in words)


def _wire(text: str) -> bytes:
    return text.encode("ascii") if text.isascii() else _encoded_word(text)


def _join_2231(pieces: list[tuple[int, bool, str]]) -> str:
    """Join RFC 2231 continuation pieces (index, encoded, value) into the decoded value."""
    pieces.sort(key=lambda p: p[0])
    charset = None
    data: list[bytes] = []
    for k, (_idx, encoded, value) in enumerate(pieces):
        if encoded and k == 0 and value.count("'") >= 2:
            charset, _lang, value = value.split("'", 2)
        data.append(_pct_decode(value) if encoded else value.encode("latin-1", "replace"))
    raw = b"".join(data)
    if charset is None and not any(p[1] for p in pieces):
        return raw.decode("latin-1")  # plain continuations: keep the octets as they were
    return decode_bytes(raw, charset or None)


def parse_params(text: str) -> list[Param]:
    """Parse a parameter list (the part after the value), merging RFC 2231 pieces.

    A parameter given both plainly and in RFC 2231 form keeps the RFC 2231 value (it is the
    one meant for capable readers). Later duplicates of a plain parameter are dropped.
    """
    order: list[str] = []
    plain: dict[str, str] = {}
    ext: dict[str, list[tuple[int, bool, str]]] = {}
    for name, value in _raw_params(text):
        m = _RFC2231_NAME.match(name) if "*" in name else None
        base = m.group(1) if m else name
        if base not in plain and base not in ext:
            order.append(base)
        if m is None:
            plain.setdefault(base, value)
        elif m.group(2) is None:
            ext[base] = [(0, True, value)]
        else:
            ext.setdefault(base, []).append((int(m.group(2)), bool(m.group(3)), value))
    params: list[Param] = []
    for base in order:
        if base in ext:
            text_value = _join_2231(ext[base])
            params.append(Param(base.upper(), _wire(text_value), text_value))
        else:
            value = plain[base]
            human = value if value.isascii() and "=?" not in value else decode_header_value(value)
            params.append(Param(base.upper(), value.encode("latin-1", "replace"), human))
    return params


def _split_value(value: str) -> tuple[str, str]:
    """Split ``value`` into its leading part (comments removed) and the parameter text.

    Comments are only stripped before the first ";" so that quoted parameter values keep
    their parentheses.
    """
    semi = value.find(";")
    head, rest = (value, "") if semi < 0 else (value[:semi], value[semi + 1 :])
    if "(" in head:
        head = strip_comments(head)
    return head, rest


def parse_content_type(value: str | None) -> tuple[str, str, list[Param]] | None:
    """``type/subtype; params`` with type/subtype lower-case, or None if absent or invalid.

    RFC 2045 5.2 says a syntactically invalid Content-Type is treated like a missing one, so the
    caller substitutes its default (text/plain, or message/rfc822 inside multipart/digest).
    Text after the subtype without a ";" (``text/plain charset=x``) is read as parameters.
    """
    if value is None:
        return None
    head, rest = _split_value(value)
    m = _TYPE.match(head)
    if m is None:
        return None
    return m.group(1).lower(), m.group(2).lower(), parse_params(head[m.end() :] + ";" + rest)


def parse_disposition(value: str | None) -> tuple[str, list[Param]] | None:
    """Content-Disposition ``type; params`` with the type lower-case, or None if unusable."""
    if value is None:
        return None
    head, rest = _split_value(value)
    m = _LEADING_TOKEN.match(head)
    if m is None:
        return None
    return m.group(1).lower(), parse_params(head[m.end() :] + ";" + rest)


def token_value(value: str | None) -> str | None:
    """A header that must be one token, e.g. Content-Transfer-Encoding; lower-case.

    Comments are ignored; anything else after the token makes the value invalid (None), so
    the caller's default applies, as in Dovecot.
    """
    if value is None:
        return None
    text = strip_comments(value) if "(" in value else value
    m = _LEADING_TOKEN.match(text)
    if m is None or text[m.end() :].strip():
        return None
    return m.group(1).lower()


def filename(disposition: list[Param], ctype: list[Param]) -> str | None:
    """Attachment name for humans: the disposition filename, else the Content-Type name."""
    for params, key in ((disposition, "FILENAME"), (ctype, "NAME")):
        for p in params:
            if p.name == key and p.text.strip():
                return p.text
    return None
