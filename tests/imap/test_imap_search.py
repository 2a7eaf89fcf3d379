"""SEARCH / UID SEARCH: the RFC 3501 keys, CHARSET, sequence sets, and errors."""

from __future__ import annotations

import imaplib
import time

import pytest
from imaphelp import PASSWORD, Client, message


def ids(data) -> list[int]:
    return [int(x) for x in data[0].split()]


def fill(imap) -> None:
    """Five messages with distinct headers, bodies, flags and dates."""
    msgs = [
        (message("Quarterly report", body="The numbers look good.\r\n", sender="anna@x.test",
                 to="team@x.test", extra="X-Priority: 1\r\n"), "(\\Seen)", (2021, 3, 1)),
        (message("Lunch", body="Pizza or sushi?\r\n", sender="bob@y.test", to="anna@x.test"),
         "(\\Flagged $Important)", (2022, 6, 15)),
        (message("Grüße aus Köln", body="Schöne Grüße\r\n", sender="carl@z.test",
                 to="anna@x.test", extra="Content-Type: text/plain; charset=utf-8\r\n"),
         "(\\Answered \\Seen)", (2023, 1, 10)),
        (message("Re: Quarterly report", body="Agreed, numbers fine.\r\n" + "pad " * 2000,
                 sender="dora@x.test", to="team@x.test", extra="Cc: bob@y.test\r\n"),
         "(\\Deleted)", (2024, 2, 29)),
        (message("Draft", body="unfinished\r\n", sender="anna@x.test", to="zed@q.test"),
         "(\\Draft)", (2024, 3, 1)),
    ]
    for raw, flags, date in msgs:
        stamp = imaplib.Time2Internaldate(time.mktime((*date, 12, 0, 0, 0, 0, -1)))
        raw = raw.replace(b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln",
                          b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=")
        assert imap.append("INBOX", flags, stamp, raw)[0] == "OK"
    imap.select("INBOX")


@pytest.fixture(scope="module")
def shared_box(imapd, module_user):
    """One mailbox for the read-only key tests (one session: all messages \\Recent)."""
    client = Client("127.0.0.1", imapd.ports["imap"])
    client.login(module_user, PASSWORD)
    fill(client)
    yield client
    client.logout()


@pytest.fixture
def box(imap):
    fill(imap)
    return imap


@pytest.mark.parametrize("criteria,expected", [
    ("ALL", [1, 2, 3, 4, 5]),
    ("SEEN", [1, 3]), ("UNSEEN", [2, 4, 5]),
    ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4, 5]),
    ("ANSWERED", [3]), ("UNANSWERED", [1, 2, 4, 5]),
    ("DELETED", [4]), ("UNDELETED", [1, 2, 3, 5]),
    ("DRAFT", [5]), ("UNDRAFT", [1, 2, 3, 4]),
    ("KEYWORD $Important", [2]), ("UNKEYWORD $important", [1, 3, 4, 5]),
    ("RECENT", [1, 2, 3, 4, 5]), ("NEW", [2, 4, 5]), ("OLD", []),
    ("FROM anna", [1, 5]), ("FROM ANNA@X.TEST", [1, 5]),
    ("TO anna@x.test", [2, 3]), ("CC bob", [4]), ("BCC bob", []),
    ("SUBJECT quarterly", [1, 4]), ('SUBJECT "re: quart"', [4]),
    ("SUBJECT grüße", [3]), ("SUBJECT KÖLN", [3]),
    ("HEADER X-Priority 1", [1]), ('HEADER X-Priority ""', [1]),
    ('HEADER Subject "aus"', [3]), ("HEADER Message-ID Lunch", [2]),
    ("BODY numbers", [1, 4]), ("BODY sushi", [2]), ("BODY Quarterly", []),
    ("TEXT quarterly", [1, 4]), ("TEXT pizza", [2]), ("TEXT sch", [3]),
    ("TEXT ok", [1]), ("TEXT SCHÖNE", [3]),
    ("BEFORE 1-Jan-2023", [1, 2]), ("SINCE 1-Mar-2024", [5]), ("ON 29-Feb-2024", [4]),
    ("SENTBEFORE 1-Jan-2000", [1, 2, 3, 4, 5]), ("SENTON 8-Feb-1994", [1, 2, 3, 4, 5]),
    ("SENTSINCE 1-Jan-2000", []),
    ("LARGER 5000", [4]), ("SMALLER 5000", [1, 2, 3, 5]),
    ("2:3", [2, 3]), ("4:*", [4, 5]), ("*", [5]), ("2,4", [2, 4]),
    ("UID 1:2", [1, 2]), ("UID 5:*", [5]),
    ("NOT SEEN", [2, 4, 5]), ("OR FLAGGED DRAFT", [2, 5]),
    ("(SEEN ANSWERED) FROM carl", [3]), ("NOT (FROM anna OR SEEN DELETED)", [2, 3, 4, 5]),
    ("OR (FROM anna SEEN) (TO team UNSEEN)", [1, 4]),
    ("SEEN 1:2", [1]),
])
def test_search_keys(shared_box, criteria, expected):
    typ, data = shared_box.search("UTF-8" if not criteria.isascii() else None,
                           criteria.encode() if not criteria.isascii() else criteria)
    assert typ == "OK"
    assert ids(data) == expected


def test_uid_search_and_sequence_numbers_differ(box):
    box.store("1", "+FLAGS", "(\\Deleted)")
    box.expunge()  # removes UIDs 1 and 4
    typ, data = box.search(None, "FROM anna")
    assert ids(data) == [3]  # sequence numbers after the expunge
    typ, data = box.uid("SEARCH", "FROM anna")
    assert ids(data) == [5]
    typ, data = box.uid("SEARCH", "UID 1:3")
    assert ids(data) == [2, 3]


def test_search_charset_literal(raw, box, user):
    c = raw(login=user)
    c.cmd("a0 SELECT INBOX")
    needle = "Köln".encode()
    c.send(b"a1 SEARCH CHARSET UTF-8 SUBJECT {%d}\r\n" % len(needle))
    assert c.line().startswith(b"+ ")
    c.send(needle + b"\r\n")
    lines = c.until_tagged(b"a1")
    assert lines[0] == b"* SEARCH 3"
    latin = "Köln".encode("latin-1")
    c.send(b"a2 SEARCH CHARSET ISO-8859-1 SUBJECT {%d+}\r\n" % len(latin) + latin + b"\r\n")
    assert c.until_tagged(b"a2")[0] == b"* SEARCH 3"


def test_search_errors(shared_box):
    typ, data = shared_box.search("KLINGON", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
    for bad in ("FOO", "SINCE yesterday", "OR SEEN", "(SEEN", "LARGER x"):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            shared_box.search(None, bad)


def test_search_empty_result(shared_box):
    typ, data = shared_box.search(None, "SUBJECT nothing-like-this")
    assert typ == "OK" and data == [b""]


def test_search_largest_program(shared_box):
    criteria = " ".join(["OR SEEN NOT DRAFT"] * 40 + ["NOT (OR TEXT qq BODY numbers)"] * 20)
    typ, data = shared_box.search(None, criteria)  # 260 keys, just under the bound
    assert typ == "OK" and ids(data) == [2, 3]
