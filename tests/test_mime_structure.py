"""ENVELOPE / BODY / BODYSTRUCTURE for real-world message shapes (tests/data/mime/*.eml).

Expected values are written out from RFC 3501 7.4.2 and RFC 2045/2046/2231/5322. Sizes are
octets of the CRLF form (fixtures are stored with LF and normalised like the store does), line
counts are the number of LF octets in the part body. They were cross-checked against Dovecot
2.3.19 (same output except for letter case, which IMAP makes irrelevant) apart from the choices
marked "deliberate" below.
"""

from pathlib import Path

import pytest

from lanmaild.mime import normalize_crlf, parse_message

DATA = Path(__file__).parent / "data" / "mime"


def load(name: str, crlf: bool = True) -> bytes:
    raw = (DATA / name).read_bytes()
    return normalize_crlf(raw) if crlf else raw


def us_ascii_text(size: int, lines: int, ext: bool = True) -> bytes:
    base = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d %d' % (size, lines)
    return base + (b" NIL NIL NIL NIL)" if ext else b")")


def test_plain_rfc3501_sample():
    raw = load("plain.eml")
    p = parse_message(raw)
    assert p.envelope == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes"'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' ((NIL NIL "imap" "cac.washington.edu"))'
        b' ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU"))'
        b' NIL NIL "<B27397-0100000@cac.washington.edu>")'
    )
    # "Hello IMAP.\r\nSecond line.\r\n"
    assert p.bodystructure == us_ascii_text(27, 2)
    assert p.body == us_ascii_text(27, 2, ext=False)
    assert raw[p.header_size :] == b"Hello IMAP.\r\nSecond line.\r\n"
    assert raw[: p.header_size].endswith(b"CHARSET=US-ASCII\r\n\r\n")


def test_encoded_words_stay_encoded_in_envelope():
    p = parse_message(load("encoded_words.eml"))
    joerg = b'(("=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=" NIL "joerg" "example.de"))'
    assert p.envelope == (
        b'("Mon, 1 Jan 2024 10:00:00 +0100"'
        # unfolded: the CRLF goes, the WSP of the continuation line stays
        b' "=?UTF-8?B?w4RwZmVs?= und =?UTF-8?Q?Birnen?= =?UTF-8?Q?_im_Korb?="'
        b" " + joerg + b" " + joerg + b" " + joerg + b' (("Smith, John" NIL "john" "example.com")'
        b'("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be"))'
        b' NIL NIL "<parent@example.de>" "<enc@example.de>")'
    )
    assert p.bodystructure == (
        b'("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" 22 1 NIL NIL NIL NIL)'
    )


def test_raw_8bit_header_values_become_literals():
    p = parse_message(load("eightbit.eml"))
    rene = b'(({5}\r\nRen\xc3\xa9 NIL "rene" "example.fr"))'
    assert p.envelope == (
        b'("Tue, 2 Jan 2024 08:00:00 +0000" {12}\r\nCaf\xc3\xa9 cr\xc3\xa8me '
        + rene + b" " + rene + b" " + rene
        + b' ((NIL NIL "bob" "example.com")) NIL NIL NIL "<8bit@example.fr>")'
    )
    assert p.has_8bit_headers
    assert p.body == b'("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" 31 1)'


def test_quoted_printable_text():
    p = parse_message(load("qp.eml"))
    assert p.bodystructure == (
        b'("TEXT" "PLAIN" ("CHARSET" "iso-8859-1") NIL NIL "QUOTED-PRINTABLE" 92 2'
        b" NIL NIL NIL NIL)"
    )


def test_base64_attachment_with_id_description_disposition():
    p = parse_message(load("attachment_b64.eml"))
    assert p.bodystructure == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 13 0 NIL NIL NIL NIL)'
        b'("APPLICATION" "PDF" ("NAME" "report.pdf") "<part2@example.org>" "Quarterly report"'
        b' "BASE64" 154 NIL ("ATTACHMENT" ("FILENAME" "report.pdf")) NIL NIL)'
        b' "MIXED" ("BOUNDARY" "=_outer_") NIL NIL NIL)'
    )
    assert p.body == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 13 0)'
        b'("APPLICATION" "PDF" ("NAME" "report.pdf") "<part2@example.org>" "Quarterly report"'
        b' "BASE64" 154) "MIXED")'
    )
    assert p.attachment_names == ["report.pdf"]


