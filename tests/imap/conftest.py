"""IMAP test fixtures: one real lanmaild for the whole IMAP suite (started once, ~1 s), a
pool of accounts so every test gets a fresh mailbox, and imaplib clients.

Plain-text log-in is allowed from 127.0.0.1 only; clients that connect from 127.0.0.2
(``strict=True``) see the server as a remote LAN host would: LOGINDISABLED until STARTTLS.
"""

from __future__ import annotations

import imaplib
import itertools

import lmtest as shared
import pytest
from imaphelp import MESSAGE_SIZE, PASSWORD, Client, RawClient
from lmtest import hash_password

POOL = 150


class ImapDaemon(shared.Daemon):
    """``extra`` adds keys to [limits]; plain-text log-in only from 127.0.0.1."""

    def main_toml(self, extra: str = "") -> str:
        listen = "\n".join(f'{name} = ["127.0.0.1:{port}"]'
                           for name, port in self.ports.items())
        return (
            "[server]\n"
            'hostname = "mail.lan.test"\n'
            f'domains = ["{shared.DOMAIN}"]\n'
            f'data_dir = "{self.data}"\n'
            f'control_socket = "{self.socket}"\n'
            'plaintext_auth = ["127.0.0.1/32"]\n'
            f"[listen]\n{listen}\n"
            f'[tls]\ncert = "{self.tls["cert"]}"\nkey = "{self.tls["key"]}"\n'
            f"[limits]\nmessage_size = {MESSAGE_SIZE}\nconnections_per_ip = 200\n"
            "line_length = 8192\nauth_failures_per_ip = 1000\n"
            "auth_failures_per_account = 1000\n"
            f"{extra}"  # more [limits] keys
        )


@pytest.fixture(scope="session")
def imapd(tmp_path_factory, tls_files) -> ImapDaemon:
    d = ImapDaemon(tmp_path_factory.mktemp("imapd"), tls_files)
    hashed = hash_password(PASSWORD)
    for i in range(POOL):
        path = d.conf / "accounts" / f"user{i}.toml"
        path.write_text(f'password = "{hashed}"\n')
        path.chmod(0o600)
    d.start()
    yield d
    d.stop()


_counter = itertools.count()


def new_user() -> str:
    n = next(_counter)
    if n >= POOL:
        pytest.fail("account pool exhausted: raise POOL in tests/imap/conftest.py")
    return f"user{n}"


@pytest.fixture
def user(imapd) -> str:
    """A fresh account (nobody else's test touches its mailbox)."""
    return new_user()


@pytest.fixture(scope="module")
def module_user(imapd) -> str:
    """A fresh account shared by one test module (read-only tests over one data set)."""
    return new_user()


@pytest.fixture
def connect(imapd):
    """``connect(user=None, strict=False)`` -> a logged-in (or not) imaplib client."""
    made: list[imaplib.IMAP4] = []

    def make(user: str | None = None, strict: bool = False) -> Client:
        c = Client("127.0.0.1", imapd.ports["imap"], "127.0.0.2" if strict else None)
        made.append(c)
        if user:
            c.login(user, PASSWORD)
        return c

    yield make
    for c in made:
        try:
            c.logout()
        except Exception:  # noqa: BLE001 - already closed by the test
            pass


@pytest.fixture
def imap(connect, user) -> Client:
    """A client logged in as a fresh account."""
    return connect(user)


@pytest.fixture
def raw(imapd):
    made: list[RawClient] = []

    def make(login: str | None = None, source: str | None = None) -> RawClient:
        c = RawClient(imapd.ports["imap"], source)
        made.append(c)
        if login:
            lines = c.cmd(f"L0 LOGIN {login} {PASSWORD}")
            assert lines[-1].startswith(b"L0 OK"), lines
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="module")
def imapd_factory(tmp_path_factory, tls_files):
    """Extra daemons with other limits: ``imapd_factory("imap_autologout = 2\\n")``;
    each has the account ``sam``."""
    made: list[ImapDaemon] = []

    def make(limits: str = "") -> ImapDaemon:
        d = ImapDaemon(tmp_path_factory.mktemp("imapd-extra"), tls_files, limits)
        path = d.conf / "accounts" / "sam.toml"
        path.write_text(f'password = "{hash_password(PASSWORD)}"\n')
        path.chmod(0o600)
        made.append(d)
        d.start()
        return d

    yield make
    for d in made:
        d.stop()
