"""Per-command latency: how a client splits its writes must never cost a TCP stall.

imaplib (like many clients) sends a synchronizing literal's data and the CRLF that ends
the command in two writes, with Nagle's algorithm on. The second write waits until the
first is acknowledged, and a server in delayed-ACK mode acknowledges only after ~40 ms:
every APPEND took 44 ms. The server now asks for an immediate ACK (TCP_QUICKACK) whenever
it sends a continuation and waits for the client's data (``net.Connection.quickack``).
These thresholds are generous (the stall is 40 ms, an APPEND on loopback well under 2 ms);
speed itself is measured by bench/, not here.
"""

from __future__ import annotations

import imaplib
import statistics
import time

from imaphelp import PASSWORD, message


def test_split_write_append_has_no_delayed_ack_stall(imapd, user) -> None:
    client = imaplib.IMAP4("127.0.0.1", imapd.ports["imap"])  # stock imaplib: Nagle on
    client.login(user, PASSWORD)
    times = []
    for i in range(20):
        started = time.perf_counter()
        typ, _ = client.append("INBOX", None, None, message(subject=f"m{i}", body="x" * 2000))
        times.append(time.perf_counter() - started)
        assert typ == "OK"
    client.logout()
    assert statistics.median(times) < 0.010, [f"{t * 1000:.1f}" for t in times]


def test_split_write_login_literal_has_no_stall(imapd, user) -> None:
    """LOGIN with a literal password (imaplib sends it as one when it has to)."""
    times = []
    for _ in range(5):
        client = imaplib.IMAP4("127.0.0.1", imapd.ports["imap"])
        client.literal = PASSWORD.encode()
        started = time.perf_counter()
        typ, _ = client._simple_command("LOGIN", user)
        times.append(time.perf_counter() - started)
        assert typ == "OK"
        client.logout()
    assert statistics.median(times) < 0.010, [f"{t * 1000:.1f}" for t in times]


def test_store_without_fsync_still_survives_kill_9(imapd_factory) -> None:
    """Flag changes commit without an fsync of their own (store/db.py): a crash of the
    process must still keep them (only a power cut may forget the last ones)."""
    d = imapd_factory()
    client = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    client.login("sam", PASSWORD)
    assert client.append("INBOX", None, None, message(subject="keep"))[0] == "OK"
    client.select("INBOX")
    assert client.store("1", "+FLAGS", "(\\Flagged $Work)")[0] == "OK"
    d.kill()
    d.start()
    client = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    client.login("sam", PASSWORD)
    client.select("INBOX")
    typ, data = client.fetch("1", "(FLAGS)")
    assert typ == "OK" and b"\\Flagged" in data[0] and b"$Work" in data[0], data
    client.logout()


def test_own_store_is_not_echoed_but_others_are(imapd, connect, raw, user) -> None:
    """The session that changed flags is not woken by its own change (no store read after
    each STORE); another session's change still reaches it at its next command."""
    setup = connect(user)
    assert setup.append("INBOX", None, None, message(subject="a"))[0] == "OK"
    assert setup.append("INBOX", None, None, message(subject="b"))[0] == "OK"
    me = raw(login=user)
    me.cmd("s1 SELECT INBOX")
    lines = me.cmd("s2 STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert lines == [b"s2 OK STORE completed"]
    assert me.cmd("s3 NOOP") == [b"s3 OK NOOP completed"]
    other = connect(user)
    other.select("INBOX")
    other.store("2", "+FLAGS", "(\\Answered)")
    lines = me.cmd("s4 NOOP")
    assert lines[0] == b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))", lines
    assert me.cmd("s5 STORE 1 -FLAGS.SILENT (\\Flagged)") == [b"s5 OK STORE completed"]
    assert me.cmd("s6 NOOP") == [b"s6 OK NOOP completed"]
