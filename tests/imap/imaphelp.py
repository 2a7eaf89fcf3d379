"""Helpers for the IMAP tests (clients and test messages)."""

from __future__ import annotations

import imaplib
import socket
import ssl
import time

PASSWORD = "secret"
MESSAGE_SIZE = 1048576


class Client(imaplib.IMAP4):
    """imaplib with an optional source address (127.0.0.2 = a 'remote' host)."""

    def __init__(self, host: str, port: int, source: str | None = None,
                 timeout: float = 10) -> None:
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0) if self._source
                                        else None)
        # imaplib sends a literal and its CRLF in two writes: without NODELAY, Nagle and
        # delayed ACKs add 40 ms to every APPEND.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def tls_context(tls_files) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files["ca"]))


class RawClient:
    """A line-level IMAP client for what imaplib cannot express (literals, pipelining)."""

    def __init__(self, port: int, source: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until_tagged(self, tag: bytes) -> list[bytes]:
        """Lines up to and including the tagged response (literals kept inline)."""
        lines = []
        while True:
            line = self.line()
            if line.endswith(b"}") and b"{" in line:
                size = int(line[line.rindex(b"{") + 1:-1])
                line += b"\r\n" + self.read(size) + self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, text: bytes | str) -> list[bytes]:
        if isinstance(text, str):
            text = text.encode()
        tag = text.split(b" ", 1)[0]
        self.send(text + b"\r\n")
        return self.until_tagged(tag)

    def closed(self, timeout: float = 5) -> bool:
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionError, OSError):
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def message(subject: str = "Hello", body: str = "Hello world\r\n", sender: str = "a@b.test",
            to: str = "c@d.test", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject.replace(' ', '.')}"
            f"@test>\r\n{extra}\r\n{body}").encode()


def append_many(client: imaplib.IMAP4, n: int, folder: str = "INBOX", **kw) -> None:
    for i in range(n):
        typ, _ = client.append(folder, None, None, message(subject=f"msg {i}", **kw))
        assert typ == "OK"


def tls_client(imapd, tls_files) -> imaplib.IMAP4_SSL:
    """An implicit-TLS (imaps) client that verifies the test certificate."""
    ctx = ssl.create_default_context(cafile=str(tls_files["ca"]))
    client = imaplib.IMAP4_SSL("localhost", imapd.ports["imaps"], ssl_context=ctx, timeout=10)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client
