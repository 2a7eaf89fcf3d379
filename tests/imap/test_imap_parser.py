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
    seqs, fargs = cmd.args
    atts = fargs.atts
    assert fargs.changedsince is None and not fargs.vanished
    assert [a.name for a in atts] == ["UID", "FLAGS", "BODY[]", "BODY[]", "RFC822.SIZE",
                                      "BODYSTRUCTURE"]
    assert atts[2].peek and atts[2].partial == (0, 100)
    assert atts[2].response_name() == "BODY[HEADER.FIELDS (FROM TO)]<0>"
    assert atts[3].response_name() == "BODY[1.2.MIME]"
    assert [a.name for a in parse(b"a FETCH 1 FAST").args[1].atts] == [
        "FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert [a.name for a in parse(b"a UID FETCH 1 ALL").args[1].atts] == [
        "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
    assert parse(b"a FETCH 1 FULL").args[1].atts[-1].name == "BODY"
    assert parse(b"a FETCH 1 BODY[]").args[1].atts[0].section.spec() == ""


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


def test_search_program_bounds():
    with pytest.raises(ParseError, match="too long"):
        parse(b"a SEARCH " + b" ".join([b"SEEN"] * 400))
    with pytest.raises(ParseError, match="deeply"):
        parse(b"a SEARCH " + b"NOT " * 100 + b"SEEN")
    assert parse(b"a SEARCH " + b" ".join([b"OR SEEN DRAFT"] * 90))


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


def test_condstore_syntax():
    assert parse(b"a SELECT INBOX (CONDSTORE)").args == ("INBOX", True, None)
    assert parse(b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)").args[1].changedsince == 12345
    fargs = parse(b"a UID FETCH 1:* FLAGS (VANISHED CHANGEDSINCE 5)").args[1]
    assert fargs.vanished and fargs.changedsince == 5
    assert parse(b"a FETCH 1 MODSEQ").args[1].atts[0].name == "MODSEQ"
    _, _, q = parse(b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 "
                    b"(1,3,5 41,43,45)))").args
    assert (q.uidvalidity, q.modseq) == (67890007, 20050715194045000)
    assert q.known_uids.ranges(1000) == [(41, 41), (43, 211), (214, 541)]
    assert q.seq_match[1].ranges(100) == [(41, 41), (43, 43), (45, 45)]
    _, _, q = parse(b"a SELECT INBOX (QRESYNC (1 2))").args
    assert q.known_uids is None and q.seq_match is None
    _, store = parse(b"a STORE 1:* (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)").args
    assert store.unchangedsince == 0 and store.silent
    assert parse(b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338').args[1] == (
        "AND", [("MODSEQ", 620162338)])
    assert parse(b"a STATUS INBOX (HIGHESTMODSEQ)").args[1] == ["HIGHESTMODSEQ"]
    for bad in (b"a SELECT INBOX (QRESYNC)", b"a FETCH 1 FLAGS (CHANGEDSINCE x)",
                b"a SELECT INBOX (QRESYNC (1 0))", b"a FETCH 1 FLAGS (VANISHED)",
                b"a STORE 1 (UNCHANGEDSINCE) +FLAGS x", b"a SEARCH MODSEQ \"/flags/x\" a 1"):
        with pytest.raises(ParseError):
            parse(bad)


def test_mailbox_names():
    assert parse(b"a SELECT inbox").args == ("INBOX", False, None)
    assert parse(b"a SELECT Inbox.Entw&APw-rfe").args == ("INBOX.Entwürfe", False, None)
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


# ---------------------------------------------------------------- robustness

_WORDS = st.sampled_from([
    b"FETCH", b"UID", b"STORE", b"SEARCH", b"APPEND", b"LIST", b"SELECT", b"BODY[", b"]",
    b"(", b")", b"{3}", b"\"", b"\\", b"*", b"%", b"1:*", b"+FLAGS", b"OR", b"NOT", b"<1.2>",
    b"HEADER.FIELDS", b" ", b"\x00", b"\xff", b"INBOX", b"&", b"-", b"CHARSET", b"NIL"])


@given(st.lists(_WORDS, max_size=25), st.binary(max_size=20))
def test_parser_never_crashes(words, tail):
    text = b"a1 " + b"".join(words) + tail
    literals = {i: b"abc" for i in range(len(text)) if text[i:i + 3] == b"{3}"}
    try:
        parse(text, literals)
    except ParseError as exc:
        assert exc.tag in (b"a1", None)
