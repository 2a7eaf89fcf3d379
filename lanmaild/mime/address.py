"""RFC 5322 address lists and the IMAP ENVELOPE (RFC 3501 7.4.2).

Values are latin-1 ``str`` (see ``headers``), so names and local parts come back out as the
original octets: IMAP wants RFC 2047 words left encoded and quoting removed, nothing decoded.

The parser is deliberately forgiving, in the way Dovecot is (and with its placeholders): a
mailbox without a domain gets host ``MISSING_DOMAIN``, a phrase without an address gets mailbox
``MISSING_MAILBOX``. ``NIL`` host must not be used for those because it means group syntax.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .render import NIL, nstring

__all__ = ["Address", "envelope_bytes", "first_values", "parse_addresses", "render_addresses"]

MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"


class Address(NamedTuple):
    """One ENVELOPE address: group start is (None, None, name, None), group end all None."""

    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None


class _Tok(NamedTuple):
    kind: str  # "a" atom, "q" quoted string, "d" domain literal, "c" comment, or the special
    text: str
    space: bool  # whitespace or a comment came before it


_LEX = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r'|(?P<q>"(?:[^"\\]+|\\.)*(?:"|\\?\Z))'
    # Comments: nesting is not tracked (an inner "(" ends nothing, an inner ")" ends the
    # comment early); nested comments in address fields are vanishingly rare.
    r"|(?P<c>\((?:[^()\\]+|\\.)*(?:\)|\\?\Z)?)"
    r"|(?P<d>\[[^\]]*\]?)"
    r"|(?P<s>[<>:;@,])"
    r'|(?P<a>[^ \t\r\n"\[\]()<>:;@,]+)'
    r"|(?P<x>.)",
    re.S,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
# Like Postfix's header_address_token_limit: beyond this a header is hostile, and the rest of
# it is not parsed (a few thousand addresses still fit).
MAX_TOKENS = 20_000


def _unquote(body: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", body) if "\\" in body else body


def _tokenize(text: str) -> list[_Tok]:
    """Lex a structured header value; comments become "c" tokens so names can fall back on them."""
    toks: list[_Tok] = []
    space = False
    for m in _LEX.finditer(text):
        kind = m.lastgroup or "x"
        if kind == "ws":
            space = True
            continue
        tok = m.group()
        if kind == "q":
            body = tok[1:-1] if len(tok) > 1 and tok.endswith('"') else tok[1:]
            toks.append(_Tok("q", _unquote(body), space))
        elif kind == "c":
            body = tok[1:-1] if tok.endswith(")") else tok[1:]
            toks.append(_Tok("c", _unquote(body).strip(), True))
            space = True
            if len(toks) >= MAX_TOKENS:
                break
            continue
        elif kind == "s":
            toks.append(_Tok(tok, tok, space))
        elif kind == "x":
            toks.append(_Tok("a", tok, space))
        else:
            toks.append(_Tok(kind, tok, space))
        space = False
        if len(toks) >= MAX_TOKENS:
            break
    return toks


def _phrase(words: list[_Tok]) -> str | None:
    """Join display-name words, one space where the source had whitespace or a comment."""
    if not words:
        return None
    parts = [words[0].text]
    for w in words[1:]:
        if w.space:
            parts.append(" ")
        parts.append(w.text)
    return "".join(parts) or None


class _Parser:
    """Recursive-descent over the token list; every step consumes at least one token."""

    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.out: list[Address] = []

    def peek(self) -> str | None:
        return self.toks[self.i].kind if self.i < len(self.toks) else None

    def run(self) -> list[Address]:
        while self.i < len(self.toks):
            start = self.i
            if self.peek() == ",":
                self.i += 1
                continue
            self.address(in_group=False)
            if self.i == start:
                self.i += 1
        return self.out

    def words(self) -> tuple[list[_Tok], str | None]:
        """Collect phrase words up to the next special; return them and the last comment."""
        words: list[_Tok] = []
        comment = None
        while self.i < len(self.toks) and self.toks[self.i].kind in "aqdc":
            tok = self.toks[self.i]
            if tok.kind == "c":
                comment = tok.text or comment
            else:
                words.append(tok)
            self.i += 1
        return words, comment

    def skip_to_separator(self, in_group: bool) -> str | None:
        """Skip junk after an address up to "," (or ";" in a group); return a comment seen."""
        comment = None
        stops = (",", ";") if in_group else (",",)
        while self.i < len(self.toks) and self.toks[self.i].kind not in stops:
            if self.toks[self.i].kind == "c":
                comment = self.toks[self.i].text or comment
            self.i += 1
        return comment

    def address(self, in_group: bool) -> None:
        words, comment = self.words()
        nxt = self.peek()
        if nxt == ":" and not in_group:
            self.group(words)
        elif nxt == "<":
            self.angle(words, comment, in_group)
        elif nxt == "@":
            self.addr_spec(words, comment, in_group)
        elif words:
            self.bare(words, comment)
        elif nxt is not None and nxt not in (",", ";"):
            self.i += 1  # stray ">", ":" or "." : drop it

    def group(self, words: list[_Tok]) -> None:
        self.i += 1
        self.out.append(Address(None, None, _phrase(words) or "", None))
        while self.i < len(self.toks) and self.peek() != ";":
            start = self.i
            if self.peek() == ",":
                self.i += 1
                continue
            self.address(in_group=True)
            if self.i == start:
                self.i += 1
        if self.peek() == ";":
            self.i += 1
        self.out.append(Address(None, None, None, None))

    def angle(self, words: list[_Tok], comment: str | None, in_group: bool) -> None:
        self.i += 1
        toks = self.toks
        end = self.i
        while end < len(toks) and toks[end].kind != ">":
            end += 1
        inner = [t for t in toks[self.i : end] if t.kind != "c"]
        self.i = min(end + 1, len(toks))
        adl = None
        colon = next((k for k, t in enumerate(inner) if t.kind == ":"), -1)
        if inner and inner[0].kind == "@" and colon > 0:
            adl = "".join(t.text for t in inner[:colon])
            inner = inner[colon + 1 :]
        at = max((k for k, t in enumerate(inner) if t.kind == "@"), default=-1)
        local = inner if at < 0 else inner[:at]
        domain = [] if at < 0 else inner[at + 1 :]
        trailing = self.skip_to_separator(in_group)
        self.emit(_phrase(words) or comment or trailing, adl, local, domain)

    def addr_spec(self, words: list[_Tok], comment: str | None, in_group: bool) -> None:
        name = None
        if len(words) > 1 and words[-1].space:
            name, words = _phrase(words[:-1]), words[-1:]
        self.i += 1
        domain: list[_Tok] = []
        while self.i < len(self.toks) and self.toks[self.i].kind in "aqdc.":
            tok = self.toks[self.i]
            if tok.kind == "c":
                comment = tok.text or comment
            else:
                domain.append(tok)
            self.i += 1
        trailing = self.skip_to_separator(in_group)
        self.emit(name or comment or trailing, None, words, domain)

    def bare(self, words: list[_Tok], comment: str | None) -> None:
        """A word list with no "@": one word is a local mailbox, several are a lone phrase."""
        if len(words) == 1:
            self.emit(comment, None, words, [])
        else:
            self.out.append(Address(_phrase(words), None, MISSING_MAILBOX, MISSING_DOMAIN))

    def emit(self, name: str | None, adl: str | None, local: list[_Tok], dom: list[_Tok]) -> None:
        mailbox = "".join(t.text for t in local if t.kind != "@")
        host = "".join(t.text for t in dom if t.kind != "@")
        self.out.append(
            Address(name or None, adl, mailbox or MISSING_MAILBOX, host or MISSING_DOMAIN)
        )


def parse_addresses(value: str | None) -> list[Address]:
    """Parse an address-list header value (latin-1 str) into ENVELOPE address structures."""
    if not value:
        return []
    return _Parser(_tokenize(value)).run()


# ENVELOPE size caps (issue 15 item 7): a junk To: of thousands of broken encoded words made
# a 440 KB ENVELOPE, sent with every FETCH ENVELOPE of that message. One address list may
# take at most ADDRESS_LIST_MAX octets (later addresses are left out: the header itself
# stays complete in BODY[HEADER]); a single string (subject, a name, message-id) at most
# STRING_MAX characters. So an ENVELOPE stays under about 6 x 16 KiB + 4 x 4 KiB.
ADDRESS_LIST_MAX = 16 * 1024
STRING_MAX = 4096


def _n(value: str | None) -> bytes:
    if value is not None and len(value) > STRING_MAX:
        value = value[:STRING_MAX]
    return NIL if value is None else nstring(value.encode("latin-1", "replace"))


def render_addresses(addrs: list[Address]) -> bytes:
    """Render an env-from/-to/... list: ``(addr addr ...)`` or NIL when empty."""
    if not addrs:
        return NIL
    out, size = [], 2
    for a in addrs:
        item = b"(%s %s %s %s)" % (_n(a.name), _n(a.adl), _n(a.mailbox), _n(a.host))
        if out and size + len(item) > ADDRESS_LIST_MAX:
            break
        out.append(item)
        size += len(item)
    return b"(" + b"".join(out) + b")"


_ENVELOPE_FIELDS = ("date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
                    "in-reply-to", "message-id")


_ADDRESS_FIELDS = {"from", "sender", "reply-to", "to", "cc", "bcc"}


def first_values(fields: list[tuple[str, str, int, int]]) -> dict[str, str]:
    """The ENVELOPE headers: first occurrence, but repeated address fields are joined.

    RFC 5322 allows each only once; when a sender repeats To or Cc anyway, every recipient is
    still a recipient (Dovecot merges them the same way).
    """
    found: dict[str, str] = {}
    for name, value, _s, _e in fields:
        if name not in _ENVELOPE_FIELDS:
            continue
        if name not in found:
            found[name] = value
        elif name in _ADDRESS_FIELDS and value.strip():
            found[name] = f"{found[name]}, {value}" if found[name].strip() else value
    return found


def envelope_bytes(hdr: dict[str, str]) -> tuple[bytes, dict[str, list[Address]]]:
    """Build the ENVELOPE from first-occurrence header values; also return the parsed
    From/To/Cc lists (for sort keys) so nobody parses them twice.

    NIL rules (RFC 3501 7.4.2): absent date/subject/in-reply-to/message-id are NIL, present but
    empty ones are ""; empty or absent address fields are NIL; Sender and Reply-To default to
    From.
    """
    frm = parse_addresses(hdr.get("from"))
    sender = parse_addresses(hdr.get("sender")) or frm
    reply_to = parse_addresses(hdr.get("reply-to")) or frm
    to = parse_addresses(hdr.get("to"))
    cc = parse_addresses(hdr.get("cc"))
    parts = (
        _n(hdr.get("date")),
        _n(hdr.get("subject")),
        render_addresses(frm),
        render_addresses(sender),
        render_addresses(reply_to),
        render_addresses(to),
        render_addresses(cc),
        render_addresses(parse_addresses(hdr.get("bcc"))),
        _n(hdr.get("in-reply-to")),
        _n(hdr.get("message-id")),
    )
    return b"(" + b" ".join(parts) + b")", {"from": frm, "to": to, "cc": cc}
