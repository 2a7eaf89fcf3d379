"""SMTP DATA content, checked and unstuffed while it streams in (RFC 5321 4.5.2, 4.5.3.1).

``DataBuffer`` takes the bytes between ``354`` and the terminating ``<CRLF>.<CRLF>`` in
whatever chunks the socket delivers and applies aiosmtpd 1.4.6's line rules to them, with
the same replies (tests/smtp/test_smtp_data_reader.py checks it against that algorithm):

- a line longer than ``line_limit`` octets with its CRLF (RFC 5321 4.5.3.1.6: 998 + CRLF;
  aiosmtpd counts 1001) makes the reply 500;
- more than ``size_limit`` octets (counted before unstuffing) make it 552; whichever of the
  two a line triggers first wins, and a too-long line that crosses the size limit is a 500;
- after an error nothing more is kept (the rest is only drained by the caller);
- a leading dot is removed from every line (dot-unstuffing).

Why a class of its own: the earlier reader joined the whole message and split it into lines
at the end to find long ones, which for 50 MB of 2-byte lines took 850 MB and stalled the
event loop for 2 s (hardening issue, item 3). Here each chunk (at most the stream reader's
64 KB) costs work and memory proportional to itself, and nothing is ever re-scanned, so the
loop gets control back between chunks. A CR at the end of a chunk is held back until the
next one, so a CRLF is never split across two chunks.
"""

from __future__ import annotations

CRLF = b"\r\n"


class DataBuffer:
    def __init__(self, size_limit: int, line_limit: int) -> None:
        self.size_limit = size_limit  # 0 = unlimited
        self.width = line_limit - 2  # longest line without its CRLF
        self.total = 0  # octets of complete lines seen (before unstuffing)
        self.current = 0  # octets of the line not yet ended
        self.error: str | None = None
        self._crossing = False  # the line that went over size_limit has not ended yet
        self._held = b""  # a trailing CR, until the next chunk shows whether LF follows
        self._line_start = True  # the next byte begins a line (dot-unstuffing)
        self._data = bytearray()

    def feed(self, chunk: bytes) -> None:
        """The next bytes of content, in stream order."""
        if self.error is not None:
            return
        if self._held:
            chunk = self._held + chunk
            self._held = b""
        if chunk.endswith(b"\r"):
            self._held, chunk = b"\r", chunk[:-1]
        if chunk:
            self._check(chunk)
            if self.error is None:
                self._keep(chunk)

    def finish(self) -> tuple[bytes, str | None]:
        """The unstuffed content, or an error reply (then the content is empty)."""
        if self._held and self.error is None:
            held, self._held = self._held, b""
            self._check(held)
            if self.error is None:
                self._keep(held)
        if self.error is None and self._crossing:  # the data ended inside that line
            self.error = "552 Error: Too much mail data"
        if self.error is not None:
            return b"", self.error
        return bytes(self._data), None

    # ------------------------------------------------------------------ rules

    def _check(self, chunk: bytes) -> None:
        """Line lengths and the size limit, in the order the lines arrive."""
        parts = chunk.split(CRLF)
        first = self.current + len(parts[0])
        if len(parts) == 1:  # no line ends in this chunk
            self.current = first
            if first > self.width:
                self.error = "500 Line too long (see RFC5321 4.5.3.1.6)"
            return
        lengths = [first, *map(len, parts[1:-1])]  # the lines this chunk completes
        ended = sum(lengths) + 2 * len(lengths)
        over = (self._crossing or (self.size_limit and self.total + ended > self.size_limit))
        if over or max(lengths) > self.width:
            self._first_error(lengths)
        self.total += ended
        self.current = len(parts[-1])
        if self.error is None and (self._crossing or self.current > self.width or (
                self.size_limit and self.total + self.current > self.size_limit)):
            self._open_line()

    def _first_error(self, lengths: list[int]) -> None:
        """Line by line (only for the chunk where something is wrong): which rule fires
        first, as aiosmtpd's reader would see it."""
        total = self.total
        for length in lengths:
            if length > self.width:
                self.error = "500 Line too long (see RFC5321 4.5.3.1.6)"
                return
            total += length + 2
            if self._crossing or (self.size_limit and total > self.size_limit):
                self.error = "552 Error: Too much mail data"
                return

    def _open_line(self) -> None:
        """The unfinished last line: too long already is a 500; if it takes the data over
        the size limit, the reply waits until the line ends (it may still turn out too long,
        which aiosmtpd reports as 500)."""
        if self.current > self.width:
            self.error = "500 Line too long (see RFC5321 4.5.3.1.6)"
        elif self.size_limit and self.total + self.current > self.size_limit:
            self._crossing = True

    def _keep(self, chunk: bytes) -> None:
        """RFC 5321 4.5.2: drop the first character of a line that starts with a dot."""
        starts_line, self._line_start = self._line_start, chunk.endswith(CRLF)
        if starts_line and chunk.startswith(b"."):
            chunk = chunk[1:]
        self._data += chunk.replace(b"\r\n.", CRLF)
