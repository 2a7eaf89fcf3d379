"""Many sessions on one folder (RFC 3501 5.2, 7.4.1; RFC 2180; IDLE RFC 2177)."""

from __future__ import annotations

import threading
import time

from imaphelp import append_many, message


def read_until(client, predicate, limit: int = 50) -> list[bytes]:
    lines = []
    for _ in range(limit):
        line = client.line()
        lines.append(line)
        if predicate(line):
            return lines
    raise AssertionError(f"not seen: {lines}")


def test_idle_sees_append_store_expunge(raw, connect, user):
    other = connect(user)
    append_many(other, 2)
    idler = raw(login=user)
    idler.cmd("a1 SELECT INBOX")
    idler.send(b"a2 IDLE\r\n")
    assert idler.line().startswith(b"+ ")

    started = time.monotonic()
    assert other.append("INBOX", None, None, message("new"))[0] == "OK"
    assert idler.line() == b"* 3 EXISTS"
    assert time.monotonic() - started < 1.0  # IDLE reports within a second
    assert idler.line() == b"* 3 RECENT"  # the idler owns \Recent of the new message
    other.select("INBOX")
    assert other.response("RECENT")[1] == [b"0"]

    other.store("1", "+FLAGS", "(\\Flagged)")
    assert idler.line() == b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))"

    other.store("2", "+FLAGS.SILENT", "(\\Deleted)")
    other.expunge()
    lines = read_until(idler, lambda line: line.endswith(b"EXPUNGE"))
    assert lines[-1] == b"* 2 EXPUNGE"

    idler.send(b"DONE\r\n")
    assert idler.until_tagged(b"a2")[-1].startswith(b"a2 OK")
    lines = idler.cmd("a3 FETCH 1:* (UID)")
    assert lines[:-1] == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)"]


def test_no_expunge_during_fetch_store_search(raw, connect, user):
    other = connect(user)
    append_many(other, 3)
    a = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    other.select("INBOX")
    other.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    other.expunge()
    # FETCH over the gone message: the rest, then NO (RFC 2180 4.1.2; see
    # test_imap_expunge_view.py); STORE of a message still there: OK.
    for cmd, status in (("a2 FETCH 1:* (UID)", b"NO"), ("a3 STORE 2 +FLAGS (\\Seen)", b"OK"),
                        ("a4 SEARCH ALL", b"OK")):
        lines = a.cmd(cmd)
        assert not any(line.endswith(b"EXPUNGE") for line in lines), lines
        assert lines[-1].split()[1] == status, lines
    # The sequence numbers did not shift: message 2 is still UID 2.
    assert a.cmd("a5 FETCH 2 (UID)")[0] == b"* 2 FETCH (UID 2)"
    assert b"* SEARCH 2 3" in a.cmd("a6 SEARCH ALL")  # the expunged one no longer matches
    lines = a.cmd("a7 NOOP")
    assert lines[0] == b"* 1 EXPUNGE"
    assert a.cmd("a8 FETCH 1 (UID)")[0] == b"* 1 FETCH (UID 2)"


def test_uid_commands_may_report_expunges(raw, connect, user):
    other = connect(user)
    append_many(other, 2)
    a = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    other.select("INBOX")
    other.store("2", "+FLAGS.SILENT", "(\\Deleted)")
    other.expunge()
    lines = a.cmd("a2 UID FETCH 1:* (FLAGS)")
    assert b"* 2 EXPUNGE" in lines


def test_flag_changes_reported_at_noop(connect, user):
    a, b = connect(user), connect(user)
    append_many(a, 2)
    a.select("INBOX")
    b.select("INBOX")
    b.store("2", "+FLAGS", "(\\Answered)")
    typ, _ = a.noop()
    assert any(b"FLAGS (\\Answered" in r for r in a.untagged_responses.get("FETCH", []))
    # b's own change is not echoed back to b at its next NOOP
    b.untagged_responses.clear()
    b.noop()
    assert "FETCH" not in b.untagged_responses


def test_new_mail_seen_after_any_command(connect, user):
    a, b = connect(user), connect(user)
    a.select("INBOX")
    append_many(b, 2)
    a.uid("SEARCH", "ALL")
    assert a.untagged_responses.get("EXISTS")[-1] == b"2"


def test_delivery_does_not_wait_for_a_slow_client(raw, connect, user):
    writer = connect(user)
    body = ("y" * 76 + "\r\n") * 1300  # ~100 KB
    for i in range(30):
        writer.append("INBOX", None, None, message(f"big {i}", body=body))
    slow = raw(login=user)
    slow.cmd("a1 SELECT INBOX")
    slow.send(b"a2 FETCH 1:* BODY.PEEK[]\r\n")  # ~3 MB it does not read
    time.sleep(0.3)
    done = threading.Event()
    started = time.monotonic()

    def deliver():
        for i in range(20):
            writer.append("INBOX", None, None, message(f"small {i}"))
        done.set()

    t = threading.Thread(target=deliver)
    t.start()
    assert done.wait(10)
    elapsed = time.monotonic() - started
    t.join()
    assert elapsed < 3, elapsed
    lines = slow.until_tagged(b"a2")  # the slow client gets everything in the end
    assert lines[-1].startswith(b"a2 OK")
