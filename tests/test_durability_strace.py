"""Durability proof (hardening item 19): lanmaild syncs the database before it answers.

kill -9 keeps the page cache, so crash tests pass even when nothing is ever synced (with
``PRAGMA synchronous=OFF`` the rest of the suite stays green). This test watches the
system calls instead: lanmaild runs under ``strace -f``, and for each promise a client
gets — SMTP's 250 after DATA, POP3's +OK to QUIT after DELE, IMAP's tagged OK of APPEND —
an fsync/fdatasync of the database (or its WAL) must have completed after the client sent
the request and before the daemon wrote the answer.
"""

from __future__ import annotations

import imaplib
import os
import poplib
import re
import shutil
import signal
import smtplib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# "PID TIMESTAMP call(args) = result <duration>", possibly split by another thread into
# "... <unfinished ...>" and "<... call resumed>... <duration>".
_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
_DURATION = re.compile(r"<(\d+\.\d+)>$")
_CALL = re.compile(r"^(\w+)\(")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>")


@dataclass
class Call:
    name: str
    start: float
    end: float
    text: str


def _calls(trace: str) -> list[Call]:
    calls, pending = [], {}
    for raw in trace.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, stamp, rest = m.group(1), float(m.group(2)), m.group(3)
        if rest.endswith("<unfinished ...>"):
            name = _CALL.match(rest)
            if name:
                pending[pid] = (name.group(1), stamp, rest)
            continue
        resumed = _RESUMED.match(rest)
        duration = _DURATION.search(rest)
        if resumed and pid in pending:
            name, start, first = pending.pop(pid)
            calls.append(Call(name, start, stamp, first + rest))
        elif not resumed and (name := _CALL.match(rest)):
            end = stamp + (float(duration.group(1)) if duration else 0.0)
            calls.append(Call(name.group(1), stamp, end, rest))
    return calls


def _synced_between(calls: list[Call], after: float, reply: str) -> None:
    """A database sync completed after ``after`` and before the write of ``reply``."""
    sends = [c for c in calls if c.name in ("write", "sendto", "sendmsg", "writev")
             and c.start >= after and reply in c.text]
    assert sends, f"no write of {reply!r} traced"
    answered = sends[0].start
    syncs = [c for c in calls if c.name in ("fsync", "fdatasync") and "lanmail.db" in c.text
             and after <= c.end <= answered]
    assert syncs, (f"{reply!r} was written {answered - after:.3f} s after the request "
                   "without a database fsync/fdatasync in between")


@pytest.fixture
def traced(daemon_factory, tmp_path):
    if shutil.which("strace") is None:
        pytest.fail("strace is missing: tests/run.sh installs it (Debian package strace)")
    d = daemon_factory(accounts={"meier": {}}, start=False)
    trace = tmp_path / "strace.out"
    d.wrapper = ["strace", "-f", "--seccomp-bpf", "-ttt", "-T", "-y", "-s", "96", "-o", str(trace),
                 "-e", "trace=fsync,fdatasync,write,sendto,sendmsg,writev"]
    d.start()
    yield d, trace
    _stop_traced(d)  # also when the test failed: no lanmaild may outlive it


def _stop_traced(d) -> None:
    """SIGTERM to lanmaild itself (strace does not pass it on); strace then exits too,
    having written the whole trace."""
    pid = d.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        os.kill(int(child), signal.SIGTERM)
    d.proc.wait(15)
    d.stop()


def _wait_for_mail(d, n: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pop = poplib.POP3("127.0.0.1", d.ports["pop3"])
        pop.user("meier")
        pop.pass_("secret")
        count = pop.stat()[0]
        pop.quit()
        if count >= n:
            return
        time.sleep(0.1)
    raise AssertionError("the message did not arrive")


def test_replies_follow_a_database_sync(traced) -> None:
    d, trace = traced
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"]) as smtp:
        smtp.ehlo()
        smtp.mail("a@example.com")
        smtp.rcpt("meier@lan.test")
        smtp_sent = time.time()
        code, _ = smtp.data(b"Subject: durable\r\n\r\nkeep me\r\n")
        assert code == 250

    _wait_for_mail(d, 1)
    pop = poplib.POP3("127.0.0.1", d.ports["pop3"])
    pop.user("meier")
    pop.pass_("secret")
    pop.dele(1)
    pop_sent = time.time()
    assert pop.quit().startswith(b"+OK")

    imap = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    imap.login("meier", "secret")
    imap_sent = time.time()
    typ, _ = imap.append("INBOX", None, None, b"Subject: appended\r\n\r\nbody\r\n")
    assert typ == "OK"
    imap.logout()

    _stop_traced(d)
    calls = _calls(trace.read_text(errors="replace"))
    _synced_between(calls, smtp_sent, '"250 2.0.0 Ok: queued as')
    _synced_between(calls, pop_sent, '"+OK')
    _synced_between(calls, imap_sent, "OK [APPENDUID")
