"""IMAP4rev1 command syntax (RFC 3501 section 9; LITERAL+ RFC 7888): framing and parsing.

Two layers, both free of any mailbox semantics:

``CommandReader`` frames one command off the connection: it reads CRLF lines, and when a
line ends in ``{n}`` (synchronising: it sends ``+`` first) or ``{n+}`` (LITERAL+) it reads
``n`` octets and continues with the next line. Line length and literal size are checked
*before* anything is read (an APPEND over the message size limit is refused without its
data ever crossing the wire). The result is a ``RawCommand``: the command text with each
literal's ``{n}`` left in place and the literal octets kept aside by offset.

``parse_command`` turns a ``RawCommand`` into a ``Command`` (tag, name, parsed arguments):
sequence sets, FETCH attributes and macros, SEARCH keys (the complete grammar), STORE
arguments, flags, dates. A syntax error raises ``ParseError``, which the session answers
with ``BAD`` (tagged when the tag could be read).
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as _dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from . import utf7

# ---------------------------------------------------------------------------- errors


class ParseError(Exception):
    """Syntax error: answered with BAD (tagged if ``tag`` is known)."""

    def __init__(self, message: str, tag: bytes | None = None) -> None:
        super().__init__(message)
        self.tag = tag


class FramingError(Exception):
    """A line or literal broke a limit.

    ``fatal``: the connection is out of sync (line too long, oversized non-synchronising
    literal) and is closed after the reply. ``toobig``: answer with the TOOBIG code.
    """

    def __init__(self, message: str, *, tag: bytes | None = None, fatal: bool = False,
                 toobig: bool = False, command: bytes = b"") -> None:
        super().__init__(message)
        self.tag = tag
        self.fatal = fatal
        self.toobig = toobig
        self.command = command


# ---------------------------------------------------------------------------- framing

_LITERAL_AT_END = re.compile(rb"\{(\d{1,10})(\+?)\}$")
_TAG_AND_NAME = re.compile(rb"^([^ ]*) ?([A-Za-z]*) ?([A-Za-z]*)")

MAX_LITERALS = 256


@dataclass
class RawCommand:
    """One framed command: ``text`` without CRLFs, literals by the offset of their '{'."""

    text: bytes
    literals: dict[int, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.text) + sum(len(v) for v in self.literals.values())


class CommandReader:
    """Reads commands (and bare lines, for AUTHENTICATE and IDLE) off a StreamReader."""

    def __init__(self, reader: asyncio.StreamReader,
                 send_continuation: Callable[[bytes], Awaitable[None]], *,
                 line_limit: int, literal_limit: Callable[[bytes], int]) -> None:
        self.reader = reader
        self._cont = send_continuation
        self.line_limit = line_limit
        self._literal_limit = literal_limit

    async def readline(self) -> bytes:
        """One line without its CRLF (bare LF accepted); EOFError at end of stream."""
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise EOFError from None
        except asyncio.LimitOverrunError:
            raise FramingError("line too long", fatal=True) from None
        if len(line) > self.line_limit + 2:
            raise FramingError("line too long", fatal=True)
        if line.endswith(b"\r\n"):
            return line[:-2]
        return line[:-1]

    async def read_command(self) -> RawCommand:
        first = await self.readline()
        text = bytearray()
        literals: dict[int, bytes] = {}
        line = first
        total_literal = 0
        while True:
            m = _LITERAL_AT_END.search(line)
            if m is None:
                text += line
                return RawCommand(bytes(text), literals)
            size, nonsync = int(m.group(1)), bool(m.group(2))
            tag = _tag_of(first)
            limit = self._literal_limit(first)
            if size > limit - total_literal or len(literals) >= MAX_LITERALS:
                if len(literals) >= MAX_LITERALS:
                    why = f"more than {MAX_LITERALS} literals in one command"
                elif total_literal:  # MULTIAPPEND: the limit is on the whole command
                    why = (f"the command's literals would total {total_literal + size} "
                           f"octets, over the limit of {limit}")
                else:
                    why = f"literal of {size} octets is over the limit of {limit}"
                raise FramingError(why, tag=tag, fatal=nonsync, toobig=True,
                                   command=_name_of(first))
            offset = len(text) + m.start()
            text += line[:m.start()] + b"{" + m.group(1) + b"}"
            if len(text) > self.line_limit * 4:
                raise FramingError("command too long", tag=tag, fatal=True)
            if not nonsync:
                await self._cont(b"+ Ready for literal data\r\n")
            try:
                data = await self.reader.readexactly(size)
            except asyncio.IncompleteReadError:
                raise EOFError from None
            total_literal += size
            literals[offset] = data
            line = await self.readline()


def _tag_of(line: bytes) -> bytes | None:
    tag = line.split(b" ", 1)[0]
    return tag if tag and _TAG_RE.fullmatch(tag) else None


def _name_of(line: bytes) -> bytes:
    m = _TAG_AND_NAME.match(line)
    if not m:
        return b""
    name = m.group(2).upper()
    if name == b"UID":
        return m.group(3).upper()
    return name


# ---------------------------------------------------------------------------- lexical

# ATOM-CHAR: any CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" '"' "\" "]"
_ATOM_CHARS = bytes(c for c in range(0x21, 0x7F) if c not in b'(){%*"\\]')
_ATOM_RE = re.compile(rb"[" + re.escape(_ATOM_CHARS) + rb"]+")
# Liberal in what we accept: 8-bit octets in astrings and quoted strings (imaplib and some
# phones send UTF-8 there instead of a literal) are taken as they are.
_ASTRING_RE = re.compile(rb"[" + re.escape(_ATOM_CHARS) + rb"\]\x80-\xff]+")
_LIST_CHARS_RE = re.compile(rb"[" + re.escape(_ATOM_CHARS) + rb"\]%*]+")
_TAG_RE = re.compile(rb"[" + re.escape(bytes(c for c in _ATOM_CHARS if c != 0x2B)) + rb"\]]+")
_NUMBER_RE = re.compile(rb"\d+")
_QUOTED_RE = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_SEQ_RE = re.compile(rb"[0-9*:,]+")
_DATE_RE = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_DATETIME_RE = re.compile(
    rb'"([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"')

MONTHS = {name.encode(): i for i, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
MAX_NUMBER = 0xFFFFFFFF


class Scanner:
    """Cursor over a RawCommand's text; literals are returned where their '{' stands."""

    def __init__(self, raw: RawCommand, tag: bytes | None = None) -> None:
        self.text = raw.text
        self.literals = raw.literals
        self.pos = 0
        self.tag = tag
        self.keys = 0  # search keys seen (bounded)

    def error(self, message: str) -> ParseError:
        return ParseError(message, self.tag)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, n: int = 1) -> bytes:
        return self.text[self.pos:self.pos + n]

    def peek_upper(self, word: bytes) -> bool:
        return self.text[self.pos:self.pos + len(word)].upper() == word

    def take(self, token: bytes) -> bool:
        """Consume ``token`` (case-insensitive) if it is next."""
        if self.peek_upper(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: bytes, what: str | None = None) -> None:
        if not self.take(token):
            raise self.error(f"expected {what or token.decode()}")

    def sp(self) -> None:
        if self.peek() != b" ":
            raise self.error("expected a space")
        self.pos += 1

    def end(self) -> None:
        if not self.at_end():
            raise self.error("unexpected characters at end of command")

    def _match(self, regex: re.Pattern, what: str) -> bytes:
        m = regex.match(self.text, self.pos)
        if not m:
            raise self.error(f"expected {what}")
        self.pos = m.end()
        return m.group(0)

    def atom(self) -> bytes:
        return self._match(_ATOM_RE, "an atom")

    def word(self) -> bytes:
        """An atom, upper-cased (keywords of the grammar)."""
        return self.atom().upper()

    def number(self) -> int:
        value = int(self._match(_NUMBER_RE, "a number"))
        if value > MAX_NUMBER:
            raise self.error("number out of range")
        return value

    def modseq(self) -> int:
        """mod-sequence-valzer (RFC 7162): 0 up to 2**63-1."""
        value = int(self._match(_NUMBER_RE, "a mod-sequence"))
        if value >= 1 << 63:
            raise self.error("mod-sequence out of range")
        return value

    def nz_number(self) -> int:
        value = self.number()
        if value == 0:
            raise self.error("expected a non-zero number")
        return value

    def quoted(self) -> bytes:
        m = _QUOTED_RE.match(self.text, self.pos)
        if not m:
            raise self.error("bad quoted string")
        self.pos = m.end()
        return re.sub(rb'\\(["\\])', rb"\1", m.group(1))

    def literal(self) -> bytes:
        data = self.literals.get(self.pos)
        if data is None:
            raise self.error("literal not at the end of a line")
        end = self.text.index(b"}", self.pos)
        self.pos = end + 1
        return data

    def string(self) -> bytes:
        c = self.peek()
        if c == b'"':
            return self.quoted()
        if c == b"{":
            return self.literal()
        raise self.error("expected a string")

    def astring(self) -> bytes:
        c = self.peek()
        if c in (b'"', b"{"):
            return self.string()
        return self._match(_ASTRING_RE, "an astring")

    def nstring_or_nil(self) -> bytes | None:
        if self.peek_upper(b"NIL") and not _ASTRING_RE.match(self.text, self.pos + 3):
            self.pos += 3
            return None
        return self.string()

    def list_mailbox(self) -> bytes:
        c = self.peek()
        if c in (b'"', b"{"):
            return self.string()
        return self._match(_LIST_CHARS_RE, "a mailbox pattern")

    def mailbox(self) -> str:
        raw = self.astring()
        if raw.upper() == b"INBOX":
            return "INBOX"
        try:
            name = utf7.decode(raw)
        except utf7.UTF7Error as exc:
            raise self.error(f"bad mailbox name: {exc}") from None
        if name.upper() == "INBOX":
            return "INBOX"
        if name.upper().startswith("INBOX."):
            name = "INBOX" + name[5:]
        return name

    # ------------------------------------------------------------ compound values

    def seq_set(self) -> SeqSet:
        text = self._match(_SEQ_RE, "a sequence set")
        try:
            return SeqSet.parse(text)
        except ValueError as exc:
            raise self.error(f"bad sequence set: {exc}") from None

    def flag(self) -> str:
        if self.peek() == b"\\":
            self.pos += 1
            if self.peek() == b"*":
                self.pos += 1
                return "\\*"
            return "\\" + self.atom().decode("ascii")
        return self.atom().decode("ascii")

    def flag_list(self) -> list[str]:
        self.expect(b"(")
        flags: list[str] = []
        if self.take(b")"):
            return flags
        while True:
            flags.append(self.flag())
            if self.take(b")"):
                return flags
            self.sp()

    def date(self) -> _dt.date:
        quoted = self.take(b'"')
        m = _DATE_RE.match(self.text, self.pos)
        if not m:
            raise self.error("expected a date like 1-Feb-2024")
        self.pos = m.end()
        if quoted:
            self.expect(b'"')
        month = MONTHS.get(m.group(2).capitalize())
        if month is None:
            raise self.error("bad month in date")
        try:
            return _dt.date(int(m.group(3)), month, int(m.group(1)))
        except ValueError:
            raise self.error("invalid date") from None

    def date_time(self) -> int:
        """date-time -> seconds since the epoch (UTC)."""
        m = _DATETIME_RE.match(self.text, self.pos)
        if not m:
            raise self.error('expected a date-time like "01-Feb-2024 10:00:00 +0100"')
        self.pos = m.end()
        day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
        month = MONTHS.get(mon.capitalize())
        if month is None:
            raise self.error("bad month in date-time")
        try:
            stamp = _dt.datetime(int(year), month, int(day.strip()), int(hh), int(mm), int(ss))
        except ValueError:
            raise self.error("invalid date-time") from None
        if int(zm) > 59:
            raise self.error("invalid time zone")
        offset = (int(zh) * 60 + int(zm)) * 60 * (1 if sign == b"+" else -1)
        return calendar.timegm(stamp.timetuple()) - offset


