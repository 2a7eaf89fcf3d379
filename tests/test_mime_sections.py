"""BODY[section] by slicing (RFC 3501 6.4.5), and HEADER.FIELDS subsetting.

Expected slices were cross-checked against Dovecot 2.3.19's BODY.PEEK[...] answers for the
same fixtures (identical except where noted).
"""

from pathlib import Path

import pytest

from lanmaild.mime import header_fields, normalize_crlf, parse_message, parse_section
from lanmaild.mime import section_bytes as sb

DATA = Path(__file__).parent / "data" / "mime"


def load(name: str) -> bytes:
    return normalize_crlf((DATA / name).read_bytes())


def test_whole_header_text_of_plain_message():
    raw = load("plain.eml")
    p = parse_message(raw)
    assert sb(raw, p, "") == raw
    assert sb(raw, p, "HEADER") == raw[: p.header_size]
    assert sb(raw, p, "TEXT") == b"Hello IMAP.\r\nSecond line.\r\n"
    # non-multipart message: part 1 is the body, its MIME header is the message header
    assert sb(raw, p, "1") == sb(raw, p, "TEXT")
    assert sb(raw, p, "1.MIME") == raw[: p.header_size]
    assert sb(raw, p, "2") == b""
    assert sb(raw, p, "1.1") == b""  # part 1 of a single-part message has no parts below it
    assert sb(raw, p, "1.HEADER") == b""  # not a message/rfc822 part


def test_multipart_parts_and_mime_headers():
    raw = load("attachment_b64.eml")
    p = parse_message(raw)
    assert sb(raw, p, "1") == b"See attached."
    assert sb(raw, p, "1.MIME") == b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    assert sb(raw, p, "2").startswith(b"JVBERi0xLjQK")
    assert sb(raw, p, "2").endswith(b"AgBwIgXJ")
    assert sb(raw, p, "2.MIME").startswith(b'Content-Type: application/pdf; name="report.pdf"')
    assert sb(raw, p, "2.MIME").endswith(b"Content-Description: Quarterly report\r\n\r\n")
    # like Dovecot: a leaf part inside a multipart is its own part 1, one level deep
    assert sb(raw, p, "2.1") == sb(raw, p, "2")
    assert sb(raw, p, "2.1.1") == b""
    assert sb(raw, p, "3") == b""


def test_nested_message_rfc822_sections():
    raw = load("rfc822_attached.eml")
    p = parse_message(raw)
    assert sb(raw, p, "1") == b"See below."
    inner = sb(raw, p, "2")
    assert inner.startswith(b"From: Original Sender <orig@example.com>\r\n")
    assert inner.endswith(b"--inner--")  # deliberate: Dovecot adds the CRLF that follows
    assert sb(raw, p, "2.MIME") == (
        b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    )
    assert sb(raw, p, "2.HEADER").endswith(b'boundary="inner"\r\n\r\n')
    assert sb(raw, p, "2.HEADER") + sb(raw, p, "2.TEXT") == inner
    assert sb(raw, p, "2.1") == b"inner plain"
    assert sb(raw, p, "2.2") == b"<p>inner html</p>"
    assert sb(raw, p, "2.2.MIME") == b"Content-Type: text/html; charset=us-ascii\r\n\r\n"
    assert sb(raw, p, "2.HEADER.FIELDS (Subject)") == b"Subject: original\r\n\r\n"
    assert sb(raw, p, "2.HEADER.FIELDS.NOT (From To Date Message-ID MIME-Version)") == (
        b'Subject: original\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    )


def test_nested_alternative_numbering():
    raw = load("mixed_alternative.eml")
    p = parse_message(raw)
    assert sb(raw, p, "1.1") == b"Big sale today."
    assert sb(raw, p, "1.2").startswith(b"<html>")
    assert sb(raw, p, "1").startswith(b"--ALT\r\n")  # a multipart's body, boundaries included
    assert sb(raw, p, "1.MIME") == b'Content-Type: multipart/alternative; boundary="ALT"\r\n\r\n'
    assert sb(raw, p, "2") == b"iVBORw0KGgo="


def test_header_fields_keep_folding_and_blank_line():
    raw = load("plain.eml")
    p = parse_message(raw)
    assert sb(raw, p, "HEADER.FIELDS (cc SUBJECT)") == (
        b"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
        b"cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n\r\n"
    )
    assert sb(raw, p, 'HEADER.FIELDS ("X-Absent")') == b"\r\n"
    not_ = sb(raw, p, "HEADER.FIELDS.NOT (Return-Path Date From Subject To cc Message-Id)")
    assert not_ == b"MIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"


def test_header_fields_helper_directly():
    header = b"A: 1\r\nB: 2\r\n  continued\r\nA: 3\r\n\r\n"
    assert header_fields(header, ["a"]) == b"A: 1\r\nA: 3\r\n\r\n"
    assert header_fields(header, [b"A"], not_=True) == b"B: 2\r\n  continued\r\n\r\n"
    # a message with no body and no blank line: no blank line is invented (RFC 3501 6.4.5)
    assert header_fields(b"A: 1\r\nB: 2", ["b"]) == b"B: 2"


def test_section_bytes_accepts_stored_parts_mapping():
    raw = load("rfc822_attached.eml")
    p = parse_message(raw)
    parts = type(p).parts_from_json(p.parts_json())
    assert parts == p.parts
    assert sb(raw, parts, "2.TEXT") == sb(raw, p, "2.TEXT")
    assert sb(raw, parts, "[2.1]") == b"inner plain"


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("", ("", "", ())),
        ("1.2.3", ("1.2.3", "", ())),
        ("header", ("", "HEADER", ())),
        ("4.2.text", ("4.2", "TEXT", ())),
        ("4.1.MIME", ("4.1", "MIME", ())),
        ('HEADER.FIELDS (From "X-Foo" to)', ("", "HEADER.FIELDS", ("From", "X-Foo", "to"))),
        ("3.HEADER.FIELDS.NOT (Received)", ("3", "HEADER.FIELDS.NOT", ("Received",))),
        ("[1]", ("1", "", ())),
    ],
)
def test_parse_section(spec, parsed):
    assert tuple(parse_section(spec)) == parsed


@pytest.mark.parametrize(
    "spec", ["MIME", "0", "1.0", "FOO", "1.MIMEX", "HEADER.FIELDS", "HEADER.FIELDS ()", "TEXT x"]
)
def test_bad_sections_raise(spec):
    with pytest.raises(ValueError):
        parse_section(spec)
