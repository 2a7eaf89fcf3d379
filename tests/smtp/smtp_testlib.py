"""Helpers shared by the SMTP, delivery and archive tests (real sockets, real daemon).

Delivered mail is read back through ``lanmailctl mail list --json`` or, for the raw
bytes, a read-only sqlite3 query (the only place tests look into the store directly).
"""

from __future__ import annotations

import json
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import time

DOMAIN = "lan.test"


def addr(name: str) -> str:
    return f"{name}@{DOMAIN}"


def message(subject: str, body: str = "Hello.\r\n", sender: str = "someone@ext.test",
            to: str = "x@lan.test", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}"
            f"Message-ID: <{time.time_ns()}@test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            f"\r\n{body}").encode()


def smtp(daemon, service: str = "smtp", timeout: float = 30) -> smtplib.SMTP:
    if service == "smtps":
        ctx = ssl.create_default_context(cafile=str(daemon.tls["ca"]))
        s = smtplib.SMTP_SSL("localhost", daemon.ports["smtps"], timeout=timeout, context=ctx)
    else:
        s = smtplib.SMTP("127.0.0.1", daemon.ports[service], timeout=timeout)
    s.ehlo("client.test")
    return s


def starttls(daemon, s: smtplib.SMTP) -> None:
    ctx = ssl.create_default_context(cafile=str(daemon.tls["ca"]))
    s._host = "localhost"  # certificate name check
    s.starttls(context=ctx)
    s.ehlo("client.test")


def send(daemon, sender: str, rcpts: list[str], subject: str, *, service: str = "smtp",
         login: tuple[str, str] | None = None, body: str = "Hello.\r\n",
         raw: bytes | None = None) -> dict:
    s = smtp(daemon, service)
    try:
        if login:
            s.login(*login)
        data = raw if raw is not None else message(subject, body, sender, ", ".join(rcpts))
        return s.sendmail(sender, rcpts, data)
    finally:
        s.quit()


def ctl_json(daemon, *argv: str):
    proc = daemon.ctl("--json", *argv)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def api(daemon, op: str, **args):
    """The control API directly (fast: polling through lanmailctl costs a process each);
    the lanmailctl commands themselves are exercised by the tests that name them."""
    reply = daemon.api(op, **args)
    assert reply["ok"], reply
    return reply["result"]


def mail_list(daemon, account: str, folder: str = "INBOX") -> list[dict]:
    return api(daemon, "mail.list", account=account, folder=folder)["messages"]


def queue(daemon) -> list[dict]:
    return api(daemon, "queue.list")["messages"]


def wait_for(predicate, timeout: float = 10, interval: float = 0.05, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(interval)


def wait_delivered(daemon, timeout: float = 15) -> None:
    """Until no recipient is waiting for the pipeline (outbound ones may stay)."""
    def idle() -> bool:
        return all(r["state"] in ("outbound",) for m in queue(daemon) for r in m["recipients"])
    wait_for(idle, timeout, 0.1, "the queue to drain")


def subjects(daemon, account: str, folder: str = "INBOX") -> list[str]:
    return [m["subject"] for m in mail_list(daemon, account, folder)]


def db(daemon) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{daemon.data / 'lanmail.db'}?mode=ro", uri=True, timeout=30)


def raw_messages(daemon, account: str, folder: str = "INBOX") -> list[bytes]:
    with db(daemon) as conn:
        rows = conn.execute(
            "SELECT r.raw FROM message m JOIN folder f ON f.id = m.folder_id"
            " JOIN account a ON a.id = f.account_id JOIN blob_raw r ON r.blob_id = m.blob_id"
            " WHERE a.name = ? AND f.name = ? ORDER BY m.uid", (account, folder)).fetchall()
    return [r[0] for r in rows]


def module_daemon(tmp_path_factory, tls_files, accounts: dict, extra_toml: str = ""):
    """A daemon shared by the tests of one module (start-up costs a second or more)."""
    from lmtest import Daemon

    d = Daemon(tmp_path_factory.mktemp("d"), tls_files, extra_toml)
    for name, keys in accounts.items():
        d.add_account_file(name, **keys)
    d.start()
    return d


class RawSMTP:
    """A line-level SMTP client for malformed input smtplib refuses to send."""

    def __init__(self, daemon, service: str = "smtp") -> None:
        self.sock = socket.create_connection(("127.0.0.1", daemon.ports[service]), timeout=30)
        self.buf = b""
        self.greeting = self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed: " + repr(self.buf))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, line: bytes | str) -> str:
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def send_raw(self, data: bytes) -> str:
        self.sock.sendall(data)
        return self.reply()

    def close(self) -> None:
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.sock.close()


def run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