def test_alternative_inside_mixed_with_md5_location_language():
    p = parse_message(load("mixed_alternative.eml"))
    assert p.bodystructure == (
        b'((("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") NIL NIL "7BIT" 15 0'
        b" NIL NIL NIL NIL)"
        b'("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 80 0 NIL NIL NIL NIL)'
        b' "ALTERNATIVE" ("BOUNDARY" "ALT") NIL NIL NIL)'
        b'("IMAGE" "PNG" NIL NIL NIL "BASE64" 12 "Q2hlY2sgSW50ZWdyaXR5IQ=="'
        b' ("INLINE" ("FILENAME" "logo.png")) NIL "http://shop.example/logo.png")'
        b' "MIXED" ("BOUNDARY" "MIX") NIL ("en") NIL)'
    )
    assert p.body == (
        b'((("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") NIL NIL "7BIT" 15 0)'
        b'("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 80 0) "ALTERNATIVE")'
        b'("IMAGE" "PNG" NIL NIL NIL "BASE64" 12) "MIXED")'
    )


def test_message_rfc822_attachment_with_its_own_multipart():
    p = parse_message(load("rfc822_attached.eml"))
    inner_env = (
        b'("Fri, 5 Jan 2024 23:00:00 +0000" "original"'
        b' (("Original Sender" NIL "orig" "example.com"))'
        b' (("Original Sender" NIL "orig" "example.com"))'
        b' (("Original Sender" NIL "orig" "example.com"))'
        b' ((NIL NIL "fwd" "example.org")) NIL NIL NIL "<orig@example.com>")'
    )
    # Deliberate: the CRLF before "--outer--" belongs to that delimiter (RFC 2046 5.1.1), so
    # the message/rfc822 part ends right after "--inner--": 378 octets, 16 LFs. Dovecot
    # counts that CRLF into the part (380, 17).
    assert p.bodystructure == (
        b"(" + us_ascii_text(10, 0)
        + b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 378 ' + inner_env
        + b' (("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 11 0 NIL NIL NIL NIL)'
        b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 17 0 NIL NIL NIL NIL)'
        b' "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL)'
        b' 16 NIL ("ATTACHMENT" NIL) NIL NIL)'
        b' "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)'
    )
    assert p.body == (
        b"(" + us_ascii_text(10, 0, ext=False)
        + b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 378 ' + inner_env
        + b' (("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 11 0)'
        b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 17 0) "ALTERNATIVE") 16)'
        b' "MIXED")'
    )


def test_rfc2231_continuations_and_charset_are_decoded():
    p = parse_message(load("rfc2231.eml"))
    # Deliberate: the decoded "€ Rechnung über 2024.pdf" is sent as a UTF-8 RFC 2047 word
    # under the plain attribute (7-bit safe for IMAP4rev1 clients); Dovecot sends
    # ("name*" "UTF-8''%E2%82%AC%20Rechnung...") instead.
    word = b"=?UTF-8?B?4oKsIFJlY2hudW5nIMO8YmVyIDIwMjQucGRm?="
    assert p.bodystructure == (
        b'(("APPLICATION" "OCTET-STREAM" ("NAME" "' + word + b'") NIL NIL "BASE64" 4'
        b' NIL ("ATTACHMENT" ("FILENAME" "' + word + b'")) NIL NIL)'
        b'("TEXT" "PLAIN" ("NAME" "very long plain name.txt" "TITLE" "This is fun"'
        b' "CHARSET" "US-ASCII") NIL NIL "7BIT" 1 0'
        b' NIL ("ATTACHMENT" ("FILENAME" "=?iso-8859-1?Q?caf=E9.txt?=")) NIL NIL)'
        b' "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)'
    )
    assert p.attachment_names == ["€ Rechnung über 2024.pdf", "café.txt"]


