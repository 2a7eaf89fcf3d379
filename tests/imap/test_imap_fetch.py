"""FETCH / UID FETCH: every attribute, sections, partials, \\Seen side effects, the MIME corpus'
BODYSTRUCTURE, and sequence-set errors."""

from __future__ import annotations

import imaplib
from pathlib import Path

import pytest
from imaphelp import append_many

CORPUS = Path(__file__).parent / "corpus"

NESTED_BODYSTRUCTURE = (
    b'((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 0 NIL NIL NIL NIL)'
    b'("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 9 0 NIL NIL NIL NIL) "ALTERNATIVE" '
    b'("BOUNDARY" "inner") NIL NIL NIL)'
    b'("APPLICATION" "PDF" ("NAME" "a.pdf") NIL NIL "BASE64" 12 NIL '
    b'("ATTACHMENT" ("FILENAME" "=?UTF-8?B?UsOpc3Vtw6kucGRm?=")) NIL NIL)'
    b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 55 (NIL "inside" '
    b'((NIL NIL "inner" "example.test")) ((NIL NIL "inner" "example.test")) '
    b'((NIL NIL "inner" "example.test")) NIL NIL NIL NIL NIL) '
    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 0 NIL NIL NIL NIL) 3 '
    b'NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)'
)
NESTED_ENVELOPE = (
    b'("Tue, 2 Jan 2024 10:00:00 +0100" "=?UTF-8?B?R3LDvMOfZQ==?= nested" '
    b'(("=?ISO-8859-1?Q?J=F6rg_M=FCller?=" NIL "joerg" "example.test")) '
    b'(("=?ISO-8859-1?Q?J=F6rg_M=FCller?=" NIL "joerg" "example.test")) '
    b'(("=?ISO-8859-1?Q?J=F6rg_M=FCller?=" NIL "joerg" "example.test")) '
    b'((NIL NIL "Team" NIL)(NIL NIL "anna" "example.test")("Bob B." NIL "bob" "example.test")'
    b'(NIL NIL NIL NIL)) ((NIL NIL "carol" "example.test")) NIL NIL "<nested@example.test>")'
)
PLAIN_BODYSTRUCTURE = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)'


def fetch_one(client, what: str, seq: str = "1", uid: bool = False) -> bytes:
    """The response to a single-message FETCH with literals spliced back in."""
    typ, data = client.uid("FETCH", seq, what) if uid else client.fetch(seq, what)
    assert typ == "OK", data
    out = b""
    for item in data:
        if isinstance(item, tuple):
            out += item[0] + b"\r\n" + item[1]
        else:
            out += item
    return out


@pytest.fixture
def corpus(imap):
    for name in ("nested", "plain"):
        typ, _ = imap.append("INBOX", None, None, (CORPUS / f"{name}.eml").read_bytes())
        assert typ == "OK"
    imap.select("INBOX")
    return imap


def test_bodystructure_envelope_body(corpus):
    resp = fetch_one(corpus, "(BODYSTRUCTURE ENVELOPE)")
    assert b"BODYSTRUCTURE " + NESTED_BODYSTRUCTURE in resp
    assert b"ENVELOPE " + NESTED_ENVELOPE in resp
    resp = fetch_one(corpus, "(BODYSTRUCTURE BODY)", "2")
    assert b"BODYSTRUCTURE " + PLAIN_BODYSTRUCTURE in resp
    assert b'BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1)' in resp


def test_sections(corpus):
    raw = (CORPUS / "nested.eml").read_bytes()
    header, _, text = raw.partition(b"\r\n\r\n")
    assert fetch_one(corpus, "BODY.PEEK[]").endswith(raw + b")")
    assert fetch_one(corpus, "BODY.PEEK[HEADER]").endswith(header + b"\r\n\r\n)")
    assert fetch_one(corpus, "BODY.PEEK[TEXT]").endswith(text + b")")
    resp = fetch_one(corpus, "BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)]")
    assert b"BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)] {" in resp
    assert resp.endswith(b"Subject: =?UTF-8?B?R3LDvMOfZQ==?= nested\r\n"
                         b"Message-ID: <nested@example.test>\r\n\r\n)")
    resp = fetch_one(corpus, "BODY.PEEK[HEADER.FIELDS.NOT (FROM TO CC SUBJECT DATE)]")
    assert b"Message-ID" in resp and b"Subject" not in resp
    assert fetch_one(corpus, "BODY.PEEK[1.1]").endswith(b"Gr=C3=BC=C3=9Fe)")
    assert fetch_one(corpus, "BODY.PEEK[1.2]").endswith(b"<p>Hi</p>)")
    assert fetch_one(corpus, "BODY.PEEK[1.1.MIME]").endswith(
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n)")
    assert fetch_one(corpus, "BODY.PEEK[2]").endswith(b"JVBERi0xLjQK)")
    # P.1 of a leaf part P is P itself (as Dovecot answers; one slicer with lanmaild.mime)
    assert fetch_one(corpus, "BODY.PEEK[2.1]").endswith(b"JVBERi0xLjQK)")
    inner = b"From: inner@example.test\r\nSubject: inside\r\n\r\ninner body"
    assert fetch_one(corpus, "BODY.PEEK[3]").endswith(inner + b")")
    assert fetch_one(corpus, "BODY.PEEK[3.HEADER]").endswith(
        b"From: inner@example.test\r\nSubject: inside\r\n\r\n)")
    assert fetch_one(corpus, "BODY.PEEK[3.TEXT]").endswith(b"inner body)")
    assert fetch_one(corpus, "BODY.PEEK[3.1]").endswith(b"inner body)")
    assert fetch_one(corpus, "BODY.PEEK[3.HEADER.FIELDS (SUBJECT)]").endswith(
        b"Subject: inside\r\n\r\n)")
    assert b"BODY[9] NIL" in fetch_one(corpus, "BODY.PEEK[9]")
    # a single-part message: part 1 is its body
    assert fetch_one(corpus, "BODY.PEEK[1]", "2").endswith(b"one line\r\n)")