# ---------------------------------------------------------------------------- sequence sets


class SeqSet:
    """A sequence set as written: (lo, hi) pairs where None stands for "*".

    Nothing is expanded here; ``ranges(star)`` resolves "*" and yields sorted, merged
    inclusive ranges, so "1:4294967295" costs no memory.
    """

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[int | None, int | None]]) -> None:
        self.items = items

    @classmethod
    def parse(cls, text: bytes) -> SeqSet:
        items: list[tuple[int | None, int | None]] = []
        for part in text.split(b","):
            if not part:
                raise ValueError("empty element")
            bounds = part.split(b":")
            if len(bounds) > 2:
                raise ValueError(f"'{part.decode()}'")
            values = []
            for b in bounds:
                if b == b"*":
                    values.append(None)
                elif b.isdigit() and b[:1] != b"0" and int(b) <= MAX_NUMBER:
                    values.append(int(b))
                else:
                    raise ValueError(f"'{part.decode()}'")
            items.append((values[0], values[-1]))
        return cls(items)

    def __repr__(self) -> str:
        def num(v: int | None) -> str:
            return "*" if v is None else str(v)

        return "SeqSet(" + ",".join(num(a) if a == b else f"{num(a)}:{num(b)}"
                                    for a, b in self.items) + ")"

    def uses_star(self) -> bool:
        return any(a is None or b is None for a, b in self.items)

    def max_value(self, star: int) -> int:
        return max(max(star if a is None else a, star if b is None else b)
                   for a, b in self.items)

    def ranges(self, star: int) -> list[tuple[int, int]]:
        spans = []
        for a, b in self.items:
            lo = star if a is None else a
            hi = star if b is None else b
            if lo > hi:
                lo, hi = hi, lo
            spans.append((lo, hi))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return merged


