"""POP3 test helpers: put mail into INBOX, connect with poplib (plain, STLS, pop3s).

Mail is put in through the store itself (``Store.mail.append`` with the real
``parse_message``), with the daemon stopped: the daemon holds the data_dir lock while it
runs, and POP3 takes its maildrop snapshot at log-in, so this is exact and independent
of the SMTP and IMAP servers.
"""

from __future__ import annotations

import asyncio
import poplib
import socket
import ssl

from lanmaild.mime.parser import parse_message
from lanmaild.store import Store

USERS = {"meier": {"password": "secret"}, "schulze": {"password": "secret"}}


def make_message(n: int, body: str | None = None, subject: str | None = None) -> bytes:
    body = body if body is not None else f"Hello number {n}.\r\nSecond line.\r\n"
    head = (f"From: Sender <sender@example.org>\r\nTo: meier@lan.test\r\n"
            f"Subject: {subject or f'message {n}'}\r\n"
            f"Message-ID: <m{n}@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    return (head + body).encode()


def put_mail(daemon, account: str, messages: list[bytes]) -> None:
    """Append ``messages`` to the account's INBOX (stops and restarts a running daemon)."""
    running = daemon.proc is not None and daemon.proc.poll() is None
    if running:
        daemon.stop()

    async def append() -> None:
        store = Store(daemon.data)
        try:
            await store.mail.ensure_accounts([account])  # as the daemon does from conf.d
            for raw in messages:
                await store.mail.append(account, "INBOX", raw, parse_message(raw))
        finally:
            store.close()

    asyncio.run(append())
    if running:
        daemon.start()


def inbox_uids(daemon, account: str = "meier") -> list[int]:
    """UIDs in INBOX, read from the store (daemon stopped or not: WAL readers are fine)."""

    async def read() -> list[int]:
        store = Store(daemon.data)
        try:
            return [uid for folder, uid in await store.mail.all_uids(account)
                    if folder == "INBOX"]
        finally:
            store.close()

    return asyncio.run(read())


def client_context(tls_files) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files["ca"]))


def connect(daemon, *, user: str | None = "meier", password: str = "secret",
            tls: str = "none", tls_files=None) -> poplib.POP3:
    """A poplib client; tls = "none" | "stls" | "implicit"; logs in when ``user`` is set."""
    if tls == "implicit":
        pop = poplib.POP3_SSL("localhost", daemon.ports["pop3s"], timeout=10,
                              context=client_context(tls_files))
    else:
        pop = poplib.POP3("127.0.0.1", daemon.ports["pop3"], timeout=10)
        if tls == "stls":
            pop.stls(client_context(tls_files))
    if user is not None:
        pop.user(user)
        pop.pass_(password)
    return pop


class Raw:
    """A bare socket client for what poplib cannot send (pipelining, junk, long lines)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.readline()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readline(self) -> bytes:
        return self.file.readline()

    def cmd(self, line: str) -> bytes:
        self.send(line.encode() + b"\r\n")
        return self.readline()

    def multiline(self) -> list[bytes]:
        lines = []
        while (line := self.readline()) not in (b".\r\n", b""):
            lines.append(line.rstrip(b"\r\n"))
        return lines

    def closed(self) -> bool:
        """True when the server closed the connection (EOF)."""
        return self.file.read() == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()
