"""Session life cycle: mail delivered by SMTP reaches an IDLE session, autologout (also
during IDLE), BYE when the daemon stops."""

from __future__ import annotations

import smtplib
import time

import pytest
from imaphelp import PASSWORD, RawClient, message


def test_smtp_delivery_wakes_idle(imapd, raw, user):
    idler = raw(login=user)
    idler.cmd("a1 SELECT INBOX")
    idler.send(b"a2 IDLE\r\n")
    assert idler.line().startswith(b"+ ")
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", imapd.ports["smtp"], timeout=10) as smtp:
        smtp.sendmail("someone@example.test", [f"{user}@lan.test"], message("via smtp"))
    assert idler.line() == b"* 1 EXISTS"
    assert time.monotonic() - started < 2.0
    idler.send(b"DONE\r\n")
    idler.until_tagged(b"a2")
    lines = idler.cmd("a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: via smtp" in lines[0]


@pytest.fixture(scope="module")
def short_daemon(imapd_factory):
    """A daemon whose sessions are logged out after 2 idle seconds."""
    return imapd_factory("imap_autologout = 2\n")


def test_autologout(short_daemon):
    c = RawClient(short_daemon.ports["imap"])
    c.cmd(f"a1 LOGIN sam {PASSWORD}")
    started = time.monotonic()
    assert c.line().startswith(b"* BYE")
    assert 1.5 < time.monotonic() - started < 5
    assert c.closed()
    idle = RawClient(short_daemon.ports["imap"])
    idle.cmd(f"a1 LOGIN sam {PASSWORD}")
    idle.cmd("a2 SELECT INBOX")
    idle.send(b"a3 IDLE\r\n")
    assert idle.line().startswith(b"+ ")
    assert idle.line().startswith(b"* BYE")  # IDLE counts as idle time (RFC 2177)
    assert idle.closed()


def test_bye_on_shutdown(short_daemon):
    c = RawClient(short_daemon.ports["imap"])
    c.cmd(f"a1 LOGIN sam {PASSWORD}")
    c.send(b"a2 IDLE\r\n")
    assert c.line().startswith(b"+ ")
    short_daemon.stop()
    assert c.line() == b"* BYE Server shutting down"
