"""RFC 1939 commands through poplib and a raw socket: results and every error path."""

from __future__ import annotations

import asyncio
import hashlib
import poplib

import pytest
from pop3_helpers import Raw, connect, make_message, put_mail

from lanmaild.store import Store


def test_transaction_commands(pop_daemon):
    pop = connect(pop_daemon)
    count, octets = pop.stat()
    sizes = [len(make_message(i)) for i in (1, 2, 3)]
    assert (count, octets) == (3, sum(sizes))

    resp, lines, _ = pop.list()
    assert resp.startswith(b"+OK 3 messages")
    assert lines == [f"{i} {s}".encode() for i, s in enumerate(sizes, 1)]
    assert pop.list(2) == f"+OK 2 {sizes[1]}".encode()

    resp, lines, octets = pop.retr(2)
    assert resp == f"+OK {sizes[1]} octets".encode()
    assert b"\r\n".join(lines) + b"\r\n" == make_message(2)

    # TOP n 0: the header and the empty line; TOP n 1: plus one body line
    _, lines, _ = pop.top(1, 0)
    assert lines[-1] == b"" and lines[-2].startswith(b"Content-Type")
    assert b"Hello number 1." not in lines
    _, lines, _ = pop.top(1, 1)
    assert lines[-1] == b"Hello number 1."
    _, lines, _ = pop.top(1, 100)  # more lines than the body has: the whole message
    assert b"\r\n".join(lines) + b"\r\n" == make_message(1)

    resp, uidls, _ = pop.uidl()
    ids = [line.split()[1] for line in uidls]
    assert len(set(ids)) == 3 and all(0x21 <= c <= 0x7E for i in ids for c in i)
    assert pop.uidl(3).split()[2] == ids[2]

    assert pop.noop() == b"+OK"
    assert pop.dele(1).startswith(b"+OK")
    assert pop.stat() == (2, sizes[1] + sizes[2])
    _, lines, _ = pop.list()
    assert [line.split()[0] for line in lines] == [b"2", b"3"]  # numbers stay stable
    _, uidls, _ = pop.uidl()
    assert [line.split()[0] for line in uidls] == [b"2", b"3"]
    for call in (lambda: pop.retr(1), lambda: pop.list(1), lambda: pop.top(1, 0),
                 lambda: pop.uidl(1), lambda: pop.dele(1)):
        with pytest.raises(poplib.error_proto, match="message 1 already deleted"):
            call()
    assert pop.rset().startswith(b"+OK maildrop has 3 messages")
    assert pop.stat()[0] == 3
    assert pop.retr(1)[0].startswith(b"+OK")
    assert pop.quit().startswith(b"+OK")


def test_errors_and_states(pop_daemon):
    raw = Raw(pop_daemon.ports["pop3"])
    assert raw.greeting.startswith(b"+OK ")
    # TRANSACTION commands in AUTHORIZATION state
    for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "RSET", "TOP 1 0", "UIDL", "NOOP"):
        assert raw.cmd(cmd).startswith(b"-ERR"), cmd
    assert raw.cmd("PASS secret") == b"-ERR USER first\r\n"
    assert raw.cmd("XYZZY") == b"-ERR unknown command\r\n"
    assert raw.cmd("") == b"-ERR unknown command\r\n"
    assert raw.cmd("STLS extra").startswith(b"-ERR")
    assert raw.cmd("user meier") == b"+OK send PASS\r\n"  # keywords are case-insensitive
    assert raw.cmd("pass secret").startswith(b"+OK maildrop has 3 messages")
    # AUTHORIZATION commands in TRANSACTION state
    for cmd in ("USER meier", "PASS secret", "AUTH PLAIN", "STLS"):
        assert raw.cmd(cmd).startswith(b"-ERR"), cmd
    bad = {
        "RETR": "-ERR wrong number of arguments", "RETR 0": "-ERR invalid message number",
        "RETR 4": "-ERR no such message: 4", "RETR -1": "-ERR invalid message number",
        "RETR x": "-ERR invalid message number", "RETR 1 2": "-ERR wrong number",
        "RETR 99999999999999": "-ERR invalid message number", "LIST 9": "-ERR no such message",
        "TOP 1": "-ERR wrong number", "TOP 1 -1": "-ERR invalid number of lines",
        "TOP 4 0": "-ERR no such message", "DELE 7": "-ERR no such message",
        "UIDL 0": "-ERR invalid message number", "STAT 1": "-ERR STAT takes no arguments",
        "NOOP x": "-ERR NOOP takes no arguments", "QUIT now": "-ERR QUIT takes no arguments",
    }
    for cmd, reply in bad.items():
        assert raw.cmd(cmd).decode().startswith(reply), cmd
    assert raw.cmd("STAT").startswith(b"+OK 3 ")  # errors change nothing
    assert raw.cmd("QUIT").startswith(b"+OK")
    assert raw.closed()


