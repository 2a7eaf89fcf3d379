"""CONDSTORE (RFC 7162 section 3): HIGHESTMODSEQ, MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE,
SEARCH MODSEQ, STATUS HIGHESTMODSEQ, ENABLE."""

from __future__ import annotations

import re

import pytest
from imaphelp import append_many


def highest(lines: list[bytes]) -> int:
    for line in lines:
        m = re.match(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", line)
        if m:
            return int(m.group(1))
    raise AssertionError(lines)


def modseqs(lines: list[bytes]) -> dict[int, int]:
    out = {}
    for line in lines:
        m = re.match(rb"\* (\d+) FETCH \(.*MODSEQ \((\d+)\)", line)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


@pytest.fixture
def c(imap, raw, user):
    append_many(imap, 4)
    client = raw(login=user)
    return client


def test_select_condstore_and_fetch_modseq(c):
    lines = c.cmd("a1 SELECT INBOX (CONDSTORE)")
    top = highest(lines)
    ms = modseqs(c.cmd("a2 FETCH 1:* (MODSEQ)"))
    assert sorted(ms) == [1, 2, 3, 4] and max(ms.values()) == top
    assert ms[1] < ms[2] < ms[3] < ms[4]
    lines = c.cmd("a3 STORE 2 +FLAGS (\\Seen)")
    assert re.match(rb"\* 2 FETCH \(FLAGS \(\\Seen \\Recent\) MODSEQ \((\d+)\)\)", lines[0])
    after = modseqs(lines)[2]
    assert after > top
    lines = c.cmd(f"a4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {top})")
    assert [line.split(b" FETCH")[0] for line in lines[:-1]] == [b"* 2"]
    assert b"MODSEQ (%d)" % after in lines[0]
    lines = c.cmd("a5 STATUS INBOX (HIGHESTMODSEQ)")
    assert lines[0].endswith(b"(HIGHESTMODSEQ %d)" % after)


def test_every_select_reports_highestmodseq(c):
    assert highest(c.cmd("a1 EXAMINE INBOX")) > 0


def test_store_unchangedsince(c):
    top = highest(c.cmd("a1 SELECT INBOX"))
    c.cmd("a2 STORE 3 +FLAGS.SILENT (\\Flagged)")  # message 3 changes after `top`
    lines = c.cmd(f"a3 STORE 1:4 (UNCHANGEDSINCE {top}) +FLAGS.SILENT ($Done)")
    assert lines[-1].startswith(b"a3 OK [MODIFIED 3]")
    # .SILENT with CONDSTORE: only the new MODSEQs are reported
    assert sorted(modseqs(lines)) == [1, 2, 4]
    assert all(b"FLAGS" not in line for line in lines[:-1] if b" FETCH " in line)
    assert lines[0].startswith(b"* FLAGS (") and b"$Done" in lines[0]  # a new keyword
    lines = c.cmd(f"a4 UID STORE 1:4 (UNCHANGEDSINCE {top}) -FLAGS ($Done)")
    assert lines[-1].startswith(b"a4 OK [MODIFIED 1:4]")
    lines = c.cmd("a5 FETCH 1:4 (FLAGS)")
    assert [b"$Done" in line for line in lines[:-1]] == [True, True, False, True]
    lines = c.cmd("a6 STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)")
    assert lines[-1].startswith(b"a6 OK [MODIFIED 1]")


def test_search_modseq(c):
    top = highest(c.cmd("a1 SELECT INBOX (CONDSTORE)"))
    lines = c.cmd("a2 STORE 2,4 +FLAGS (\\Answered)")
    new = max(modseqs(lines).values())
    lines = c.cmd(f"a3 SEARCH MODSEQ {top + 1}")
    assert lines[0] == b"* SEARCH 2 4 (MODSEQ %d)" % new
    lines = c.cmd(f'a4 UID SEARCH MODSEQ "/flags/\\\\answered" all {top + 1} ANSWERED')
    assert lines[0] == b"* SEARCH 2 4 (MODSEQ %d)" % new
    assert c.cmd(f"a5 SEARCH MODSEQ {new + 1}")[0] == b"* SEARCH"


def test_enable_condstore_and_unsolicited_modseq(c, connect, user):
    lines = c.cmd("a1 ENABLE CONDSTORE")
    assert lines[0] == b"* ENABLED CONDSTORE"
    c.cmd("a2 SELECT INBOX")
    other = connect(user)
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Flagged)")
    lines = c.cmd("a3 NOOP")
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged \\Recent\) MODSEQ \(\d+\)\)",
                    lines[0]), lines
    # expunges raise HIGHESTMODSEQ too
    before = int(re.search(rb"HIGHESTMODSEQ (\d+)",
                           c.cmd("a4 STATUS INBOX (HIGHESTMODSEQ)")[0]).group(1))
    other.store("4", "+FLAGS", "(\\Deleted)")
    other.expunge()
    after = int(re.search(rb"HIGHESTMODSEQ (\d+)",
                          c.cmd("a5 STATUS INBOX (HIGHESTMODSEQ)")[0]).group(1))
    assert after > before + 1


