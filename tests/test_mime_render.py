"""IMAP string rendering (RFC 3501 section 9: quoted, literal, nstring, astring)."""

import pytest

from lanmaild.mime.render import NIL, astring, can_quote, literal, nstring, quoted, string


def test_quoted_escapes_quote_and_backslash():
    assert quoted("plain") == b'"plain"'
    assert quoted('a"b\\c') == b'"a\\"b\\\\c"'
    assert quoted(b"") == b'""'


@pytest.mark.parametrize("bad", [b"a\r\nb", b"a\nb", b"caf\xc3\xa9", b"nul\x00"])
def test_quoted_refuses_what_needs_a_literal(bad):
    assert not can_quote(bad)
    with pytest.raises(ValueError):
        quoted(bad)


def test_literal_counts_octets_and_drops_nul():
    assert literal("é") == b"{2}\r\n\xc3\xa9"
    assert literal(b"a\x00b") == b"{2}\r\nab"


def test_string_picks_quoted_or_literal():
    assert string("x y") == b'"x y"'
    assert string(b"two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert string(b"8bit \xff") == b"{6}\r\n8bit \xff"
    assert string(b"only\x00nul") == b'"onlynul"'


def test_nstring():
    assert nstring(None) == NIL == b"NIL"
    assert nstring("") == b'""'
    assert nstring("NIL") == b'"NIL"'


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("INBOX", b"INBOX"),
        ("a]b", b"a]b"),  # resp-specials are ASTRING-CHARs
        ("a b", b'"a b"'),
        ("a%", b'"a%"'),
        ("a*", b'"a*"'),
        ("(x)", b'"(x)"'),
        ("{3}", b'"{3}"'),
        ("", b'""'),
        ("nil", b'"nil"'),
        ("Entwürfe", b"{9}\r\nEntw\xc3\xbcrfe"),
    ],
)
def test_astring(value, wire):
    assert astring(value) == wire