def test_junk_before_login_closes(pop_daemon):
    raw = Raw(pop_daemon.ports["pop3"])
    raw.send(b"GET / HTTP/1.1\r\n" * 25)
    replies = [raw.readline() for _ in range(21)]
    assert all(r.startswith(b"-ERR") for r in replies)
    assert replies[-1] == b"-ERR too many errors, closing connection\r\n"
    assert raw.closed()


def test_line_too_long_closes(pop_daemon):
    raw = Raw(pop_daemon.ports["pop3"])
    assert raw.cmd("NOOP " + "x" * 1100).startswith(b"-ERR line too long")
    assert raw.closed()
    raw = Raw(pop_daemon.ports["pop3"])  # longer than the stream buffer itself
    raw.send(b"USER " + b"y" * 20000 + b"\r\n")
    assert raw.readline().startswith(b"-ERR line too long")
    assert raw.closed()


def test_pipelining(pop_daemon):
    raw = Raw(pop_daemon.ports["pop3"])
    raw.send(b"CAPA\r\nUSER meier\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 2\r\n"
             b"UIDL 2\r\nNOOP\r\nRSET\r\nQUIT\r\n")
    assert raw.readline().startswith(b"+OK")
    assert b"PIPELINING" in raw.multiline()
    assert raw.readline() == b"+OK send PASS\r\n"
    assert raw.readline().startswith(b"+OK maildrop has 3")
    assert raw.readline().startswith(b"+OK 3 ")
    assert raw.readline().startswith(b"+OK 3 messages")
    assert len(raw.multiline()) == 3
    assert raw.readline().startswith(b"+OK")
    assert raw.multiline()[-1] == b"Second line."
    assert raw.readline() == b"+OK message 2 deleted\r\n"
    assert raw.readline() == b"-ERR message 2 already deleted\r\n"
    assert raw.readline() == b"+OK\r\n"
    assert raw.readline().startswith(b"+OK maildrop has 3")
    assert raw.readline().startswith(b"+OK")
    assert raw.closed()


def test_dot_stuffing_and_large_message(daemon_factory):
    """Lines starting with '.' survive; a multi-megabyte message streams intact."""
    d = daemon_factory(accounts={"meier": {}}, start=False)
    tricky = make_message(1, body=".leading dot\r\n..two dots\r\n.\r\nlast line no CRLF")
    big_body = "".join(f".{i:07d} {'x' * 70}\r\n" for i in range(40000))  # ~3.2 MB
    big = make_message(2, body=big_body)
    empty_body = make_message(3, body="")
    put_mail(d, "meier", [tricky, big, empty_body])
    d.start()
    pop = connect(d)
    _, lines, _ = pop.retr(1)
    assert b"\r\n".join(lines) == tricky  # poplib un-stuffs; the server added the last CRLF
    _, lines, _ = pop.top(1, 2)
    assert lines[-2:] == [b".leading dot", b"..two dots"]
    _, lines, octets = pop.retr(2)
    got = b"\r\n".join(lines) + b"\r\n"
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()
    _, lines, _ = pop.top(2, 3)
    assert lines[-3:] == [f".{i:07d} {'x' * 70}".encode() for i in range(3)]
    _, lines, _ = pop.retr(3)
    assert lines[-1] == b""
    pop.quit()


def test_in_use_lock(pop_daemon):
    first = connect(pop_daemon)
    second = connect(pop_daemon, user=None)
    second.user("meier")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_("secret")
    # still in AUTHORIZATION: another account works on the same connection
    assert second.user("schulze").startswith(b"+OK")
    assert second.pass_("secret").startswith(b"+OK maildrop has 0 messages")
    second.quit()
    first.quit()
    third = connect(pop_daemon)  # the lock went with the first session
    assert third.stat()[0] == 3
    third.quit()


def test_message_removed_by_other_session(pop_daemon):
    """Another session (IMAP EXPUNGE) removes message 2 after our snapshot."""
    pop = connect(pop_daemon)
    assert pop.stat()[0] == 3

    async def expunge_elsewhere() -> None:
        # A second process on the same SQLite store stands in for an IMAP session.
        store = Store(pop_daemon.data)
        try:
            snap = await store.mail.pop3_snapshot("meier")
            assert await store.mail.pop3_update(snap[0], [snap[2][1]], []) == 1
        finally:
            store.close()

    asyncio.run(expunge_elsewhere())
    with pytest.raises(poplib.error_proto, match="removed by another session"):
        pop.retr(2)
    with pytest.raises(poplib.error_proto, match="removed by another session"):
        pop.top(2, 0)
    assert pop.list(2).startswith(b"+OK 2 ")  # the snapshot still lists it
    assert pop.retr(3)[0].startswith(b"+OK")
    pop.dele(2)
    pop.dele(3)
    assert b"1 messages deleted" in pop.quit()
    pop = connect(pop_daemon)
    assert pop.stat()[0] == 1
    pop.quit()
    assert "already removed by another session" in pop_daemon.log()
