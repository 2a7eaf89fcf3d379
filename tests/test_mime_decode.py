"""Decoded strings for SEARCH/SORT/archive, search text, storage round trip."""

import calendar
from pathlib import Path

from lanmaild.mime import MAX_SEARCH_TEXT, ParsedMessage, normalize_crlf, parse_message, parser
from lanmaild.mime.headers import decode_bytes, decode_header_value
from lanmaild.mime.text import base_subject

DATA = Path(__file__).parent / "data" / "mime"


def load(name: str) -> bytes:
    return normalize_crlf((DATA / name).read_bytes())


def test_encoded_words_are_decoded_for_search_and_sort():
    p = parse_message(load("encoded_words.eml"))
    assert p.subject == "Äpfel und Birnen im Korb"
    assert p.base_subject == "Äpfel und Birnen im Korb"
    assert p.from_ == "Jörg Müller <joerg@example.de>"
    assert p.to == '"Smith, John" <john@example.com>, "André Pirard" <PIRARD@vm1.ulg.ac.be>'
    assert p.display_from == "Jörg Müller"
    assert p.display_to == "Smith, John"
    assert (p.sort_from, p.sort_to, p.sort_cc) == ("joerg", "john", "")
    assert p.message_id == "<enc@example.de>"
    assert p.in_reply_to == "<parent@example.de>"
    assert p.references == ["<root@example.de>", "<parent@example.de>"]
    assert p.date == calendar.timegm((2024, 1, 1, 9, 0, 0))
    assert "subject: Äpfel und Birnen im Korb" in p.search_text
    assert p.search_body == "Käse und Brötchen.\r\n"


def test_raw_utf8_headers_and_body():
    p = parse_message(load("eightbit.eml"))
    assert p.subject == "Café crème"
    assert p.from_ == "René <rene@example.fr>"
    assert p.display_from == "René"
    assert "s\u2019il vous pla\u00eet" in p.search_body


def test_quoted_printable_body_is_decoded():
    p = parse_message(load("qp.eml"))
    assert "Grüße aus Köln" in p.search_body
    assert "soft line break in the middle" in p.search_body


def test_alternative_indexes_one_choice_and_html_is_stripped():
    p = parse_message(load("mixed_alternative.eml"))
    assert "Big sale today." in p.search_body
    assert "<" not in p.search_body
    html_only = (
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"PGh0bWw+PHN0eWxlPnB7fTwvc3R5bGU+PHA+Q2Fmw6kgJmFtcDsgPGI+dGVhPC9iPjwvcD48L2h0bWw+\r\n"
    )  # <html><style>p{}</style><p>Café &amp; <b>tea</b></p></html>
    assert parse_message(html_only).search_body == "Café & tea"


def test_forwarded_message_headers_and_text_are_indexed():
    p = parse_message(load("rfc822_attached.eml"))
    body = p.search_body
    assert "See below." in body
    assert "subject: original" in body
    assert "inner plain" in body and "inner html" not in body


def test_attachment_names():
    assert parse_message(load("rfc2231.eml")).attachment_names == [
        "€ Rechnung über 2024.pdf",
        "café.txt",
    ]
    assert parse_message(load("mixed_alternative.eml")).attachment_names == ["logo.png"]
    raw = b'Content-Type: application/zip; name="\xc3\xa9t\xc3\xa9.zip"\r\n\r\n'
    assert parse_message(raw).attachment_names == ["été.zip"]


def test_base_subject_rfc5256():
    assert base_subject("Re: [list] Fwd: Hello (fwd)") == "Hello"
    assert base_subject("[fwd: Re: test]") == "test"
    assert base_subject("Re: Re:   re:\tx  ") == "x"
    assert base_subject("[blob]") == "[blob]"  # removing it would leave nothing
    assert base_subject("[a] [b] Fw: subject") == "subject"
    assert base_subject("") == ""


def test_decode_header_value_edge_cases():
    # a UTF-8 character split across two adjacent encoded-words
    assert decode_header_value("=?UTF-8?B?ww==?= =?UTF-8?B?qQ==?=") == "é"
    assert decode_header_value("=?x-unknown?Q?caf=C3=A9?=") == "café"
    assert decode_header_value("a =?utf-8?q?b?=  =?utf-8?q?c?= d") == "a bc d"
    assert decode_header_value("=?utf-8?q?line=0Abreak?=") == "line break"
    assert decode_header_value("=?utf-8?B?broken base64!?=") is not None


def test_decoded_strings_are_sqlite_safe():
    decode_bytes(b"+2D3-", "utf-7").encode("utf-8")  # UTF-7 can yield a lone surrogate
    p = parse_message(b"Subject: a\x00b =?utf-16?b?2D0=?=\r\nFrom: x\x00@y\r\n\r\n\x00body\x00")
    for text in (p.subject, p.from_, p.search_text, p.base_subject):
        text.encode("utf-8")  # raises on lone surrogates
        assert "\x00" not in text


def test_charset_fallbacks():
    assert decode_bytes(b"caf\xe9", "us-ascii") == "café"  # mislabelled latin-1
    assert decode_bytes(b"caf\xc3\xa9", "iso-8859-1") == "café"  # mislabelled UTF-8
    assert decode_bytes("привет".encode("koi8-r"), "koi8-r") == "привет"
    assert decode_bytes(b"\xff\xfe", "rot13") == "ÿþ"  # not a text codec: ignored


def test_dates():
    def date_of(value: bytes):
        return parse_message(b"Date: " + value + b"\r\n\r\n").date

    assert date_of(b"Thu, 01 Jan 1970 00:00:10 +0000") == 10
    assert date_of(b"21 Nov 1997 09:55:06 -0600") == calendar.timegm((1997, 11, 21, 15, 55, 6))
    assert date_of(b"garbage") is None
    assert date_of(b"Mon, 1 Jan 99999999999 00:00:00 +0000") is None


def test_search_text_is_capped():
    raw = b"Subject: big\r\n\r\n" + b"word " * (MAX_SEARCH_TEXT // 2)
    p = parse_message(raw)
    assert len(p.search_text) <= MAX_SEARCH_TEXT
    assert p.search_text.startswith("subject: big\n\nword word")


def test_json_round_trip():
    for name in ("rfc822_attached.eml", "eightbit.eml", "rfc2231.eml"):
        p = parse_message(load(name))
        again = ParsedMessage.from_json(p.to_json())
        assert again == p
        assert ParsedMessage.parts_from_json(p.parts_json()) == p.parts


def test_normalize_crlf():
    assert normalize_crlf(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"
    assert normalize_crlf(b"a\r\nb") == b"a\r\nb"
    assert normalize_crlf(b"lone\rcr") == b"lone\rcr"


def test_parser_bug_falls_back_to_minimal_structure(monkeypatch):
    def boom(raw):
        raise RuntimeError("simulated parser bug")

    monkeypatch.setattr(parser, "_parse", boom)
    raw = b"Subject: x\r\n\r\nline\r\n"
    p = parse_message(raw)
    assert p.limits_hit
    assert p.header_size == 14
    assert p.body == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 6 1)'
    assert p.parts["1"][1:3] == (14, len(raw))
