"""mime: parse a message once at delivery; IMAP FETCH then only slices and concatenates.

- ``parse_message(raw) -> ParsedMessage``: ENVELOPE, BODY, BODYSTRUCTURE (ready IMAP bytes),
  part offsets, decoded strings for SEARCH/SORT, search text, attachment names.
- ``section_bytes(raw, parsed_or_parts, "1.2.MIME")``: BODY[section] by slicing raw.
- ``header_fields(header, names, not_=False)``: HEADER.FIELDS[.NOT] subsetting.
- ``render``: IMAP string rendering (quoted/literal/nstring/astring) shared with ``imap``.
- ``normalize_crlf(raw)``: call before storing so sizes and offsets are CRLF-based.
"""

from .headers import decode_header_value, header_fields, normalize_crlf
from .parser import MAX_DEPTH, MAX_PARTS, MAX_SEARCH_TEXT, ParsedMessage, parse_message
from .sections import Section, parse_section, section_bytes

__all__ = [
    "MAX_DEPTH",
    "MAX_PARTS",
    "MAX_SEARCH_TEXT",
    "ParsedMessage",
    "Section",
    "decode_header_value",
    "header_fields",
    "normalize_crlf",
    "parse_message",
    "parse_section",
    "section_bytes",
]
