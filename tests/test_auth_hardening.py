"""Log-in throttling and password hashes (hardening issue, items 5 and 13), through the
real protocols: failures from one client never lock an account for everybody, the tables
stay bounded, weak stored hashes are refused and old ones are upgraded at log-in."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import time

from lmtest import hash_password

from lanmaild.auth.passwords import LOG2_N, _b64, _scrypt
from lanmaild.auth.throttle import FailureTable

FAST = "auth_failure_delay_ms = 10"


class _Imap(imaplib.IMAP4):
    def __init__(self, port: int, source: str) -> None:
        self._source = source
        super().__init__("127.0.0.1", port, timeout=30)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


def _imap_login(d, password: str, source: str = "127.0.0.1") -> bool:
    client = _Imap(d.ports["imap"], source)
    try:
        client.login("meier", password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def _submission_login(d, password: str) -> bool:
    with smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=30) as s:
        s.ehlo()
        try:
            s.login("meier", password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def _hash_with(password: str, log2_n: int) -> str:
    salt = b"0123456789abcdef"
    return f"$scrypt$ln={log2_n},r=8,p=1${_b64(salt)}${_b64(_scrypt(password, salt, log2_n, 8, 1))}"


def test_failures_from_one_client_do_not_lock_out_the_account(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, limits_toml=FAST)
    for _ in range(12):  # more than auth_failures_per_account (10) and per_ip (10)
        assert not _imap_login(d, "wrong", source="127.0.0.7")
    assert not _imap_login(d, "secret", source="127.0.0.7")  # that client is refused now
    assert _imap_login(d, "secret")  # the owner, from elsewhere, still gets in
    assert _submission_login(d, "secret")
    log = d.log()
    assert "auth blocked: service=imap ip=127.0.0.7 user=meier" in log
    assert "auth blocked: service=imap ip=127.0.0.1" not in log


def test_failure_delay_is_the_setting_and_grows(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, limits_toml="auth_failure_delay_ms = 200")
    client = _Imap(d.ports["imap"], "127.0.0.9")
    times = []
    for _ in range(3):
        started = time.monotonic()
        try:
            client.login("meier", "wrong")
        except imaplib.IMAP4.error:
            pass
        times.append(time.monotonic() - started)
    client.logout()
    assert 0.18 < times[0] < 0.6 and times[2] > 0.55, times  # 200 ms, then 400, 600


def test_made_up_user_names_keep_the_tables_bounded() -> None:
    table = FailureTable(max_keys=100)
    for i in range(10_000):
        table.add(("x" * 300 + str(i), "192.0.2.1"), now=float(i), window=1e9)
    assert len(table) == 100
    table.add("late", now=2e9 + 1, window=10)  # everything else left the window
    assert len(table) == 1


def test_a_weak_stored_hash_is_refused(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, limits_toml=FAST, start=False)
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(f'password = "{_hash_with("secret", 4)}"\n')
    d.start()
    assert not _imap_login(d, "secret")
    assert "stored password hash of account meier is too weak" in d.log()


def test_an_old_hash_is_upgraded_at_the_next_login(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, limits_toml=FAST, start=False)
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(f'# my note\npassword = "{_hash_with("secret", 13)}"\n')
    d.start()
    assert _imap_login(d, "secret")
    deadline = time.monotonic() + 10
    while f"$scrypt$ln={LOG2_N}," not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = path.read_text()
    assert f"$scrypt$ln={LOG2_N},r=8,p=1$" in text and "# my note" in text, text
    assert path.stat().st_mode & 0o777 == 0o600
    assert _imap_login(d, "secret")  # the new hash works (after the reload)
    assert not _imap_login(d, "wrong")


def test_success_cache_is_keyed_by_a_keyed_hash_not_the_password() -> None:
    import asyncio
    from types import SimpleNamespace

    from lanmaild.auth.authenticator import Authenticator

    password = "Zq7-unique-Pa55word-42"
    account = SimpleNamespace(key="meier", name="meier", password=hash_password(password))

    async def go() -> Authenticator:
        auth = Authenticator(SimpleNamespace())
        assert await auth._check(account, password)
        assert await auth._check(account, password)  # answered from the cache
        assert not await auth._check(account, "wrong")
        return auth

    auth = asyncio.run(go())
    assert len(auth._verified) == 1
    assert password not in repr(auth._verified) and \
        password.encode() not in b"".join(k[1] for k in auth._verified)
