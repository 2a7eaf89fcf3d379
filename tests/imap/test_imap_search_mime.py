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


EMPTY_MULTIPART = (b"From: a@b.test\r\nSubject: empty\r\nMIME-Version: 1.0\r\n"
                   b'Content-Type: multipart/mixed; boundary="nothing"\r\n\r\n'
                   b"no parts at all\r\n")

SAME_BOUNDARY = (
    b"From: a@b.test\r\nSubject: reused boundary\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b'--b\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n"
    b"--b\r\nContent-Type: text/html\r\n\r\n<p>html text</p>\r\n"
    b"--b--\r\n"
    b"--b\r\nContent-Type: application/pdf\r\n\r\nPDFDATA\r\n"
    b"--b--\r\n")


def test_empty_multipart_sections_match_bodystructure(imap):
    """Issue 15 item 6: BODYSTRUCTURE shows one empty text/plain part (as Dovecot), so
    BODY[1] and BODY[1.MIME] are that part: empty, not NIL."""
    assert imap.append("INBOX", None, None, EMPTY_MULTIPART)[0] == "OK"
    imap.select("INBOX")
    typ, data = imap.fetch("1", "(BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[1.MIME])")
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
    assert b'("TEXT" "PLAIN"' in flat and b'"MIXED"' in flat
    assert b"BODY[1] NIL" not in flat and b"BODY[1.MIME] NIL" not in flat, flat
    assert b'BODY[1] ""' in flat or b"BODY[1] {0}" in flat, flat


def test_nested_multipart_reusing_the_boundary_is_read_as_meant(imap):
    """Issue 15 item 8: the innermost open multipart owns the boundary (Dovecot,
    MimeKit): part 1 is the alternative with two parts, part 2 the PDF."""
    assert imap.append("INBOX", None, None, SAME_BOUNDARY)[0] == "OK"
    imap.select("INBOX")
    typ, data = imap.fetch("1", "(BODY BODY.PEEK[1.1] BODY.PEEK[1.2] BODY.PEEK[2])")
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
    assert b'"ALTERNATIVE")("APPLICATION" "PDF"' in flat, flat
    assert b"plain text" in flat and b"<p>html text</p>" in flat and b"PDFDATA" in flat


def test_junk_address_list_gives_a_bounded_envelope(imap):
    """Issue 15 item 7: thousands of broken encoded words in To: made a 440 KB ENVELOPE."""
    junk = ", ".join(f"=?utf-8?q?broken{i}?= <u{i}@x{i}.example>" for i in range(6000))
    raw = (f"From: a@b.test\r\nTo: {junk}\r\nSubject: junk\r\n"
           'Content-Type: text/plain; name="' + "n" * 5000 + '"\r\n\r\nbody\r\n').encode()
    assert imap.append("INBOX", None, None, raw)[0] == "OK"
    imap.select("INBOX")
    typ, data = imap.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    size = sum(len(x) if isinstance(x, bytes) else sum(map(len, x)) for x in data)
    assert typ == "OK" and size < 64 * 1024, size
    typ, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (TO)])")
    assert b"u5999@x5999.example" in data[0][1]  # the header itself is complete
