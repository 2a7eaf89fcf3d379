"""A session answers in its own view while another one expunges (RFC 3501 7.4.1: no
EXPUNGE during FETCH, STORE or SEARCH; RFC 2180 4.1-4.3; RFC 5530 EXPUNGEISSUED)."""

from __future__ import annotations

from imaphelp import append_many


def _expunge_second(connect, user) -> None:
    other = connect(user)
    other.select("INBOX")
    other.store("2", "+FLAGS.SILENT", "(\\Deleted)")
    other.expunge()


def test_fetch_over_an_expunged_message_ends_no_not_a_silent_gap(raw, connect, user):
    append_many(connect(user), 3)
    a = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    _expunge_second(connect, user)
    lines = a.cmd("a2 FETCH 1:3 (UID)")
    assert lines[:-1] == [b"* 1 FETCH (UID 1)", b"* 3 FETCH (UID 3)"]
    assert lines[-1].startswith(b"a2 NO [EXPUNGEISSUED]"), lines  # RFC 2180 4.1.2
    lines = a.cmd("a3 NOOP")
    assert lines[0] == b"* 2 EXPUNGE", lines
    assert a.cmd("a4 FETCH 1:* (UID)")[-1].startswith(b"a4 OK")


def test_store_over_an_expunged_message(raw, connect, user):
    append_many(connect(user), 3)
    a = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    _expunge_second(connect, user)
    lines = a.cmd("a2 STORE 1:3 +FLAGS (\\Flagged)")  # RFC 2180 4.2.3
    assert lines[:-1] == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))",
                          b"* 3 FETCH (FLAGS (\\Flagged \\Recent))"], lines
    assert lines[-1].startswith(b"a2 NO [EXPUNGEISSUED]"), lines
    lines = a.cmd("a3 STORE 1:3 +FLAGS.SILENT (\\Seen)")  # RFC 2180 4.2.1
    assert lines == [b"a3 OK STORE completed"], lines


def test_search_says_expungeissued_until_the_expunge_is_announced(raw, connect, user):
    append_many(connect(user), 3)
    a = raw(login=user)
    a.cmd("a1 SELECT INBOX")
    assert a.cmd("a2 SEARCH ALL") == [b"* SEARCH 1 2 3", b"a2 OK SEARCH completed"]
    _expunge_second(connect, user)
    lines = a.cmd("a3 SEARCH ALL")
    # RFC 2180 4.3: the expunged message is not matched, and the sequence numbers are
    # still those of the session's view (3 stays 3 until the EXPUNGE is sent).
    assert lines[0] == b"* SEARCH 1 3", lines
    assert lines[-1].startswith(b"a3 OK [EXPUNGEISSUED]"), lines
    assert a.cmd("a4 NOOP")[0] == b"* 2 EXPUNGE"
    assert a.cmd("a5 SEARCH ALL") == [b"* SEARCH 1 2", b"a5 OK SEARCH completed"]
