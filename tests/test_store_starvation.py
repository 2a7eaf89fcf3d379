"""Reader starvation (hardening item 6): heavy IMAP SEARCHes never delay mail flow, and a
single query is bounded in time (``limits.query_timeout``).

The heavy search is a TEXT search for strings absent from every message and outside
ASCII: the FTS index cannot answer it (under three characters), so SQLite calls a Python
function over every message's whole text, about a second per command here. Several
clients sending such searches at once used to fill all three reader threads, and the
quota check at SMTP RCPT (a store read) queued behind them.
"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import threading
import time

from lanmail_helpers import inject_mail
from loopprobe import LIMIT

BODY = ("Grüße aus der Praxis, bitte zurückrufen. " * 25 + "\r\n") * 50  # ~50 KB
ABSENT = ["ñ", "ø", "ŋ", "ÿ"]  # none occurs: four full scans


def _lit(text: str) -> bytes:
    data = text.encode()
    return b"{%d+}\r\n" % len(data) + data  # LITERAL+ (RFC 7888): no round trip


HEAVY = (b"h1 SEARCH CHARSET UTF-8 OR OR TEXT " + _lit(ABSENT[0]) + b" TEXT " + _lit(ABSENT[1])
         + b" OR TEXT " + _lit(ABSENT[2]) + b" TEXT " + _lit(ABSENT[3]) + b"\r\n")


def _imap_heavy(port: int, before=None) -> list[bytes]:
    """Log in, select INBOX, (wait for ``before``), send HEAVY; the reply lines."""
    with socket.create_connection(("127.0.0.1", port), 60) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"l1 LOGIN meier secret\r\ns1 SELECT INBOX\r\n")
        while not f.readline().startswith(b"s1 "):
            pass
        if before is not None:
            before()
        sock.sendall(HEAVY)
        lines = []
        while not (lines and lines[-1].startswith(b"h1 ")):
            lines.append(f.readline().rstrip(b"\r\n"))
        sock.sendall(b"z LOGOUT\r\n")
        return lines


def _fill(d, n: int) -> None:
    messages = [(f"From: a@b.test\r\nSubject: m{i}\r\n\r\n{BODY}").encode() for i in range(n)]
    inject_mail(d, "meier", {"INBOX": messages})


def _heavy_search(port: int, results: list, ready: threading.Barrier) -> None:
    try:
        results.append(_imap_heavy(port, ready.wait) + [time.monotonic()])
    except Exception as exc:  # noqa: BLE001 - reported by the test
        results.append([repr(exc)])


def _rcpt_times(port: int, until: float) -> list[float]:
    """RCPT TO a quota-limited account (its quota check reads the store), timed."""
    times = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        while time.monotonic() < until:
            smtp.mail("x@example.com")
            started = time.monotonic()
            code, _ = smtp.rcpt("schulze@lan.test")
            times.append(time.monotonic() - started)
            assert code == 250
            smtp.rset()
            time.sleep(0.05)
    return times


def test_heavy_searches_do_not_delay_smtp_rcpt(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}, "schulze": {"quota": 10**9}})
    _fill(d, 600)
    results: list = []
    ready = threading.Barrier(7)
    searchers = [threading.Thread(target=_heavy_search, args=(d.ports["imap"], results, ready))
                 for _ in range(6)]
    for t in searchers:
        t.start()
    ready.wait()
    started = time.monotonic()
    times = _rcpt_times(d.ports["smtp"], started + 2.0)
    for t in searchers:
        t.join(60)
    assert len(results) == 6
    assert all(r[-2].startswith(b"h1 OK") and r[-3] == b"* SEARCH" for r in results), results
    # The searches were really heavy: some still ran when the last RCPT was timed.
    assert max(r[-1] for r in results) > started + 2.0
    assert times and max(times) < LIMIT, f"RCPT took {max(times) * 1000:.0f} ms"


def test_a_query_past_query_timeout_is_stopped_with_no_limit(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, limits_toml="query_timeout = 1")
    _fill(d, 1500)
    started = time.monotonic()
    lines = _imap_heavy(d.ports["imap"])
    took = time.monotonic() - started
    assert lines[-1].startswith(b"h1 NO [LIMIT] Command stopped"), lines
    assert took < 5, took
    # the store carries on
    imap = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    imap.login("meier", "secret")
    imap.select("INBOX")
    typ, data = imap.search(None, "ALL")
    assert typ == "OK" and len(data[0].split()) == 1500
    imap.logout()
    assert "SEARCH stopped: query took longer than 1 s" in d.log()