# ---------------------------------------------------------------------------- FETCH


@dataclass(frozen=True)
class Section:
    """BODY[part.text (fields)]: ``part`` () is the whole message."""

    part: tuple[int, ...] = ()
    text: str = ""  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        out = ".".join(str(p) for p in self.part)
        if self.text:
            out = f"{out}.{self.text}" if out else self.text
        if self.fields:
            out += " (" + " ".join(self.fields) + ")"
        return out


@dataclass(frozen=True)
class FetchAtt:
    """One FETCH attribute; ``name`` is ENVELOPE, FLAGS, INTERNALDATE, RFC822,
    RFC822.HEADER, RFC822.SIZE, RFC822.TEXT, BODY, BODYSTRUCTURE, UID or BODY[] (with
    ``section``, ``partial`` (origin, length) and ``peek``)."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False

    def response_name(self) -> str:
        if self.section is None:
            return self.name
        out = f"BODY[{self.section.spec()}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out


_SIMPLE_ATTS = ("ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.HEADER", "RFC822.SIZE",
                "RFC822.TEXT", "RFC822", "BODYSTRUCTURE", "UID", "MODSEQ")
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_FETCH_WORD = re.compile(rb"[A-Za-z0-9.]+")


def _section(s: Scanner) -> Section:
    s.expect(b"[")
    part: list[int] = []
    text = ""
    fields: tuple[str, ...] = ()
    if s.take(b"]"):
        return Section()
    while s.peek().isdigit():
        part.append(s.nz_number())
        if not s.take(b"."):
            break
    if part and s.peek() == b"]":
        s.pos += 1
        return Section(tuple(part))
    word = s._match(_FETCH_WORD, "a section").upper().decode()
    if word in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        s.sp()
        s.expect(b"(")
        names = []
        while True:
            names.append(s.astring().decode("ascii", "replace").upper())
            if s.take(b")"):
                break
            s.sp()
        fields = tuple(names)
    elif word not in ("HEADER", "TEXT", "MIME"):
        raise s.error(f"unknown section text {word}")
    if word == "MIME" and not part:
        raise s.error("MIME needs a part number")
    text = word
    s.expect(b"]")
    return Section(tuple(part), text, fields)


def _fetch_att(s: Scanner) -> FetchAtt:
    word = s._match(_FETCH_WORD, "a fetch attribute").upper().decode()
    if word in ("BODY", "BODY.PEEK") and s.peek() == b"[":
        section = _section(s)
        partial = None
        if s.take(b"<"):
            origin = s.number()
            s.expect(b".")
            length = s.nz_number()
            s.expect(b">")
            partial = (origin, length)
        return FetchAtt("BODY[]", section, partial, peek=word == "BODY.PEEK")
    if word == "BODY":
        return FetchAtt("BODY")
    if word in _SIMPLE_ATTS:
        return FetchAtt(word)
    raise s.error(f"unknown fetch attribute {word}")


def _fetch_atts(s: Scanner) -> list[FetchAtt]:
    if s.take(b"("):
        atts = []
        while True:
            atts.append(_fetch_att(s))
            if s.take(b")"):
                return atts
            s.sp()
    m = _FETCH_WORD.match(s.text, s.pos)
    if m and m.group(0).upper().decode() in MACROS and s.text[m.end():m.end() + 1] != b"[":
        s.pos = m.end()
        return [FetchAtt(n) for n in MACROS[m.group(0).upper().decode()]]
    return [_fetch_att(s)]


# ---------------------------------------------------------------------------- SEARCH

# Search keys are tuples: (KEY, *args). Strings are raw bytes (decoded by the session in
# the CHARSET given), dates datetime.date, sets SeqSet.
_SEARCH_FLAG_KEYS = {"ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD",
                     "RECENT", "SEEN", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED",
                     "UNSEEN"}
_SEARCH_STRING_KEYS = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"}
_SEARCH_DATE_KEYS = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}
MAX_SEARCH_DEPTH = 64
MAX_SEARCH_KEYS = 300  # SQLite's expression depth is 1000


def _search_key(s: Scanner, depth: int = 0) -> tuple:
    if depth > MAX_SEARCH_DEPTH:
        raise s.error("search program nested too deeply")
    s.keys += 1
    if s.keys > MAX_SEARCH_KEYS:
        raise s.error("search program too long")
    c = s.peek()
    if c == b"(":
        s.pos += 1
        keys = [_search_key(s, depth + 1)]
        while not s.take(b")"):
            s.sp()
            keys.append(_search_key(s, depth + 1))
        return ("AND", keys)
    if c.isdigit() or c == b"*":
        return ("SEQ", s.seq_set())
    word = s.word().decode()
    if word in _SEARCH_FLAG_KEYS:
        return (word,)
    s.sp()
    if word in _SEARCH_STRING_KEYS:
        return (word, s.astring())
    if word in _SEARCH_DATE_KEYS:
        return (word, s.date())
    if word in ("KEYWORD", "UNKEYWORD"):
        return (word, s.atom().decode("ascii"))
    if word in ("LARGER", "SMALLER"):
        return (word, s.number())
    if word == "HEADER":
        name = s.astring()
        s.sp()
        return (word, name.decode("ascii", "replace"), s.astring())
    if word == "UID":
        return ("UID", s.seq_set())
    if word == "MODSEQ":
        if s.peek() == b'"':  # entry name and type (per-flag modseqs are not kept apart)
            s.quoted()
            s.sp()
            kind = s.word()
            if kind not in (b"ALL", b"PRIV", b"SHARED"):
                raise s.error("MODSEQ entry type must be all, priv or shared")
            s.sp()
        return ("MODSEQ", s.modseq())
    if word == "NOT":
        return ("NOT", _search_key(s, depth + 1))
    if word == "OR":
        a = _search_key(s, depth + 1)
        s.sp()
        return ("OR", a, _search_key(s, depth + 1))
    raise s.error(f"unknown search key {word}")


def _search(s: Scanner) -> tuple[str | None, tuple]:
    charset = None
    if s.peek_upper(b"CHARSET "):
        s.pos += 8
        charset = s.astring().decode("ascii", "replace").upper()
        s.sp()
    keys = [_search_key(s)]
    while not s.at_end():
        s.sp()
        keys.append(_search_key(s))
    return charset, ("AND", keys)


# ---------------------------------------------------------------------------- commands


@dataclass
class FetchArgs:
    atts: list[FetchAtt]
    changedsince: int | None = None  # CONDSTORE
    vanished: bool = False  # QRESYNC, UID FETCH only


@dataclass
class StoreArgs:
    mode: str  # "" replace, "+" add, "-" remove
    silent: bool
    flags: list[str]
    unchangedsince: int | None = None  # CONDSTORE


@dataclass
class Command:
    tag: bytes
    name: str  # upper case; for UID commands "UID FETCH" etc.
    args: tuple = ()

    @property
    def uid(self) -> bool:
        return self.name.startswith("UID ")

    @property
    def base(self) -> str:
        return self.name[4:] if self.uid else self.name


def _no_args(s: Scanner) -> tuple:
    return ()


def _one_mailbox(s: Scanner) -> tuple:
    s.sp()
    return (s.mailbox(),)


@dataclass
class QResync:
    """SELECT (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])) (RFC 7162 3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SeqSet | None = None
    seq_match: tuple[SeqSet, SeqSet] | None = None


def _qresync_param(s: Scanner) -> QResync:
    s.sp()
    s.expect(b"(")
    uidvalidity = s.nz_number()
    s.sp()
    modseq = s.modseq()
    if modseq == 0:
        raise s.error("QRESYNC mod-sequence must not be 0")
    known = match = None
    if s.take(b" "):
        if s.peek() != b"(":
            known = s.seq_set()
            s.take(b" ")
        if s.take(b"("):
            seqs = s.seq_set()
            s.sp()
            match = (seqs, s.seq_set())
            s.expect(b")")
    s.expect(b")")
    return QResync(uidvalidity, modseq, known, match)


def _select(s: Scanner) -> tuple:
    """-> (mailbox, condstore, qresync)"""
    s.sp()
    name = s.mailbox()
    condstore = False
    qresync = None
    if not s.at_end():
        s.sp()
        s.expect(b"(")
        while True:
            word = s.word()
            if word == b"CONDSTORE":
                condstore = True
            elif word == b"QRESYNC":
                qresync = _qresync_param(s)
            else:
                raise s.error(f"unknown SELECT parameter {word.decode()}")
            if s.take(b")"):
                break
            s.sp()
    return (name, condstore, qresync)


def _two_mailboxes(s: Scanner) -> tuple:
    s.sp()
    a = s.mailbox()
    s.sp()
    return (a, s.mailbox())


def _login(s: Scanner) -> tuple:
    s.sp()
    user = s.astring()
    s.sp()
    return (user, s.astring())


def _authenticate(s: Scanner) -> tuple:
    s.sp()
    mech = s.atom().decode("ascii").upper()
    initial = None
    if not s.at_end():
        s.sp()
        if s.take(b"="):
            initial = b""
        else:
            initial = s._match(re.compile(rb"[A-Za-z0-9+/]+={0,2}"), "base64")
    return (mech, initial)


def _list(s: Scanner) -> tuple:
    s.sp()
    ref = s.astring()
    s.sp()
    pattern = s.list_mailbox()
    try:
        return (utf7.decode(ref), utf7.decode(pattern))
    except utf7.UTF7Error as exc:
        raise s.error(f"bad mailbox name: {exc}") from None


def _status(s: Scanner) -> tuple:
    s.sp()
    mailbox = s.mailbox()
    s.sp()
    s.expect(b"(")
    items = []
    while True:
        word = s.word().decode()
        if word not in ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
                        "HIGHESTMODSEQ"):
            raise s.error(f"unknown status item {word}")
        items.append(word)
        if s.take(b")"):
            break
        s.sp()
    return (mailbox, items)


