"""Authenticated-state commands: SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND, NAMESPACE; literal limits."""

from __future__ import annotations

import imaplib
import re
import time

import pytest
from imaphelp import MESSAGE_SIZE, append_many, message


def untagged(client, name: str) -> list:
    return client.untagged_responses.get(name, [])


def list_names(client, ref: str = '""', pattern: str = "*") -> dict[str, str]:
    typ, data = client.list(ref, pattern)
    assert typ == "OK"
    out = {}
    for line in data:
        if line is None:
            continue
        m = re.match(rb'\(([^)]*)\) "(.)" (.*)$', line)
        assert m, line
        out[m.group(3).decode().strip('"')] = m.group(1).decode()
    return out


def test_select_reports_everything(imap, raw, user):
    append_many(imap, 3)
    c = raw(login=user)
    c.cmd("s0 SELECT INBOX")  # clears \Recent for the others
    assert c.cmd("s1 STORE 1 +FLAGS (\\Seen)")[-1].startswith(b"s1 OK")
    lines = c.cmd("s2 SELECT INBOX")
    text = b"\n".join(lines)
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" in text
    assert b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]" in text
    assert b"* 3 EXISTS" in text and b"* 0 RECENT" in text
    assert b"* OK [UNSEEN 2]" in text
    assert re.search(rb"\* OK \[UIDVALIDITY \d+\]", text)
    assert b"* OK [UIDNEXT 4]" in text
    assert lines[-1].startswith(b"s2 OK [READ-WRITE]")
    lines = c.cmd("s3 EXAMINE INBOX")
    assert lines[-1].startswith(b"s3 OK [READ-ONLY]")
    assert b"* OK [PERMANENTFLAGS ()]" in b"\n".join(lines)
    assert c.cmd("s4 STORE 1 +FLAGS (\\Flagged)")[-1].startswith(b"s4 NO [READ-ONLY]")
    assert c.cmd("s5 SELECT INBOX.Nope")[-1].startswith(b"s5 NO [NONEXISTENT]")
    # a failed SELECT leaves no mailbox selected
    assert c.cmd("s6 FETCH 1 FLAGS")[-1].startswith(b"s6 BAD")


def test_recent_is_seen_by_one_session_only(connect, user):
    a, b = connect(user), connect(user)
    append_many(a, 2)
    assert a.select("INBOX")[1] == [b"2"]
    assert untagged(a, "RECENT") == [b"2"]
    b.select("INBOX")
    assert untagged(b, "RECENT") == [b"0"]
    typ, data = a.fetch("1:2", "(FLAGS)")
    assert all(b"\\Recent" in d for d in data)
    typ, data = b.fetch("1:2", "(FLAGS)")
    assert not any(b"\\Recent" in d for d in data)


def test_create_list_delete_rename(imap):
    assert imap.create("INBOX.Projects.2024")[0] == "OK"  # the parent is made too
    names = list_names(imap)
    assert "INBOX.Projects" in names and "INBOX.Projects.2024" in names
    assert "\\HasChildren" in names["INBOX.Projects"]
    assert "\\HasNoChildren" in names["INBOX.Projects.2024"]
    assert "\\HasChildren" in names["INBOX"]
    assert names["INBOX.SENT"].split() == ["\\HasNoChildren", "\\Sent"]
    assert "\\Drafts" in names["INBOX.Drafts"] and "\\Trash" in names["INBOX.Trash"]
    assert "\\Junk" in names["INBOX.Junk"]
    typ, data = imap.create("INBOX.Projects")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    typ, data = imap.create("Outside")
    assert typ == "NO" and b"CANNOT" in data[0]
    assert imap.create("INBOX")[0] == "NO"
    assert imap.create("INBOX.bad..name")[0] == "NO"
    assert imap.create("inbox.Trailing.")[0] == "OK"
    assert "INBOX.Trailing" in list_names(imap)

    assert imap.rename("INBOX.Projects", "INBOX.Archive")[0] == "OK"
    names = list_names(imap)
    assert "INBOX.Archive.2024" in names and "INBOX.Projects" not in names
    typ, data = imap.rename("INBOX.Nope", "INBOX.X")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = imap.rename("INBOX.Archive", "INBOX.Trash")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]

    assert imap.delete("INBOX.Archive")[0] == "OK"  # its child stays
    names = list_names(imap)
    assert "INBOX.Archive.2024" in names
    assert "\\Noselect" in names["INBOX.Archive"]
    typ, data = imap.delete("INBOX.Archive")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    assert imap.delete("INBOX")[0] == "NO"


