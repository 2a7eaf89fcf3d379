"""BODY[section] as slices of the raw message, using offsets computed at delivery.

RFC 3501 6.4.5 semantics: ``""`` (whole message), ``HEADER``, ``TEXT``, ``HEADER.FIELDS (..)``,
``HEADER.FIELDS.NOT (..)``, part numbers with an optional suffix, where ``MIME`` needs a part
number and HEADER/TEXT after a part number need a message/rfc822 part. A message that is not
multipart has a part 1 (its body; its MIME header is the message header, as Dovecot serves it).
Like Dovecot, a leaf part inside a multipart is its own part 1 (``2.1`` of a text part is
``2``): some clients ask for that. A part that does not exist yields empty bytes; a malformed
specifier raises ValueError so the IMAP server can answer BAD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .headers import header_fields
from .parser import LEAF, ParsedMessage, PartOffsets

__all__ = ["Section", "parse_section", "section_bytes"]

_TEXTS = {"", "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"}
_FIELD_NAME = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s()"]+)')
_NZ_NUMBER = re.compile(r"[1-9][0-9]{0,8}\Z")


class Section(tuple[str, str, tuple[str, ...]]):
    """A parsed section specifier: (part path, text specifier upper-case, field names)."""

    __slots__ = ()

    def __new__(cls, path: str, text: str, fields: Sequence[str] = ()) -> Section:
        return super().__new__(cls, (path, text, tuple(fields)))

    @property
    def path(self) -> str:
        return self[0]

    @property
    def text(self) -> str:
        return self[1]

    @property
    def fields(self) -> tuple[str, ...]:
        return self[2]


def parse_section(spec: str) -> Section:
    """Parse ``1.2.HEADER.FIELDS (From To)`` (brackets optional) into a ``Section``."""
    spec = spec.strip()
    if spec.startswith("[") and spec.endswith("]"):
        spec = spec[1:-1].strip()
    head, _sp, rest = spec.partition(" ")
    if "(" in head:
        head, _p, tail = head.partition("(")
        rest = "(" + tail + " " + rest
    items = head.split(".") if head else []
    nums: list[str] = []
    while items and items[0].isdigit():
        if not _NZ_NUMBER.match(items[0]):
            raise ValueError(f"bad part number in section {spec!r}")
        nums.append(items.pop(0))
    text = ".".join(items).upper()
    if text not in _TEXTS or (text == "MIME" and not nums):
        raise ValueError(f"bad section {spec!r}")
    fields: list[str] = []
    if text.startswith("HEADER.FIELDS"):
        rest = rest.strip()
        if not (rest.startswith("(") and rest.endswith(")")):
            raise ValueError(f"HEADER.FIELDS needs a field list: {spec!r}")
        fields = [q if q else a for q, a in _FIELD_NAME.findall(rest[1:-1])]
        if not fields:
            raise ValueError(f"empty field list: {spec!r}")
    elif rest.strip():
        raise ValueError(f"unexpected text after section: {spec!r}")
    return Section(".".join(nums), text, fields)


def section_bytes(
    raw: bytes,
    parsed: ParsedMessage | Mapping[str, PartOffsets],
    section_spec: str | Section,
) -> bytes:
    """The bytes of BODY[section_spec] for ``raw``, by slicing only.

    ``parsed`` may be the ``ParsedMessage`` or just its ``parts`` mapping (what the store
    keeps); partial fetches (``<origin.count>``) are the caller's slice of the result.
    """
    sec = section_spec if isinstance(section_spec, Section) else parse_section(section_spec)
    parts = parsed.parts if isinstance(parsed, ParsedMessage) else parsed
    return slice_part(raw, parts, sec.path, sec.text, sec.fields) or b""


def slice_part(raw: bytes, parts: Mapping[str, PartOffsets], path: str, text: str,
               fields: Sequence[str] = ()) -> bytes | None:
    """``text`` ("", MIME, HEADER, TEXT, HEADER.FIELDS[.NOT]) of part ``path``; None when
    the part does not exist (IMAP answers NIL, ``section_bytes`` an empty string)."""
    offs = _lookup(parts, path)
    if offs is None:
        return None
    mime_start, body_start, end, msg_body = offs
    if text == "":
        return raw[body_start:end]
    if text == "MIME":
        return raw[mime_start:body_start]
    if msg_body < 0:
        return b""  # HEADER/TEXT of a part that is not message/rfc822
    if text == "TEXT":
        return raw[msg_body:end]
    header = raw[body_start:msg_body]
    if text == "HEADER":
        return header
    return header_fields(header, fields, not_=text == "HEADER.FIELDS.NOT")


def _lookup(parts: Mapping[str, PartOffsets], path: str) -> PartOffsets | None:
    """Find ``path``; ``P.1`` of a leaf MIME part P means P itself (one level, as Dovecot).

    Not for the part 1 that stands for a non-multipart message's own body: that one has no
    parts below it (it starts where its message starts).
    """
    offs = parts.get(path)
    if offs is not None or not path.endswith(".1"):
        return offs
    prefix = path[:-2]
    leaf = parts.get(prefix)
    if leaf is None or leaf[3] != LEAF:
        return None
    parent = parts.get(prefix.rpartition(".")[0])
    if parent is not None and parent[3] >= 0 and leaf[0] == parent[1]:
        return None
    return leaf
