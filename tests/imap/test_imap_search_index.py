"""SEARCH TEXT/BODY gives the same answer before and after the background indexer ran.

Delivery stores the searchable text; ``lanmaild.indexer`` builds the trigram index later,
when the store is idle. These tests search a mailbox while its newest messages are not
yet indexed (the scanned tail), once everything is indexed, and after expunging indexed
messages (the external-content FTS rows must be deleted with them).
"""

from __future__ import annotations

import sqlite3
import time

from imaphelp import message


def ids(data) -> list[int]:
    return [int(x) for x in data[0].split()]


def index_state(imapd) -> tuple[int, int]:
    """(indexed_upto, highest blob id with searchable text), read-only."""
    with sqlite3.connect(f"file:{imapd.data / 'lanmail.db'}?mode=ro", uri=True) as conn:
        upto = conn.execute("SELECT indexed_upto FROM text_index_state").fetchone()[0]
        top = conn.execute("SELECT coalesce(max(blob_id), 0) FROM blob_search").fetchone()[0]
    return upto, top


def dead_texts(imapd) -> int:
    """Texts of expunged messages still waiting to leave the index."""
    with sqlite3.connect(f"file:{imapd.data / 'lanmail.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM blob_search WHERE dead = 1").fetchone()[0]


def wait_indexed(imapd, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        upto, top = index_state(imapd)
        if upto >= top and not dead_texts(imapd):
            return
        time.sleep(0.1)
    raise AssertionError(f"indexer did not catch up: {index_state(imapd)}, "
                         f"{dead_texts(imapd)} dead")


def fts_integrity(imapd) -> None:
    with sqlite3.connect(imapd.data / "lanmail.db") as conn:
        conn.execute("INSERT INTO blob_text (blob_text) VALUES ('integrity-check')")


def append_set(imap, tag: str) -> None:
    for i, body in enumerate(["alpha zebracorn one", "beta", "gamma zebracorn three"]):
        raw = message(f"{tag} {i}", body=f"{body} {tag}\r\n")
        assert imap.append("INBOX", None, None, raw)[0] == "OK"


def test_search_text_same_before_and_after_indexing(imap, imapd) -> None:
    append_set(imap, "first")
    wait_indexed(imapd)
    append_set(imap, "second")  # searched at once: these are (very likely) in the tail
    imap.select("INBOX")
    expected = [1, 3, 4, 6]
    assert ids(imap.search(None, "TEXT", "zebracorn")[1]) == expected
    assert ids(imap.search(None, "BODY", "ZEBRACORN")[1]) == expected
    assert ids(imap.search(None, "TEXT", "second")[1]) == [4, 5, 6]
    wait_indexed(imapd)
    assert ids(imap.search(None, "TEXT", "zebracorn")[1]) == expected
    assert ids(imap.search(None, "BODY", "ZEBRACORN")[1]) == expected
    assert ids(imap.search(None, "TEXT", "second")[1]) == [4, 5, 6]


def test_expunged_indexed_messages_leave_the_index_consistent(imap, imapd) -> None:
    append_set(imap, "gone")
    wait_indexed(imapd)
    imap.select("INBOX")
    imap.store("1:2", "+FLAGS", "\\Deleted")
    imap.expunge()
    assert ids(imap.search(None, "TEXT", "zebracorn")[1]) == [1]
    wait_indexed(imapd)  # the expunged texts leave the index in the background
    assert ids(imap.search(None, "TEXT", "zebracorn")[1]) == [1]
    fts_integrity(imapd)
    # new mail after the removals gets fresh blob ids: no stale index row can match it
    append_set(imap, "after")
    wait_indexed(imapd)
    assert ids(imap.search(None, "TEXT", "zebracorn")[1]) == [1, 2, 4]
    fts_integrity(imapd)


def test_field_search_with_the_index_as_prefilter(imap, imapd) -> None:
    """FROM/SUBJECT "x" narrow by the trigram index when it is selective; the answer is the
    same for indexed and not yet indexed messages, and a hit only in the body (which the
    index also holds) is not a FROM hit."""
    for i, (sender, body) in enumerate([("qwyxalice@one.test", "hi"),
                                        ("bob@two.test", "mentions qwyxalice here"),
                                        ("QWYXALICE@three.test", "hi")]):
        raw = message(f"mail {i}", body=body + "\r\n", sender=sender)
        assert imap.append("INBOX", None, None, raw)[0] == "OK"
    wait_indexed(imapd)
    raw = message("late", body="x\r\n", sender="Qwyxalice <late@four.test>")
    assert imap.append("INBOX", None, None, raw)[0] == "OK"  # likely still unindexed
    imap.select("INBOX")
    assert ids(imap.search(None, "FROM", "qwyxalice")[1]) == [1, 3, 4]
    assert ids(imap.search(None, "TEXT", "qwyxalice")[1]) == [1, 2, 3, 4]
    assert ids(imap.search(None, "SUBJECT", "late")[1]) == [4]
    wait_indexed(imapd)
    assert ids(imap.search(None, "FROM", "qwyxalice")[1]) == [1, 3, 4]
    assert ids(imap.search(None, "OR", "FROM", "bob", "SUBJECT", "\"mail 2\"")[1]) == [2, 3]
