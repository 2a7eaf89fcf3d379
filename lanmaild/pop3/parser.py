"""POP3 syntax only (RFC 1939, 2449, 5034): command lines in, reply bytes out.

No state and no I/O here: ``parse_command`` splits a line, ``msg_number``/``line_count``
check arguments, ``ok``/``err`` build status lines, ``DotStuffer`` and ``TopFilter`` turn a
message (fed in chunks of any size) into the body of a multi-line reply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CRLF = b"\r\n"
# RFC 2449 section 4: commands up to 255 octets including CRLF. Be lenient (long user names,
# SASL responses) but bounded: longer lines get -ERR and the connection is closed.
MAX_LINE = 1024


class CommandError(Exception):
    """The line is not a POP3 command or an argument is malformed; text goes after -ERR."""


@dataclass(frozen=True)
class Command:
    name: str  # upper case keyword
    args: tuple[str, ...]  # space-separated arguments
    rest: str  # everything after "KEYWORD " verbatim (PASS allows spaces in passwords)


def decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def parse_command(line: bytes) -> Command:
    """A line without its CRLF -> Command (keywords are case-insensitive, RFC 1939 3)."""
    text = decode(line)
    keyword, _, rest = text.partition(" ")
    if not (3 <= len(keyword) <= 4 and keyword.isascii() and keyword.isalpha()):
        raise CommandError("unknown command")
    return Command(keyword.upper(), tuple(rest.split()), rest)


def _decimal(arg: str) -> int | None:
    if not arg or len(arg) > 10 or not (arg.isascii() and arg.isdigit()):
        return None
    return int(arg)


def msg_number(arg: str) -> int:
    """A message-number argument: decimal, 1 or larger."""
    n = _decimal(arg)
    if n is None or n < 1:
        raise CommandError(f"invalid message number: {arg[:20]}")
    return n


def line_count(arg: str) -> int:
    """TOP's non-negative line count."""
    n = _decimal(arg)
    if n is None:
        raise CommandError(f"invalid number of lines: {arg[:20]}")
    return n


def ok(text: str = "") -> bytes:
    return b"+OK " + text.encode() + CRLF if text else b"+OK" + CRLF


def err(text: str, code: str | None = None) -> bytes:
    """``-ERR [CODE] text``; codes from RFC 2449/3206/5034 (AUTH, SYS/TEMP, IN-USE...)."""
    prefix = f"[{code}] " if code else ""
    return b"-ERR " + (prefix + text).encode() + CRLF


def multiline(first: bytes, lines: Iterable[str]) -> bytes:
    """A whole small multi-line reply (CAPA, LIST); the lines must not start with '.'."""
    return first + b"".join(line.encode() + CRLF for line in lines) + b"." + CRLF


class DotStuffer:
    """Byte-stuffs a message for a multi-line reply (RFC 1939 3): a line starting with '.'
    gets one more; ``finish`` ends the last line and adds the terminating ".CRLF".
    Chunks may split lines anywhere; at most one small copy is made per chunk."""

    def __init__(self) -> None:
        self._at_line_start = True

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        out = chunk.replace(b"\n.", b"\n..")
        if self._at_line_start and chunk[:1] == b".":
            out = b"." + out
        self._at_line_start = chunk[-1:] == b"\n"
        return out

    def finish(self) -> bytes:
        return (b"" if self._at_line_start else CRLF) + b"." + CRLF


class TopFilter:
    """TOP msg n: the header, the empty line and the first ``lines`` body lines.

    ``feed`` returns what to send from each chunk; once ``done`` is true the rest of the
    message need not be read. A message without an empty line is all header.
    """

    def __init__(self, lines: int) -> None:
        self.lines_left = lines
        self.in_header = True
        self.done = False
        self._partial = b""  # an incomplete line carried over to the next chunk

    def feed(self, chunk: bytes) -> bytes:
        if self.done:
            return b""
        data = self._partial + chunk
        out: list[bytes] = []
        pos = 0
        while not self.done:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            line_end = nl + 1
            if self.in_header:
                if line_end - pos <= 2 and data[pos:line_end] in (b"\r\n", b"\n"):
                    self.in_header = False
                    if self.lines_left == 0:
                        self.done = True
            else:
                self.lines_left -= 1
                if self.lines_left == 0:
                    self.done = True
            out.append(data[pos:line_end])
            pos = line_end
        self._partial = b"" if self.done else data[pos:]
        return b"".join(out)

    def finish(self) -> bytes:
        """The unterminated last line, if the message ended inside what TOP sends."""
        rest, self._partial = self._partial, b""
        return b"" if self.done else rest