def test_partial_fetch(corpus):
    raw = (CORPUS / "nested.eml").read_bytes()
    resp = fetch_one(corpus, "BODY.PEEK[]<6.10>")
    assert b"BODY[]<6> {10}" in resp and resp.endswith(raw[6:16] + b")")
    resp = fetch_one(corpus, "BODY.PEEK[TEXT]<100000.10>")
    assert b"BODY[TEXT]<100000> {0}" in resp


def test_rfc822_items_and_seen(corpus):
    raw = (CORPUS / "plain.eml").read_bytes()
    resp = fetch_one(corpus, "(RFC822.SIZE RFC822.HEADER FLAGS)", "2")
    assert b"RFC822.SIZE %d" % len(raw) in resp
    assert b"\\Seen" not in resp
    resp = fetch_one(corpus, "RFC822.TEXT", "2")
    assert resp.endswith(b"one line\r\n FLAGS (\\Seen \\Recent))")
    resp = fetch_one(corpus, "RFC822", "1")
    assert b"FLAGS (\\Seen \\Recent)" in resp
    resp = fetch_one(corpus, "BODY[]", "1")  # already seen: no FLAGS added
    assert b"FLAGS" not in resp


def test_body_section_sets_seen_peek_does_not(corpus):
    fetch_one(corpus, "BODY.PEEK[TEXT]")
    assert b"\\Seen" not in fetch_one(corpus, "FLAGS")
    resp = fetch_one(corpus, "BODY[TEXT]")
    assert b"FLAGS (\\Seen \\Recent)" in resp
    # EXAMINE: read-only, nothing changes
    corpus.select("INBOX", readonly=True)
    fetch_one(corpus, "BODY[TEXT]", "2")
    assert b"\\Seen" not in fetch_one(corpus, "FLAGS", "2")


def test_macros_and_internaldate(corpus):
    resp = fetch_one(corpus, "ALL", "2")
    for item in (b"FLAGS", b"INTERNALDATE \"", b"RFC822.SIZE", b"ENVELOPE"):
        assert item in resp
    assert b"BODY " not in resp
    assert b"BODY (" in fetch_one(corpus, "FULL", "2")
    resp = fetch_one(corpus, "FAST", "2")
    assert b"ENVELOPE" not in resp and b"INTERNALDATE" in resp


def test_uid_fetch_ranges(imap):
    append_many(imap, 5)
    imap.select("INBOX")
    typ, data = imap.uid("FETCH", "2:4", "(FLAGS)")
    assert [d.split(b" (")[0] for d in data] == [b"2", b"3", b"4"]
    assert all(b"UID " in d for d in data)  # UID is always returned by UID FETCH
    typ, data = imap.uid("FETCH", "9:*", "(UID)")  # "*" is the last UID: 5
    assert data == [b"5 (UID 5)"]
    typ, data = imap.uid("FETCH", "100:200", "(UID)")
    assert typ == "OK" and data == [None]
    typ, data = imap.uid("FETCH", "1:4294967295", "(UID)")
    assert len(data) == 5
    typ, data = imap.fetch("2,4:5", "(UID)")
    assert data == [b"2 (UID 2)", b"4 (UID 4)", b"5 (UID 5)"]


def test_bad_sequence_sets(imap):
    append_many(imap, 2)
    imap.select("INBOX")
    for bad in ("3", "1:3", "0", "1:x", "*:5"):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            imap.fetch(bad, "(FLAGS)")
    imap.select("INBOX.Trash")
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        imap.fetch("*", "(FLAGS)")  # "*" in an empty mailbox
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK"


def test_fetch_many_streams(imap, raw, user):
    append_many(imap, 120)
    c = raw(login=user)
    c.cmd("a1 SELECT INBOX")
    lines = c.cmd("a2 FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])")
    assert len(lines) == 121 and lines[-1].startswith(b"a2 OK")
    assert lines[119].startswith(b"* 120 FETCH (UID 120 RFC822.SIZE")
    assert b"Subject: msg 119" in lines[119]
