"""Selected-state commands: STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT, CHECK
(and their UID forms), including read-only and error paths."""

from __future__ import annotations

import imaplib
import re

import pytest
from imaphelp import append_many


@pytest.fixture
def box(imap):
    append_many(imap, 5)
    imap.select("INBOX")
    return imap


def flags_of(client, seq: str = "1:*") -> dict[int, set[str]]:
    typ, data = client.fetch(seq, "(FLAGS)")
    out = {}
    for line in data:
        m = re.match(rb"(\d+) \(FLAGS \(([^)]*)\)\)", line)
        out[int(m.group(1))] = set(m.group(2).decode().split()) - {"\\Recent"}
    return out


def test_store_modes(box):
    typ, data = box.store("1:2", "+FLAGS", "(\\Seen $Work)")
    assert typ == "OK"
    assert data == [b"1 (FLAGS (\\Seen \\Recent $Work))", b"2 (FLAGS (\\Seen \\Recent $Work))"]
    box.store("2", "-FLAGS", "($work)")  # keywords compare case-insensitively
    box.store("3", "FLAGS", "(\\Flagged \\Answered)")
    box.store("3", "+FLAGS", "\\Draft")  # flags without parentheses
    typ, data = box.store("4", "+FLAGS.SILENT", "(\\Deleted)")
    assert data == [None]
    assert flags_of(box) == {1: {"\\Seen", "$Work"}, 2: {"\\Seen"},
                             3: {"\\Flagged", "\\Answered", "\\Draft"}, 4: {"\\Deleted"},
                             5: set()}
    typ, data = box.uid("STORE", "5", "+FLAGS", "(\\Seen)")
    assert data == [b"5 (UID 5 FLAGS (\\Seen \\Recent))"]
    typ, data = box.status("INBOX", "(UNSEEN)")
    assert b"UNSEEN 2" in data[0]
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        box.store("1", "+FLAGS", "(\\Recent)")
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        box.store("9", "+FLAGS", "(\\Seen)")


def test_expunge_and_uid_expunge(box):
    box.store("1,3,5", "+FLAGS", "(\\Deleted)")
    typ, data = box.uid("EXPUNGE", "3:5")
    assert typ == "OK"
    assert box.response("EXPUNGE")[1] == [b"5", b"3"]  # highest first, each valid when sent
    typ, data = box.expunge()
    assert data == [b"1"]
    typ, data = box.uid("FETCH", "1:*", "(UID)")
    assert [int(d.split()[-1].rstrip(b")")) for d in data] == [2, 4]
    assert box.expunge() == ("OK", [None])


def test_close_expunges_unselect_does_not(box):
    box.store("1", "+FLAGS", "(\\Deleted)")
    assert box.unselect()[0] == "OK"
    box.select("INBOX")
    assert box.response("EXISTS")[1] == [b"5"]
    box.select("INBOX", readonly=True)
    box.close()  # read-only: no expunge
    box.select("INBOX")
    box.close()
    typ, data = box.status("INBOX", "(MESSAGES)")
    assert b"MESSAGES 4" in data[0]


def test_read_only_refuses_changes(box):
    box.select("INBOX", readonly=True)
    for call in (lambda: box.store("1", "+FLAGS", "(\\Seen)"), box.expunge,
                 lambda: box._simple_command("MOVE", "1", "INBOX.Trash")):
        typ, data = call()
        assert typ == "NO" and b"READ-ONLY" in data[0]
    assert box.copy("1", "INBOX.Trash")[0] == "OK"  # COPY only reads the source


def test_copy_with_copyuid(box):
    box.store("2", "+FLAGS", "(\\Flagged)")
    typ, data = box.copy("2:4", "INBOX.Trash")
    assert typ == "OK"
    m = re.match(rb"\[COPYUID (\d+) 2:4 1:3\]", data[0])
    assert m, data
    typ, data = box._simple_command("UID", "COPY", "5,1", "INBOX.Trash")
    assert re.match(rb"\[COPYUID \d+ 1,5 4:5\]", data[0]), data
    typ, data = box.copy("1", "INBOX.Nope")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    box.select("INBOX.Trash")
    assert box.response("UIDVALIDITY")[1] == [m.group(1)]
    assert box.response("EXISTS")[1] == [b"5"]
    assert flags_of(box, "1")[1] == {"\\Flagged"}
    typ, data = box.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: msg 2" in data[0][1]


def test_move(box, raw, user):
    c = raw(login=user)
    c.cmd("a1 SELECT INBOX")
    lines = c.cmd("a2 MOVE 2:3 INBOX.Trash")
    assert re.match(rb"\* OK \[COPYUID \d+ 2:3 1:2\]", lines[0]), lines
    assert lines[1:3] == [b"* 3 EXPUNGE", b"* 2 EXPUNGE"]
    assert lines[-1].startswith(b"a2 OK")
    lines = c.cmd("a3 UID MOVE 5 INBOX.Trash")
    assert lines[1] == b"* 3 EXPUNGE"
    assert c.cmd("a4 MOVE 1 INBOX")[-1].startswith(b"a4 NO")
    assert c.cmd("a5 MOVE 1 INBOX.Nope")[-1].startswith(b"a5 NO [TRYCREATE]")
    typ, data = box.status("INBOX.Trash", "(MESSAGES)")
    assert b"MESSAGES 3" in data[0]


def test_check_and_noop(box):
    assert box.check()[0] == "OK"
    assert box.noop()[0] == "OK"
