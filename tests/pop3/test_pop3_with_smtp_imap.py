"""POP3 together with the other protocols: mail delivered over SMTP, changed over IMAP."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import time

import pytest
from pop3_helpers import connect, make_message


def wait_for_messages(daemon, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pop = connect(daemon)
        n = pop.stat()[0]
        pop.quit()
        if n >= count or time.monotonic() > deadline:
            assert n == count
            return
        time.sleep(0.1)


def test_smtp_delivery_then_pop3_and_imap(pop_daemon):
    with smtplib.SMTP("127.0.0.1", pop_daemon.ports["smtp"], timeout=10) as smtp:
        smtp.sendmail("someone@example.org", ["meier@lan.test"],
                      make_message(4, body=".starts with a dot\r\nbye\r\n", subject="via smtp"))
    wait_for_messages(pop_daemon, 4)

    pop = connect(pop_daemon)
    _, lines, _ = pop.retr(4)
    assert b"Subject: via smtp" in lines and lines[-2:] == [b".starts with a dot", b"bye"]
    uidl4 = pop.uidl(4).split()[2].decode()

    imap = imaplib.IMAP4("127.0.0.1", pop_daemon.ports["imap"])
    imap.login("meier", "secret")
    _, data = imap.status("INBOX", "(UIDVALIDITY)")
    uidvalidity = data[0].split()[-1].rstrip(b")").decode()
    imap.select("INBOX")
    _, data = imap.fetch("4", "(UID)")
    uid = data[0].split()[-1].rstrip(b")").decode()
    assert uidl4 == f"{uidvalidity}.{uid}"  # UIDL is INBOX's UIDVALIDITY.UID

    # IMAP expunges message 2 while the POP3 session has it in its snapshot
    imap.store("2", "+FLAGS", "\\Deleted")
    imap.expunge()
    with pytest.raises(poplib.error_proto, match="message 2 was removed by another session"):
        pop.retr(2)
    pop.dele(1)
    assert pop.quit().startswith(b"+OK")

    # the POP3 deletion shows up in IMAP as an EXPUNGE
    imap.noop()
    _, data = imap.search(None, "ALL")
    assert len(data[0].split()) == 2
    imap.logout()


def test_retr_marks_seen_at_quit_top_and_dropped_sessions_do_not(pop_daemon):
    wait_for_messages(pop_daemon, 3)
    imap = imaplib.IMAP4("127.0.0.1", pop_daemon.ports["imap"])
    imap.login("meier", "secret")
    imap.select("INBOX")
    imap.store("1:3", "-FLAGS", "\\Seen")

    def unseen() -> list[bytes]:
        imap.noop()
        return imap.search(None, "UNSEEN")[1][0].split()

    pop = connect(pop_daemon)
    pop.retr(1)
    pop.top(2, 0)
    assert unseen() == [b"1", b"2", b"3"]  # nothing changes before QUIT
    pop.quit()
    assert unseen() == [b"2", b"3"]  # RETR'd: \Seen; TOP'd: not

    pop = connect(pop_daemon)
    pop.retr(3)
    pop.sock.close()  # dropped without QUIT: no UPDATE state, no change
    time.sleep(0.3)
    assert unseen() == [b"2", b"3"]
    imap.logout()