# ---------------------------------------------------------------- QRESYNC (RFC 7162 3.2)


def state(c) -> tuple[int, int]:
    lines = c.cmd("s1 STATUS INBOX (UIDVALIDITY HIGHESTMODSEQ)")
    m = re.search(rb"UIDVALIDITY (\d+) HIGHESTMODSEQ (\d+)", lines[0])
    return int(m.group(1)), int(m.group(2))


def test_qresync_select_reports_vanished_and_changes(c, connect, user):
    validity, modseq = state(c)
    other = connect(user)
    other.select("INBOX")
    other.store("2", "+FLAGS", "(\\Seen)")
    other.store("3", "+FLAGS", "(\\Deleted)")
    other.expunge()
    assert c.cmd("a0 SELECT INBOX (QRESYNC (1 1))")[-1].startswith(b"a0 BAD")  # not enabled
    assert c.cmd("a1 ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC"
    c.cmd("a2 SELECT INBOX.Trash")
    lines = c.cmd(f"a3 SELECT INBOX (QRESYNC ({validity} {modseq} 1:4))")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed"
    assert b"* VANISHED (EARLIER) 3" in lines
    changed = [line for line in lines if b" FETCH " in line]
    assert len(changed) == 1
    assert re.match(rb"\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)", changed[0])
    assert lines[-1].startswith(b"a3 OK [READ-WRITE]")
    # known-uids limits VANISHED; a stale UIDVALIDITY gets no resync data at all
    lines = c.cmd(f"a4 SELECT INBOX (QRESYNC ({validity} {modseq} 1:2))")
    assert not any(b"VANISHED" in line for line in lines)
    lines = c.cmd(f"a5 SELECT INBOX (QRESYNC ({validity + 1} {modseq}))")
    assert not any(b"VANISHED" in line or b" FETCH " in line for line in lines)


def test_qresync_vanished_instead_of_expunge(c, connect, user):
    c.cmd("a1 ENABLE QRESYNC")
    c.cmd("a2 SELECT INBOX")
    _, modseq = state(c)
    c.cmd("a3 STORE 1,2 +FLAGS.SILENT (\\Deleted)")
    lines = c.cmd("a4 EXPUNGE")
    assert lines[0] == b"* VANISHED 1:2"
    other = connect(user)
    other.select("INBOX")
    other.store("2", "+FLAGS", "(\\Deleted)")  # UID 4
    other.expunge()
    lines = c.cmd("a5 NOOP")
    assert lines[0] == b"* VANISHED 4"
    lines = c.cmd(f"a6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 1:2,4"
    assert c.cmd(f"a7 FETCH 1 (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")[-1].startswith(
        b"a7 BAD")