def test_rename_inbox_moves_messages(imap):
    append_many(imap, 2)
    assert imap.rename("INBOX", "INBOX.Old")[0] == "OK"
    assert imap.select("INBOX")[1] == [b"0"]
    assert imap.select("INBOX.Old")[1] == [b"2"]


def test_list_patterns_and_utf7(imap):
    assert imap.create("INBOX.Entw&APw-rfe")[0] == "OK"
    imap.create("INBOX.a.b.c")
    names = list_names(imap, '""', "INBOX.%")
    assert "INBOX.Entw&APw-rfe" in names and "INBOX.a" in names and "INBOX.a.b" not in names
    assert list(list_names(imap, '""', "%")) == ["INBOX"]
    assert list(list_names(imap, "INBOX.a.", "%")) == ["INBOX.a.b"]
    assert list(list_names(imap, '""', "inbox")) == ["INBOX"]
    typ, data = imap.list('""', '""')
    assert data == [b'(\\Noselect) "." ""']
    assert imap.select("INBOX.Entw&APw-rfe")[0] == "OK"


def test_subscribe_lsub(imap):
    imap.create("INBOX.Sub")
    assert imap.unsubscribe("INBOX.Sub")[0] == "OK"
    typ, data = imap.lsub('""', "*")
    assert not any(b"INBOX.Sub" in d for d in data)
    assert imap.subscribe("INBOX.Sub")[0] == "OK"
    typ, data = imap.lsub('""', "INBOX.S*")
    assert any(d.endswith(b'"INBOX.Sub"') for d in data)
    typ, data = imap.subscribe("INBOX.Missing")
    assert typ == "NO"