@dataclass
class AppendMessage:
    flags: list[str]
    date: int | None
    message: bytes


@dataclass
class AppendArgs:
    """APPEND mailbox, then one or more messages (MULTIAPPEND, RFC 3502 6.3.11)."""

    mailbox: str
    messages: list[AppendMessage]

    # The single-message view most code and tests use.
    @property
    def flags(self) -> list[str]:
        return self.messages[0].flags

    @property
    def date(self) -> int | None:
        return self.messages[0].date

    @property
    def message(self) -> bytes:
        return self.messages[0].message


def _append_message(s: Scanner) -> AppendMessage:
    flags: list[str] = []
    date = None
    if s.peek() == b"(":
        flags = s.flag_list()
        s.sp()
    if s.peek() == b'"':
        date = s.date_time()
        s.sp()
    if s.peek() != b"{":
        raise s.error("APPEND expects the message as a literal")
    return AppendMessage(flags, date, s.literal())


def _append(s: Scanner) -> tuple:
    s.sp()
    mailbox = s.mailbox()
    s.sp()
    messages = [_append_message(s)]
    while s.peek() == b" ":  # append-data *(SP append-data)  (RFC 3502)
        s.sp()
        messages.append(_append_message(s))
    return (AppendArgs(mailbox, messages),)