def test_group_syntax_route_and_defaults():
    p = parse_message(load("groups.eml"))
    assert p.envelope == (
        b'("21 Nov 1997 09:55:06 -0600" "groups"'
        b' (("Joe Q. Public" NIL "john.q.public" "example.com"))'
        b' (("Michael Jones" NIL "mjones" "machine.example"))'
        b' (("Mary Smith" NIL "mary" "example.net"))'
        b' ((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")'
        b'("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL))'
        b' ((NIL NIL "Undisclosed recipients" NIL)(NIL NIL NIL NIL))'
        b' (("Boss, The" "@relay1.example,@relay2.example" "boss" "example.com"))'
        b' NIL "<5678.21-Nov-1997@example.com>")'
    )


def test_missing_headers_give_nil_and_empty_body():
    p = parse_message(load("missing_headers.eml"))
    assert p.envelope == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    assert p.bodystructure == us_ascii_text(0, 0)
    assert p.header_size == len(b"X-Nothing: here\r\n\r\n")


def test_present_but_empty_fields():
    raw = b"Date: \r\nSubject:\r\nFrom: a@b.example\r\nSender: \r\nTo: \r\n\r\n"
    p = parse_message(raw)
    frm = b'((NIL NIL "a" "b.example"))'
    # empty date/subject are "", empty address fields NIL, empty Sender defaults to From
    assert p.envelope == b'("" "" ' + frm + b" " + frm + b" " + frm + b" NIL NIL NIL NIL NIL)"


def test_odd_addresses_use_dovecot_placeholders():
    raw = (
        b"From: root\r\nTo: <>, Undisclosed recipients, a@b (Comment Name)\r\n"
        b'Cc: "quoted local"@example.org, "Escaped \\"Name\\"" <x@y>\r\n\r\n'
    )
    p = parse_message(raw)
    assert p.envelope == (
        b'(NIL NIL ((NIL NIL "root" "MISSING_DOMAIN")) ((NIL NIL "root" "MISSING_DOMAIN"))'
        b' ((NIL NIL "root" "MISSING_DOMAIN"))'
        b' ((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")'
        b'("Undisclosed recipients" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")'
        b'("Comment Name" NIL "a" "b"))'
        b' ((NIL NIL "quoted local" "example.org")("Escaped \\"Name\\"" NIL "x" "y"))'
        b" NIL NIL NIL)"
    )


def test_header_only_message_without_blank_line():
    raw = load("header_only.eml")
    p = parse_message(raw)
    assert p.header_size == len(raw)
    assert p.bodystructure == us_ascii_text(0, 0)
    assert b'"header only, no blank line"' in p.envelope


def test_missing_boundary_parameter_is_plain_text():
    # Deliberate (RFC 2045 5.2: an invalid Content-Type means text/plain): the body stays
    # visible. Dovecot shows an empty multipart instead.
    p = parse_message(load("missing_boundary.eml"))
    assert p.bodystructure == us_ascii_text(11, 1)


def test_boundary_never_seen_gives_one_empty_part():
    # RFC 3501 needs 1*body in a multipart; like Dovecot, an empty text/plain stands in.
    p = parse_message(load("boundary_never_seen.eml"))
    assert p.bodystructure == (
        b"(" + us_ascii_text(0, 0) + b' "MIXED" ("BOUNDARY" "nowhere") NIL NIL NIL)'
    )
    assert p.body == b"(" + us_ascii_text(0, 0, ext=False) + b' "MIXED")'


def test_missing_close_delimiter_ends_last_part_at_end():
    raw = load("unterminated.eml")
    p = parse_message(raw)
    assert p.body == (
        b"(" + us_ascii_text(5, 0, ext=False) + us_ascii_text(19, 1, ext=False) + b' "MIXED")'
    )
    assert raw.endswith(b"second, truncated\r\n")


def test_bad_charset_is_passed_through():
    p = parse_message(load("bad_charset.eml"))
    assert p.body == b'("TEXT" "PLAIN" ("CHARSET" "x-no-such-charset") NIL NIL "8BIT" 9 1)'
    assert "na\u00efve" in p.search_text  # decoded by fallback (cp1252)