def test_status(imap):
    append_many(imap, 3, "INBOX.Drafts")
    typ, data = imap.status("INBOX.Drafts", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK"
    assert re.match(rb'"INBOX.Drafts" \(MESSAGES 3 RECENT 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 3\)',
                    data[0]), data
    typ, data = imap.status("INBOX.Nope", "(MESSAGES)")
    assert typ == "NO"
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        imap.status("INBOX", "(BOGUS)")


def test_append_flags_date_and_uidplus(imap):
    date = imaplib.Time2Internaldate(time.mktime((2020, 5, 17, 10, 30, 0, 0, 0, -1)))
    typ, data = imap.append("INBOX.SENT", "(\\Seen \\Draft $Label1)", date, message("Sent one"))
    assert typ == "OK"
    m = re.match(rb"\[APPENDUID (\d+) 1\]", data[0])
    assert m
    imap.select("INBOX.SENT")
    assert imap.response("UIDVALIDITY")[1] == [m.group(1)]
    typ, data = imap.fetch("1", "(FLAGS INTERNALDATE)")
    assert b"\\Seen" in data[0] and b"\\Draft" in data[0] and b"$Label1" in data[0]
    assert b'INTERNALDATE "17-May-2020 ' in data[0]
    typ, data = imap.append("INBOX.Nope", None, None, message())
    assert typ == "NO" and b"TRYCREATE" in data[0]


def test_append_to_selected_folder_reports_exists(imap):
    imap.select("INBOX")
    typ, data = imap.append("INBOX", None, None, message())
    assert typ == "OK"
    assert untagged(imap, "EXISTS")[-1] == b"1"


def test_append_over_limit_refused_before_data(raw, user):
    c = raw(login=user)
    c.send(b"a1 APPEND INBOX {%d}\r\n" % (MESSAGE_SIZE + 1))
    # Refused at once, without the server waiting for (or reading) the data.
    line = c.line()
    assert line.startswith(b"a1 NO [TOOBIG]"), line
    assert c.cmd("a2 NOOP")[-1].startswith(b"a2 OK")
    # The same with LITERAL+: the data would follow unasked, so the session ends.
    c.send(b"a3 APPEND INBOX {%d+}\r\n" % (MESSAGE_SIZE + 1))
    lines = [c.line(), c.line()]
    assert lines[0].startswith(b"a3 BAD [TOOBIG]")
    assert lines[1].startswith(b"* BYE")
    assert c.closed()


def test_append_with_literal_plus(raw, user):
    c = raw(login=user)
    msg = message("plus")
    c.send(b"a1 APPEND INBOX (\\Flagged) {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert c.until_tagged(b"a1")[-1].startswith(b"a1 OK [APPENDUID ")
    c.send(b"a2 APPEND INBOX {%d}\r\n" % len(msg))
    assert c.line().startswith(b"+ ")
    c.send(msg + b"\r\n")
    assert c.until_tagged(b"a2")[-1].startswith(b"a2 OK [APPENDUID ")


def test_append_big_message_within_limit(imap):
    body = ("x" * 998 + "\r\n") * 900
    typ, data = imap.append("INBOX", None, None, message("big", body=body))
    assert typ == "OK"
    imap.select("INBOX")
    typ, data = imap.fetch("1", "(RFC822.SIZE BODY.PEEK[TEXT]<0.10>)")
    assert b"RFC822.SIZE" in data[0][0]
    assert data[0][1] == b"x" * 10


def test_namespace(imap):
    typ, data = imap.namespace()
    assert data == [b'(("INBOX." ".")) NIL NIL']


def _multiappend(messages: list[tuple[bytes, bytes]], tag: bytes = b"m1") -> bytes:
    """MULTIAPPEND INBOX with LITERAL+ literals: [(flags-or-empty, message), ...]."""
    out = tag + b" APPEND INBOX"
    for flags, msg in messages:
        out += b" " + (flags + b" " if flags else b"") + b"{%d+}\r\n" % len(msg) + msg
    return out + b"\r\n"


def test_multiappend_stores_all_in_order_with_one_appenduid(raw, user, connect):
    c = raw(login=user)
    assert b"MULTIAPPEND" in b" ".join(c.cmd("c1 CAPABILITY"))
    msgs = [(b"(\\Seen)", message("one")), (b"", message("two")),
            (b"(\\Flagged $Work)", message("three"))]
    c.send(_multiappend(msgs))
    tagged = c.until_tagged(b"m1")[-1]
    assert tagged.startswith(b"m1 OK [APPENDUID "), tagged
    uids = tagged.split(b"APPENDUID ")[1].split(b"]")[0].split()[1]
    assert uids == b"1:3"
    imap = connect(user)
    imap.select("INBOX")
    typ, data = imap.fetch("1:3", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    text = b" ".join(part[0] + part[1] if isinstance(part, tuple) else part for part in data)
    assert text.index(b"Subject: one") < text.index(b"Subject: two") < \
        text.index(b"Subject: three")
    heads = [part[0] for part in data if isinstance(part, tuple)]
    assert b"\\Seen" in heads[0] and b"\\Seen" not in heads[1] and b"$Work" in heads[2]


def test_multiappend_is_all_or_nothing(raw, user, connect):
    c = raw(login=user)
    # the second message is empty: the whole command is refused, nothing is stored
    c.send(_multiappend([(b"", message("kept?")), (b"", b"")], b"m2"))
    assert c.until_tagged(b"m2")[-1].startswith(b"m2 NO")
    imap = connect(user)
    typ, data = imap.select("INBOX")
    assert data == [b"0"]


def test_multiappend_over_the_size_limit_in_total_says_so(raw, user):
    """Each message fits, the command does not: the refusal names the total (a client
    retries with smaller batches), not the last literal's size."""
    c = raw(login=user)
    big = message("big", body="x" * 700_000 + "\r\n")
    c.send(b"m3 APPEND INBOX {%d}\r\n" % len(big))
    assert c.line().startswith(b"+")
    c.send(big + b" {%d}\r\n" % len(big))
    lines = c.until_tagged(b"m3")
    assert lines[-1].startswith(b"m3 NO [TOOBIG] the command's literals would total"), lines
    assert c.cmd("m4 NOOP")[-1].startswith(b"m4 OK")
