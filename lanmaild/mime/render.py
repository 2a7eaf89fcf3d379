"""IMAP string rendering shared by the MIME parser (ENVELOPE/BODYSTRUCTURE) and the IMAP server.

RFC 3501 section 9 grammar, in short:

- ``quoted``  = DQUOTE *QUOTED-CHAR DQUOTE, QUOTED-CHAR is any 7-bit char except NUL, CR, LF,
  with ``"`` and ``\\`` escaped by a backslash.
- ``literal`` = "{" number "}" CRLF *CHAR8, CHAR8 is any octet except NUL.
- ``nstring`` = string / "NIL"; ``astring`` = 1*ASTRING-CHAR / string.

NUL is not allowed in either form (only ``literal8`` of the BINARY extension may carry it), so
the helpers here drop NUL octets rather than emit a protocol violation: a client that sees a
slightly altered header value is better off than one whose parser desynchronises.

Every helper takes ``bytes`` or ``str`` (``str`` is UTF-8 encoded) and returns ``bytes`` ready to
be written to the wire.
"""

from __future__ import annotations

import re

__all__ = [
    "NIL",
    "astring",
    "can_quote",
    "literal",
    "nstring",
    "quoted",
    "string",
    "to_bytes",
]

NIL = b"NIL"

# Octets that force a literal: NUL, CR, LF and all 8-bit octets.
_NEEDS_LITERAL = re.compile(rb"[\x00\r\n\x80-\xff]")
# ASTRING-CHAR = ATOM-CHAR / resp-specials("]"); ATOM-CHAR excludes
# "(" ")" "{" SP CTL list-wildcards("%" "*") quoted-specials('"' "\") resp-specials("]").
_ASTRING_ATOM = re.compile(rb"[\x21\x23\x24\x26\x27\x2b-\x5b\x5d-\x7a\x7c-\x7e]+")


def to_bytes(value: bytes | str) -> bytes:
    """Return ``value`` as bytes; str is UTF-8 encoded (surrogates escaped, never raising)."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


def can_quote(value: bytes | str) -> bool:
    """True if ``value`` fits a quoted string (7-bit, no CR/LF/NUL)."""
    return _NEEDS_LITERAL.search(to_bytes(value)) is None


def quoted(value: bytes | str) -> bytes:
    """Render ``value`` as an IMAP quoted string.

    Raises ValueError if the value cannot be quoted; callers that do not know use ``string``.
    """
    data = to_bytes(value)
    if _NEEDS_LITERAL.search(data) is not None:
        raise ValueError("value needs a literal (CR, LF, NUL or 8-bit octet)")
    return _quote(data)


def _quote(data: bytes) -> bytes:
    """Quote ``data``, backslash-escaping the quoted-specials ``"`` and ``\\`` (plain
    replaces, not a regex substitution: this runs for every ENVELOPE field at parse time)."""
    if b"\\" in data:
        data = data.replace(b"\\", b"\\\\")
    if b'"' in data:
        data = data.replace(b'"', b'\\"')
    return b'"' + data + b'"'


def literal(value: bytes | str) -> bytes:
    """Render ``value`` as a synchronising literal ``{n}\\r\\n...`` (NUL octets dropped)."""
    data = to_bytes(value)
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    return b"{%d}\r\n" % len(data) + data


def string(value: bytes | str) -> bytes:
    """Render ``value`` as a quoted string when possible, else as a literal (NUL dropped)."""
    data = to_bytes(value)
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    if _NEEDS_LITERAL.search(data) is None:
        return _quote(data)
    return literal(data)


def nstring(value: bytes | str | None) -> bytes:
    """Render an nstring: NIL for None, else quoted or literal as needed."""
    if value is None:
        return NIL
    return string(value)


def astring(value: bytes | str) -> bytes:
    """Render an astring: a bare atom when safe, else quoted/literal.

    ``NIL`` (any case) and the empty string are always quoted so that no client confuses them
    with the NIL token or a missing argument.
    """
    data = to_bytes(value)
    if _ASTRING_ATOM.fullmatch(data) is not None and data.upper() != NIL:
        return data
    return string(data)
