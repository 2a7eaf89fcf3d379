"""Talking to the provider: stdlib ``poplib``/``imaplib`` (blocking, so every call runs in
a thread via ``asyncio.to_thread``; the notes on vetted libraries found no maintained,
licence-compatible async POP3/IMAP client). TLS: implicit, STARTTLS/STLS, or none; the
certificate is verified unless the mailbox says ``verify_tls = false``.

Downloads are streamed (issue 10: "big messages are streamed, not held twice in memory"):
POP3 RETR and the IMAP literal of ``BODY.PEEK[]`` go line by line into a ``Spool`` (an
unnamed temporary file), CRLF-normalised on the way, and come back as ONE ``bytes`` object
that already starts with the ``Received:`` header: what the store keeps. The stdlib would
build a list of every line, join it, and the header would cost a third copy.
"""

from __future__ import annotations

import base64
import imaplib
import poplib
import re
import socket
import ssl
import tempfile

from ..net.tls import client_context

PIECE = 64 * 1024  # longest piece read at once; longer lines arrive in several pieces


class FetchError(Exception):
    """A failure with a kind: auth, tls, dns, connect, protocol (for logs and back-off)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def tls_context(mb) -> ssl.SSLContext:
    return client_context(mb.ca_file, mb.verify_tls)


def classify(exc: BaseException) -> FetchError:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, ssl.SSLError):
        return FetchError("tls", f"TLS failed: {text}")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) in (-2, -3, -5):
        return FetchError("dns", f"host not found: {text}")
    if isinstance(exc, (TimeoutError, OSError)):
        return FetchError("connect", f"cannot connect: {text}")
    if re.search(r"auth|login|password|credentials|-ERR \[AUTH\]", text, re.I):
        return FetchError("auth", f"login refused: {text}")
    return FetchError("protocol", text[:300])


class Spool:
    """One message on its way in: pieces (as ``readline`` returns them, so a line feed can
    only be a piece's last octet) written to an unnamed temporary file with bare LF turned
    into CRLF, at most ``limit`` octets, read back once by ``take``."""

    def __init__(self, head: bytes, limit: int, directory: str | None = None) -> None:
        self.file = tempfile.TemporaryFile(dir=directory)
        self.limit = limit
        self.size = 0
        self._cr = False  # the last piece ended in CR (a CRLF cut between two pieces)
        self.add(head)

    def add(self, piece: bytes) -> None:
        if piece.endswith(b"\n") and not piece.endswith(b"\r\n") and not (
                piece == b"\n" and self._cr):
            piece = piece[:-1] + b"\r\n"
        self._cr = piece.endswith(b"\r")
        self.size += len(piece)
        if self.size > self.limit:
            raise FetchError("size", f"message larger than {self.limit} octets")
        self.file.write(piece)

    def take(self) -> bytes:
        with self.file:
            self.file.seek(0)
            return self.file.read()

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------- POP3


def _connect(open_, login, close):
    """open_() -> connection, then login; failures become FetchError with their kind."""
    try:
        conn = open_()
        try:
            login(conn)
        except (poplib.error_proto, imaplib.IMAP4.error) as exc:
            close(conn)
            raise FetchError("auth", f"login refused: {exc}") from None
        return conn
    except FetchError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise classify(exc) from None


def _xoauth2_pop3(conn: poplib.POP3, mb, token: str) -> None:
    from ..oauth.remote import xoauth2

    resp = conn._shortcmd("AUTH XOAUTH2 " + base64.b64encode(xoauth2(mb.user, token)).decode())
    if not resp.startswith(b"+OK"):  # the JSON error challenge: answer, get the -ERR
        conn._shortcmd("")
        raise poplib.error_proto(resp)


def _xoauth2_imap(conn: imaplib.IMAP4, mb, token: str) -> None:
    from ..oauth.remote import xoauth2

    sent = []

    def respond(_challenge: bytes) -> bytes:
        sent.append(1)
        return xoauth2(mb.user, token) if len(sent) == 1 else b""  # b"": after an error

    conn.authenticate("XOAUTH2", respond)


def pop3_connect(mb, timeout: float = 60, token: str | None = None) -> poplib.POP3:
    def open_() -> poplib.POP3:
        if mb.tls == "implicit":
            return poplib.POP3_SSL(mb.host, mb.port, timeout=timeout, context=tls_context(mb))
        conn = poplib.POP3(mb.host, mb.port, timeout=timeout)
        if mb.tls == "starttls":
            conn.stls(context=tls_context(mb))
        return conn

    def login(conn: poplib.POP3) -> None:
        if token is not None:
            _xoauth2_pop3(conn, mb, token)
            return
        conn.user(mb.user)
        conn.pass_(mb.password)

    return _connect(open_, login, lambda c: c.close())


def pop3_listing(conn: poplib.POP3) -> tuple[list[tuple[int, str, int]], bool]:
    """[(number, key, size)], and whether the keys are UIDLs (else Message-ID + size)."""
    sizes = {}
    for line in conn.list()[1]:
        n, size = line.split()[:2]
        sizes[int(n)] = int(size)
    try:
        uidl = conn.uidl()[1]
    except poplib.error_proto:
        out = []
        for n, size in sorted(sizes.items()):
            header = b"\r\n".join(conn.top(n, 0)[1])
            m = re.search(rb"^message-id:\s*(<[^>\r\n]+>)", header, re.I | re.M)
            out.append((n, f"mid:{(m.group(1) if m else b'').decode('latin-1')}:{size}", size))
        return out, False
    out = []
    for line in uidl:
        n, key = line.decode("latin-1").split()[:2]
        out.append((int(n), key, sizes.get(int(n), 0)))
    return out, True


def _pop3_line(conn: poplib.POP3) -> bytes:
    piece = conn.file.readline(PIECE)
    if not piece:
        raise FetchError("connect", "the POP3 server closed the connection")
    return piece


def pop3_retr(conn: poplib.POP3, n: int, spool: Spool) -> None:
    """RETR into ``spool``, undoing the byte-stuffing (RFC 1939 section 3). Read from the
    connection's own socket file: poplib's ``retr`` keeps every line in a list and refuses
    lines over 2,048 octets, which real mail (unwrapped HTML) has."""
    conn.sock.sendall(b"RETR %d\r\n" % n)
    status = _pop3_line(conn)
    if not status.startswith(b"+OK"):
        raise FetchError("protocol", f"RETR {n}: {status[:200].decode('latin-1').strip()}")
    at_line_start = True
    while True:
        piece = _pop3_line(conn)
        if at_line_start:
            if piece in (b".\r\n", b".\n"):
                return
            if piece.startswith(b".."):
                piece = piece[1:]
        at_line_start = piece.endswith(b"\n")
        spool.add(piece)


# --------------------------------------------------------------------------- IMAP


class _SpoolLiterals:
    """imaplib reads every literal with ``read(size)``; while ``spool`` is set (during
    one ``BODY.PEEK[]``) the literal goes into it piece by piece and imaplib keeps b""."""

    spool: Spool | None = None

    def read(self, size: int) -> bytes:
        if self.spool is None:
            return super().read(size)
        left = size
        while left:
            piece = self.file.readline(min(left, PIECE))
            if not piece:
                raise FetchError("connect", "the IMAP server closed the connection")
            left -= len(piece)
            self.spool.add(piece)
        return b""


class IMAP(_SpoolLiterals, imaplib.IMAP4):
    pass


class IMAPS(_SpoolLiterals, imaplib.IMAP4_SSL):
    pass


def imap_connect(mb, timeout: float = 60, token: str | None = None) -> imaplib.IMAP4:
    def open_() -> imaplib.IMAP4:
        if mb.tls == "implicit":
            return IMAPS(mb.host, mb.port, ssl_context=tls_context(mb), timeout=timeout)
        conn = IMAP(mb.host, mb.port, timeout=timeout)
        if mb.tls == "starttls":
            conn.starttls(ssl_context=tls_context(mb))
        return conn

    def login(conn: imaplib.IMAP4) -> None:
        if token is not None:
            _xoauth2_imap(conn, mb, token)
        else:
            conn.login(mb.user, mb.password)

    return _connect(open_, login, lambda c: c.shutdown())


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_select(conn: imaplib.IMAP4, folder: str, readonly: bool) -> int:
    """Select the folder; returns its UIDVALIDITY."""
    typ, data = conn.select(_quote(folder), readonly=readonly)
    if typ != "OK":
        raise FetchError("protocol", f"cannot select {folder}: {data}")
    value = conn.untagged_responses.get("UIDVALIDITY", [b"0"])[-1]
    return int(value)


def imap_listing(conn: imaplib.IMAP4) -> list[tuple[int, int, str]]:
    """[(uid, size, message-id)] of the selected folder."""
    typ, data = conn.uid("FETCH", "1:*", "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
                                          "(MESSAGE-ID)])")
    out = []
    if typ != "OK":
        return out
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, header = item[0], item[1]
        uid = re.search(rb"UID (\d+)", meta)
        size = re.search(rb"RFC822\.SIZE (\d+)", meta)
        mid = re.search(rb"(<[^>\r\n]+>)", header or b"")
        if uid:
            out.append((int(uid.group(1)), int(size.group(1)) if size else 0,
                        mid.group(1).decode("latin-1") if mid else ""))
    return out


def imap_fetch(conn: IMAP, uid: int, spool: Spool) -> bool:
    """UID FETCH BODY.PEEK[] into ``spool``; False if the message is gone (expunged by
    another client since the listing)."""
    conn.spool = spool
    try:
        typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
    finally:
        conn.spool = None
    return typ == "OK" and any(isinstance(item, tuple) for item in data)


def imap_delete(conn: imaplib.IMAP4, uids: list[int]) -> None:
    """Mark deleted and expunge just those (UID EXPUNGE with UIDPLUS, else EXPUNGE)."""
    if not uids:
        return
    uid_set = ",".join(str(u) for u in uids)
    conn.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
    caps = conn.capabilities
    if "UIDPLUS" in caps:
        conn.uid("EXPUNGE", uid_set)
    else:
        conn.expunge()


# --------------------------------------------------------------------------- IMAP IDLE

_CHANGE = re.compile(rb"^\* \d+ (?:EXISTS|RECENT)\b", re.I)


def _imap_line(conn: imaplib.IMAP4) -> bytes:
    line = conn.readline()  # unlike imaplib's own reader, this one returns b"" at EOF
    if not line:
        raise FetchError("connect", "the IMAP server closed the connection")
    return line


def imap_idle(conn: imaplib.IMAP4, wait: float) -> bool:
    """One IDLE (RFC 2177): True when the server reports new mail (EXISTS/RECENT), after
    DONE and the tagged OK; False when ``wait`` seconds pass without news. A read timeout
    leaves the socket file unusable, so after False the caller logs out and reconnects
    (with ``wait`` under 29 minutes that is also the RFC's "re-issue IDLE at least every 29
    minutes"). The loop ends a wait early by shutting the socket down (``wake``)."""
    tag = b"IDLE%d" % id(conn)
    conn.send(tag + b" IDLE\r\n")
    first = _imap_line(conn)
    if not first.startswith(b"+"):
        raise FetchError("protocol", f"IDLE refused: {first[:200].decode('latin-1').strip()}")
    conn.sock.settimeout(wait)
    try:
        while True:
            line = _imap_line(conn)
            if line.upper().startswith(b"* BYE"):
                raise FetchError("connect", "the IMAP server ended the IDLE session")
            if _CHANGE.match(line):
                break
    except TimeoutError:
        return False
    finally:
        conn.sock.settimeout(60)
    conn.send(b"DONE\r\n")
    while not _imap_line(conn).startswith(tag + b" "):
        pass
    return True


def wake(conn: imaplib.IMAP4) -> None:
    """From another thread: end a blocked IDLE read (shut the TCP socket itself down:
    the file object's close would wait for the reading thread's lock)."""
    try:
        socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
    except OSError:
        pass
