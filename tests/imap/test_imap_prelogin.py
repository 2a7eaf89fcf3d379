"""Before log-in an IMAP client gets little: literals up to ``limits.prelogin_literal``
(refused unread above that) and ``limits.prelogin_timeout`` seconds of silence."""

from __future__ import annotations

import time

import pytest
from imaphelp import PASSWORD, RawClient


def test_big_literal_before_login_is_refused_unread(raw, user):
    c = raw()
    c.send(b"a1 APPEND INBOX {1000000}\r\n")
    line = c.line()  # no "+ Ready": the client must not send the data
    assert line.startswith(b"a1 NO [TOOBIG]") or line.startswith(b"a1 BAD [TOOBIG]"), line
    c.send(b"a2 LOGIN {9000}\r\n")  # over prelogin_literal (8192) for any command
    line = c.line()
    assert line.startswith(b"a2 BAD [TOOBIG]"), line
    assert c.cmd("a3 NOOP")[-1].startswith(b"a3 OK")
    # Within the limit: LOGIN with literals still works (RFC 3501 LOGIN astrings).
    c.send(f"a4 LOGIN {{{len(user)}}}\r\n".encode())
    assert c.line().startswith(b"+ ")
    c.send(f"{user} {{{len(PASSWORD)}+}}\r\n{PASSWORD}\r\n".encode())
    assert c.until_tagged(b"a4")[-1].startswith(b"a4 OK")
    # Logged in, the normal limits apply again.
    c.send(b"a5 APPEND INBOX {100000}\r\n")
    assert c.line().startswith(b"+ ")
    c.send(b"x" * 100000 + b"\r\n")
    assert c.until_tagged(b"a5")[-1].startswith(b"a5 OK")


def test_big_nonsync_literal_before_login_closes(raw):
    c = raw()
    # LITERAL+ (RFC 7888 4): the client sends the octets unasked, so the server rejects
    # the command and closes the connection instead of reading (or skipping) them.
    c.send(b"a1 APPEND INBOX {1000000+}\r\n" + b"x" * 10000)
    lines = [c.line(), c.line()]
    assert lines[0].startswith(b"a1 BAD [TOOBIG]"), lines
    assert lines[1].startswith(b"* BYE [TOOBIG]"), lines
    assert c.closed()


@pytest.fixture(scope="module")
def prelogin_daemon(imapd_factory):
    """Silent clients that have not logged in are dropped after 1 s, others after 30 s."""
    return imapd_factory("prelogin_timeout = 1\nimap_autologout = 30\n")


def test_prelogin_timeout(prelogin_daemon):
    c = RawClient(prelogin_daemon.ports["imap"])
    started = time.monotonic()
    assert c.line().startswith(b"* BYE"), "no autologout before log-in"
    assert 0.5 < time.monotonic() - started < 5
    assert c.closed()
    # Also in the middle of AUTHENTICATE (the server waits for the client's response).
    c = RawClient(prelogin_daemon.ports["imap"])
    c.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert c.line().startswith(b"+")
    assert c.line().startswith(b"* BYE")
    assert c.closed()
    # Logged in, the normal autologout applies: 1.5 s of silence is fine.
    c = RawClient(prelogin_daemon.ports["imap"])
    assert c.cmd(f"a1 LOGIN sam {PASSWORD}")[-1].startswith(b"a1 OK")
    time.sleep(1.5)
    assert c.cmd("a2 NOOP")[-1].startswith(b"a2 OK")
    c.close()
