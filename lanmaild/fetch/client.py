"""Talking to the provider: stdlib ``poplib``/``imaplib`` (blocking, so every call runs in
a thread via ``asyncio.to_thread``; the notes on vetted libraries found no maintained,
licence-compatible async POP3/IMAP client). TLS: implicit, STARTTLS/STLS, or none; the
certificate is verified unless the mailbox says ``verify_tls = false``."""

from __future__ import annotations

import imaplib
import poplib
import re
import ssl


class FetchError(Exception):
    """A failure with a kind: auth, tls, dns, connect, protocol (for logs and back-off)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def tls_context(mb) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=mb.ca_file or None)
    if not mb.verify_tls:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


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


def pop3_connect(mb, timeout: float = 60) -> poplib.POP3:
    def open_() -> poplib.POP3:
        if mb.tls == "implicit":
            return poplib.POP3_SSL(mb.host, mb.port, timeout=timeout, context=tls_context(mb))
        conn = poplib.POP3(mb.host, mb.port, timeout=timeout)
        if mb.tls == "starttls":
            conn.stls(context=tls_context(mb))
        return conn

    def login(conn: poplib.POP3) -> None:
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


def pop3_retr(conn: poplib.POP3, n: int) -> bytes:
    return b"\r\n".join(conn.retr(n)[1]) + b"\r\n"


# --------------------------------------------------------------------------- IMAP


def imap_connect(mb, timeout: float = 60) -> imaplib.IMAP4:
    def open_() -> imaplib.IMAP4:
        if mb.tls == "implicit":
            return imaplib.IMAP4_SSL(mb.host, mb.port, ssl_context=tls_context(mb),
                                     timeout=timeout)
        conn = imaplib.IMAP4(mb.host, mb.port, timeout=timeout)
        if mb.tls == "starttls":
            conn.starttls(ssl_context=tls_context(mb))
        return conn

    return _connect(open_, lambda c: c.login(mb.user, mb.password), lambda c: c.shutdown())


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


def imap_fetch(conn: imaplib.IMAP4, uid: int) -> bytes | None:
    typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
    if typ != "OK":
        return None
    for item in data:
        if isinstance(item, tuple):
            return item[1]
    return None


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