def test_digest_default_is_message_rfc822():
    p = parse_message(load("digest.eml"))
    one = b'((NIL NIL "one" "example.org"))'
    assert p.body == (
        b'(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 44'
        b' (NIL "first" ' + one + b" " + one + b" " + one + b" NIL NIL NIL NIL NIL)"
        b" " + us_ascii_text(3, 0, ext=False) + b" 3)"
        + us_ascii_text(13, 0, ext=False) + b' "DIGEST")'
    )


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (b"text", b'"TEXT" "PLAIN" ("CHARSET" "US-ASCII")'),  # invalid: no subtype
        (b"text/html", b'"TEXT" "HTML" ("CHARSET" "US-ASCII")'),  # default charset added
        (b'text/plain; charset="utf-8" (comment)', b'"TEXT" "PLAIN" ("CHARSET" "utf-8")'),
        (b"text/plain; charset=us-ascii (Plain text)", b'"TEXT" "PLAIN" ("CHARSET" "us-ascii")'),
        (b"TEXT/Plain charset=koi8-r", b'"TEXT" "PLAIN" ("CHARSET" "koi8-r")'),
        (
            b'application/x-thing; a=1; a=2; B="x;y"',
            b'"APPLICATION" "X-THING" ("A" "1" "B" "x;y")',
        ),
        (b'text/plain; name="\xc3\xa9t\xc3\xa9.txt"',
         b'"TEXT" "PLAIN" ("NAME" {9}\r\n\xc3\xa9t\xc3\xa9.txt "CHARSET" "US-ASCII")'),
    ],
)
def test_content_type_variants(content_type, expected):
    p = parse_message(b"Content-Type: " + content_type + b"\r\n\r\nx")
    assert p.body.startswith(b"(" + expected + b" NIL NIL ")


def test_first_content_type_wins():
    p = parse_message(b"Content-Type: text/html\r\nContent-Type: image/gif\r\n\r\nx")
    assert p.body.startswith(b'("TEXT" "HTML"')


def test_message_rfc822_at_top_level():
    # body: "Subject: inner\r\n" (16) + "\r\n" (2) + "hi\r\n" (4) = 22 octets, 3 LFs
    raw = b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nhi\r\n"
    p = parse_message(raw)
    assert p.body == (
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 22'
        b' (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ' + us_ascii_text(4, 1, ext=False)
        + b" 3)"
    )


def test_bare_lf_input_has_same_structure_with_lf_offsets():
    lf = load("bare_lf.eml", crlf=False)
    crlf = load("bare_lf.eml")
    assert b"\r" not in lf
    p_lf, p_crlf = parse_message(lf), parse_message(crlf)
    assert p_lf.envelope == p_crlf.envelope
    assert p_lf.body == p_crlf.body == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 5 0)'
        b'("TEXT" "HTML" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 11 0) "ALTERNATIVE")'
    )
    assert p_lf.header_size == lf.index(b"\n\n") + 2
    assert p_crlf.header_size == crlf.index(b"\r\n\r\n") + 4
    s, e = p_lf.parts["2"][1:3]
    assert lf[s:e] == b"<b>html</b>"


def test_repeated_address_fields_are_merged_other_fields_first_wins():
    raw = b"To: a@x.example\r\nSubject: one\r\nTo: b@y.example\r\nSubject: two\r\n\r\n"
    p = parse_message(raw)
    assert p.envelope == (
        b'(NIL "one" NIL NIL NIL ((NIL NIL "a" "x.example")(NIL NIL "b" "y.example"))'
        b" NIL NIL NIL NIL)"
    )


def test_content_transfer_encoding_must_be_one_token():
    p = parse_message(b"Content-Transfer-Encoding: base64 (comment)\r\n\r\nx")
    assert p.body == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "BASE64" 1 0)'
    p = parse_message(b"Content-Transfer-Encoding: base64 junk\r\n\r\nx")
    assert p.body == us_ascii_text(1, 0, ext=False)


def test_delimiter_cut_off_by_end_of_message_opens_no_part():
    p = parse_message(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b")
    assert p.body == b"(" + us_ascii_text(0, 0, ext=False) + b' "MIXED")'
    # issue 15 item 6: the empty text/plain part BODYSTRUCTURE shows is there for
    # BODY[1] too, empty (it was missing, so BODY[1] answered NIL)
    start, body_start, end, _kind = p.parts["1"]
    assert start == body_start == end