def _fetch(s: Scanner) -> tuple:
    s.sp()
    seqs = s.seq_set()
    s.sp()
    atts = _fetch_atts(s)
    changedsince = None
    vanished = False
    if not s.at_end():
        s.sp()
        s.expect(b"(")
        while True:
            word = s.word()
            if word == b"CHANGEDSINCE" and changedsince is None:
                s.sp()
                changedsince = s.modseq()
            elif word == b"VANISHED" and not vanished:
                vanished = True
            else:
                raise s.error(f"unexpected FETCH modifier {word.decode()}")
            if s.take(b")"):
                break
            s.sp()
        if vanished and changedsince is None:
            raise s.error("VANISHED needs CHANGEDSINCE")
    return (seqs, FetchArgs(atts, changedsince, vanished))


def _store(s: Scanner) -> tuple:
    s.sp()
    seqs = s.seq_set()
    s.sp()
    unchangedsince = None
    if s.take(b"("):
        s.expect(b"UNCHANGEDSINCE", "UNCHANGEDSINCE")
        s.sp()
        unchangedsince = s.modseq()
        s.expect(b")")
        s.sp()
    mode = ""
    if s.peek() in (b"+", b"-"):
        mode = s.peek().decode()
        s.pos += 1
    s.expect(b"FLAGS", "FLAGS")
    silent = s.take(b".SILENT")
    s.sp()
    if s.peek() == b"(":
        flags = s.flag_list()
    else:
        flags = [s.flag()]
        while s.peek() == b" ":
            s.pos += 1
            flags.append(s.flag())
    if any(f.lower() in ("\\recent", "\\*") for f in flags):
        raise s.error("\\Recent and \\* cannot be stored")
    return (seqs, StoreArgs(mode, silent, flags, unchangedsince))


