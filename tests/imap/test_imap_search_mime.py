"""SEARCH over odd real-world MIME (issue 15, items 2 and 3): declared charsets decode
first (ISO-2022-JP is 7-bit and valid UTF-8), and the body of a message includes the
whole header of an attached message and the text of a message/partial fragment
(RFC 3501 6.4.4)."""

from __future__ import annotations

import email.header

JAPANESE = "日本語の請求書"
JP_MAIL = (
    "From: a@b.test\r\nTo: c@d.test\r\n"
    f"Subject: {email.header.Header(JAPANESE, 'iso-2022-jp').encode()}\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n"
    "Content-Transfer-Encoding: 7bit\r\n\r\n").encode() + \
    "本文に日本語があります。\r\n".encode("iso-2022-jp")

ATTACHED = (
    b"From: a@b.test\r\nTo: c@d.test\r\nSubject: forwarded ticket\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b"--outer\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Received: from relay.inner.example by mx.inner.example\r\n"
    b"X-Ticket: QZX-778899\r\nContent-Language: de-CH\r\n"
    b"From: x@inner.example\r\nSubject: inner\r\n\r\ninner body\r\n"
    b"--outer--\r\n")

PARTIAL = (
    b"From: a@b.test\r\nTo: c@d.test\r\nSubject: part 1 of 2\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: message/partial; id="abc@b.test"; number=1; total=2\r\n\r\n'
    b"Subject: the whole\r\n\r\nfragmentword inside the first fragment\r\n")


def _search(c, *criteria: str, literal: str | None = None) -> list[bytes]:
    if literal is not None:
        c.literal = literal.encode()
        typ, data = c.search("UTF-8", *criteria)
    else:
        typ, data = c.search(None, *criteria)
    assert typ == "OK", data
    return data[0].split()


def test_iso_2022_jp_subject_and_body_are_found(imap):
    assert imap.append("INBOX", None, None, JP_MAIL)[0] == "OK"
    imap.select("INBOX")
    assert _search(imap, "SUBJECT", literal="請求書") == [b"1"]
    assert _search(imap, "BODY", literal="日本語が") == [b"1"]
    assert _search(imap, "TEXT", literal="日本語") == [b"1"]
    typ, data = imap.fetch("1", "(ENVELOPE)")
    assert JAPANESE.encode() in data[0] or b"=?" in data[0]  # the raw header is unchanged


def test_every_header_field_of_an_attached_message_is_body_text(imap):
    assert imap.append("INBOX", None, None, ATTACHED)[0] == "OK"
    imap.select("INBOX")
    assert _search(imap, "BODY", "QZX-778899") == [b"1"]
    assert _search(imap, "BODY", "relay.inner.example") == [b"1"]
    assert _search(imap, "TEXT", "de-CH") == [b"1"]
    assert _search(imap, "HEADER", "X-Ticket", "QZX") == []  # not the outer header


def test_message_partial_fragment_is_body_text(imap):
    assert imap.append("INBOX", None, None, PARTIAL)[0] == "OK"
    imap.select("INBOX")
    assert _search(imap, "BODY", "fragmentword") == [b"1"]
