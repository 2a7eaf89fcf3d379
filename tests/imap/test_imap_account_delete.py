"""Deleting an account ends its IMAP sessions, and no IMAP command brings it back.

Before, a session with no folder selected lived on after ``account.delete``; its CREATE
made the account again in the store (with its default folders), and an account added
later under the same name saw what that session APPENDed there.
"""

from __future__ import annotations

import asyncio
import time

from imaphelp import RawClient, message

from lanmaild.store import Store


def login(daemon, user: str = "meier") -> RawClient:
    c = RawClient(daemon.ports["imap"])
    assert c.cmd(f"a1 LOGIN {user} secret")[-1].startswith(b"a1 OK")
    return c


def store_folders(daemon, account: str) -> list[str]:
    """The account's folders as the store has them (a second process on the store)."""

    async def read() -> list[str]:
        store = Store(daemon.data)
        try:
            return [f.name for f in await store.mail.list_folders(account)]
        finally:
            store.close()

    return asyncio.run(read())


def drop_from_store(daemon, account: str) -> None:
    """What account.delete does first (the mail goes before the file and the reload)."""

    async def drop() -> None:
        store = Store(daemon.data)
        try:
            assert await store.mail.delete_account(account)
        finally:
            store.close()

    asyncio.run(drop())


def test_account_delete_ends_its_sessions(daemon):
    authenticated = login(daemon)  # nothing selected
    selected = login(daemon)
    assert selected.cmd("a2 SELECT INBOX")[-1].startswith(b"a2 OK")
    idler = login(daemon)
    assert idler.cmd("a2 SELECT INBOX")[-1].startswith(b"a2 OK")
    idler.send(b"a3 IDLE\r\n")
    assert idler.line().startswith(b"+ ")
    other = login(daemon, "schulze")  # another account's session is not touched
    reply = daemon.api("account.delete", name="meier", yes=True)
    assert reply["ok"], reply
    started = time.monotonic()
    for c in (authenticated, selected, idler):
        assert c.line() == b"* BYE [CONTACTADMIN] account deleted"
        assert c.closed()
    assert time.monotonic() - started < 3  # at once, not at the next command
    assert other.cmd("b1 NOOP")[-1].startswith(b"b1 OK")
    assert store_folders(daemon, "meier") == []
    # An account added later under the same name starts empty.
    reply = daemon.api("account.add", name="meier", password="secret")
    assert reply["ok"], reply
    fresh = login(daemon)
    lines = fresh.cmd('c1 LIST "" "*"')
    names = sorted(line.rsplit(b" ", 1)[1].strip(b'"').decode() for line in lines[:-1])
    assert names == ["INBOX", "INBOX.Drafts", "INBOX.Junk", "INBOX.SENT", "INBOX.Trash"]
    assert "closing: account deleted" in daemon.log()


def test_reload_after_hand_delete_ends_sessions(daemon):
    c = login(daemon)
    (daemon.conf / "accounts" / "meier.toml").unlink()
    assert daemon.api("reload")["ok"]
    assert c.line() == b"* BYE [CONTACTADMIN] account deleted"
    assert c.closed()
    other = RawClient(daemon.ports["imap"])
    assert other.cmd("a1 LOGIN meier secret")[-1].startswith(b"a1 NO")


def test_commands_of_a_gone_account_do_not_recreate_it(daemon):
    """In the moment between the store delete and the reload, a session's CREATE, RENAME
    or APPEND gets BYE (or NO: APPEND finds no folder) and the store stays without the
    account."""
    msg = message().decode()
    for verb in ("CREATE INBOX.Again", "RENAME INBOX.Junk INBOX.Spam",
                 f"APPEND INBOX {{{len(msg)}+}}\r\n{msg}"):
        c = login(daemon)
        drop_from_store(daemon, "meier")
        c.send(f"a2 {verb}\r\n".encode())
        line = c.line()
        if verb.startswith("APPEND"):
            assert line.startswith(b"a2 NO"), line
        else:
            assert line == b"* BYE [CONTACTADMIN] account deleted", (verb, line)
            assert c.closed()
        assert store_folders(daemon, "meier") == [], verb
        assert daemon.api("reload")["ok"]  # sync_accounts makes it again, empty
        assert "INBOX" in store_folders(daemon, "meier")
    assert "Traceback" not in daemon.log()