def _copy(s: Scanner) -> tuple:
    s.sp()
    seqs = s.seq_set()
    s.sp()
    return (seqs, s.mailbox())


def _search_args(s: Scanner) -> tuple:
    s.sp()
    return _search(s)


def _uid_expunge(s: Scanner) -> tuple:
    s.sp()
    return (s.seq_set(),)


def _id(s: Scanner) -> tuple:
    s.sp()
    if s.take(b"NIL"):
        return (None,)
    s.expect(b"(")
    params: dict[str, str | None] = {}
    if s.take(b")"):
        return (params,)
    while True:
        key = s.string().decode("utf-8", "replace")
        s.sp()
        value = s.nstring_or_nil()
        params[key] = None if value is None else value.decode("utf-8", "replace")
        if s.take(b")"):
            return (params,)
        s.sp()


def _enable(s: Scanner) -> tuple:
    caps = []
    while not s.at_end():
        s.sp()
        caps.append(s.atom().decode("ascii").upper())
    if not caps:
        raise s.error("ENABLE needs at least one capability")
    return (caps,)


COMMANDS: dict[str, Callable[[Scanner], tuple]] = {
    "CAPABILITY": _no_args, "NOOP": _no_args, "LOGOUT": _no_args, "STARTTLS": _no_args,
    "AUTHENTICATE": _authenticate, "LOGIN": _login, "ID": _id, "ENABLE": _enable,
    "SELECT": _select, "EXAMINE": _select, "CREATE": _one_mailbox,
    "DELETE": _one_mailbox, "RENAME": _two_mailboxes, "SUBSCRIBE": _one_mailbox,
    "UNSUBSCRIBE": _one_mailbox, "LIST": _list, "LSUB": _list, "STATUS": _status,
    "APPEND": _append, "NAMESPACE": _no_args,
    "CHECK": _no_args, "CLOSE": _no_args, "UNSELECT": _no_args, "EXPUNGE": _no_args,
    "SEARCH": _search_args, "FETCH": _fetch, "STORE": _store, "COPY": _copy, "MOVE": _copy,
    "IDLE": _no_args,
}
UID_COMMANDS: dict[str, Callable[[Scanner], tuple]] = {
    "FETCH": _fetch, "STORE": _store, "COPY": _copy, "MOVE": _copy, "SEARCH": _search_args,
    "EXPUNGE": _uid_expunge,
}


def parse_tag(raw: RawCommand) -> bytes | None:
    return _tag_of(raw.text)


def parse_command(raw: RawCommand) -> Command:
    """Parse a framed command; raises ParseError (with the tag when it was readable)."""
    text = raw.text
    tag = _tag_of(text)
    if tag is None:
        raise ParseError("missing or invalid tag")
    s = Scanner(raw, tag)
    s.pos = len(tag)
    s.sp()
    m = re.compile(rb"[A-Za-z]+").match(text, s.pos)
    if not m:
        raise s.error("missing command")
    name = m.group(0).upper().decode()
    s.pos = m.end()
    if name == "UID":
        s.sp()
        m = re.compile(rb"[A-Za-z]+").match(text, s.pos)
        sub = m.group(0).upper().decode() if m else ""
        handler = UID_COMMANDS.get(sub)
        if handler is None:
            raise s.error(f"unknown UID command {sub or '(none)'}")
        s.pos = m.end()
        args = handler(s)
        s.end()
        return Command(tag, f"UID {sub}", args)
    handler = COMMANDS.get(name)
    if handler is None:
        raise s.error(f"unknown command {name}")
    args = handler(s)
    s.end()
    return Command(tag, name, args)
