"""Parser, framing, sequence sets and modified UTF-7 (no daemon needed)."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanmaild.imap import utf7
from lanmaild.imap.parser import (
    CommandReader,
    FramingError,
    ParseError,
    RawCommand,
    SeqSet,
    parse_command,
)


def parse(text: bytes, literals: dict | None = None):
    return parse_command(RawCommand(text, literals or {}))


# ---------------------------------------------------------------- utf7


@pytest.mark.parametrize("name,wire", [
    ("INBOX", "INBOX"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("A&B", "A&-B"),
    ("日本語", "&ZeVnLIqe-"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
])
def test_utf7_known_values(name, wire):
    assert utf7.encode(name) == wire
    assert utf7.decode(wire) == name


@pytest.mark.parametrize("bad", ["&", "&AGE-", "abc&ZeVnLIqe", "&Jjo!-", "Ä".encode()])
def test_utf7_rejects_malformed(bad):
    with pytest.raises(utf7.UTF7Error):
        utf7.decode(bad)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_utf7_round_trip(name):
    wire = utf7.encode(name)
    assert wire.isascii()
    assert utf7.decode(wire) == name


# ---------------------------------------------------------------- sequence sets


def test_seqset_ranges_merge_and_star():
    s = SeqSet.parse(b"2,4:7,9,12:*")
    assert s.ranges(15) == [(2, 2), (4, 7), (9, 9), (12, 15)]
    assert SeqSet.parse(b"*:4,5:7").ranges(10) == [(4, 10)]
    assert SeqSet.parse(b"3291:*").ranges(100) == [(100, 3291)]


def test_seqset_huge_range_is_lazy():
    s = SeqSet.parse(b"1:4294967295")
    assert s.ranges(5) == [(1, 4294967295)]


@pytest.mark.parametrize("bad", [b"0", b"1:", b",1", b"1,,2", b"1:2:3", b"4294967296", b"01"])
def test_seqset_invalid(bad):
    with pytest.raises(ValueError):
        SeqSet.parse(bad)


# ---------------------------------------------------------------- commands


def test_fetch_attributes_and_macros():
    cmd = parse(b"a1 FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100> "
                b"BODY[1.2.MIME] RFC822.SIZE BODYSTRUCTURE)")
    seqs, atts = cmd.args
    assert [a.name for a in atts] == ["UID", "FLAGS", "BODY[]", "BODY[]", "RFC822.SIZE",
                                      "BODYSTRUCTURE"]
    assert atts[2].peek and atts[2].partial == (0, 100)
    assert atts[2].response_name() == "BODY[HEADER.FIELDS (FROM TO)]<0>"
    assert atts[3].response_name() == "BODY[1.2.MIME]"
    assert [a.name for a in parse(b"a FETCH 1 FAST").args[1]] == [
        "FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert [a.name for a in parse(b"a UID FETCH 1 ALL").args[1]] == [
        "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
    assert parse(b"a FETCH 1 FULL").args[1][-1].name == "BODY"
    assert parse(b"a FETCH 1 BODY[]").args[1][0].section.spec() == ""


@pytest.mark.parametrize("bad", [
    b"a FETCH 1 (FLAGS", b"a FETCH 1 BODY[FOO]", b"a FETCH 1 BODY[MIME]",
    b"a FETCH 1 XYZZY", b"a FETCH 0 FLAGS", b"a FETCH 1 BODY[]<1>", b"a FETCH  1 FLAGS",
    b"a STORE 1 FLAGS \\Recent", b"a NOOP extra", b"a SELECT", b"a UID FOO 1",
    b"a LOGIN user", b"a SEARCH", b"a SEARCH FOO", b"a SEARCH OR ALL",
    b"a SEARCH SINCE 31-Feb-2020", b"a APPEND INBOX abc", b"a SELECT &Jjo!-",
])
def test_syntax_errors_are_tagged(bad):
    with pytest.raises(ParseError) as err:
        parse(bad)
    assert err.value.tag == b"a"


def test_bad_tag():
    with pytest.raises(ParseError) as err:
        parse(b"+x NOOP")
    assert err.value.tag is None


def test_search_grammar():
    text = (b'a SEARCH CHARSET UTF-8 OR FROM bob (SUBJECT "x y" SINCE 1-Feb-2024) '
            b'NOT 1:5 UID 3,4 HEADER X-Foo {3}')
    charset, prog = parse(text, {len(text) - 3: b"abc"}).args
    assert charset == "UTF-8"
    assert prog == ("AND", [
        ("OR", ("FROM", b"bob"), ("AND", [("SUBJECT", b"x y"),
                                         ("SINCE", datetime.date(2024, 2, 1))])),
        ("NOT", ("SEQ", prog[1][1][1][1])),
        ("UID", prog[1][2][1]),
        ("HEADER", "X-Foo", b"abc"),
    ])
    assert parse(b"a SEARCH LARGER 10 SMALLER 20 KEYWORD $x NEW").args[1][1] == [
        ("LARGER", 10), ("SMALLER", 20), ("KEYWORD", "$x"), ("NEW",)]
    assert parse(b'a SEARCH ON "1-Jan-2020"').args[1][1] == [("ON", datetime.date(2020, 1, 1))]


def test_store_and_append():
    seqs, store = parse(b"a STORE 1:3 +FLAGS.SILENT (\\Seen $Label1)").args
    assert (store.mode, store.silent, store.flags) == ("+", True, ["\\Seen", "$Label1"])
    _, store = parse(b"a UID STORE 1 -FLAGS \\Deleted \\Seen").args
    assert (store.mode, store.silent, store.flags) == ("-", False, ["\\Deleted", "\\Seen"])
    text = b'a APPEND inbox.Sent (\\Seen) " 1-Feb-2024 10:00:00 +0100" {3}'
    (app,) = parse(text, {len(text) - 3: b"abc"}).args
    assert app.mailbox == "INBOX.Sent"
    assert app.flags == ["\\Seen"]
    assert app.date == 1706778000
    assert app.message == b"abc"


def test_mailbox_names():
    assert parse(b"a SELECT inbox").args == ("INBOX",)
    assert parse(b"a SELECT Inbox.Entw&APw-rfe").args == ("INBOX.Entwürfe",)
    assert parse(b'a LIST "" "INBOX.%"').args == ("", "INBOX.%")
    assert parse(b"a STATUS INBOX (MESSAGES UIDNEXT)").args == ("INBOX", ["MESSAGES", "UIDNEXT"])
    assert parse(b'a ID ("name" "mutt" "version" NIL)').args == (
        {"name": "mutt", "version": None},)
    assert parse(b"a AUTHENTICATE PLAIN AGEAYg==").args == ("PLAIN", b"AGEAYg==")
    assert parse(b"a AUTHENTICATE PLAIN =").args == ("PLAIN", b"")


# ---------------------------------------------------------------- framing


class FakeReader:
    def __init__(self, data: bytes) -> None:
        self.r = asyncio.StreamReader(limit=1 << 20)
        self.r.feed_data(data)
        self.r.feed_eof()


def frame(data: bytes, limit: int = 100, line_limit: int = 1000):
    sent: list[bytes] = []

    async def cont(line: bytes) -> None:
        sent.append(line)

    async def run():
        reader = CommandReader(FakeReader(data).r, cont, line_limit=line_limit,
                               literal_limit=lambda first: limit)
        return await reader.read_command()

    return asyncio.run(run()), sent


def test_framing_sync_and_nonsync_literals():
    raw, sent = frame(b"a LOGIN {5}\r\nalice {6+}\r\nsecret\r\n")
    assert sent == [b"+ Ready for literal data\r\n"]
    assert parse_command(raw).args == (b"alice", b"secret")


def test_framing_literal_over_limit_is_refused_before_reading():
    with pytest.raises(FramingError) as err:
        frame(b"a APPEND INBOX {500}\r\n", limit=100)
    assert err.value.toobig and not err.value.fatal and err.value.tag == b"a"
    with pytest.raises(FramingError) as err:
        frame(b"a APPEND INBOX {500+}\r\n", limit=100)
    assert err.value.fatal


def test_framing_line_too_long():
    with pytest.raises(FramingError) as err:
        frame(b"a NOOP " + b"x" * 2000 + b"\r\n", line_limit=1000)
    assert err.value.fatal
