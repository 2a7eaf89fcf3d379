"""POP3 hardening: the pre-login timeout, STLS inside TLS, broken TLS handshakes, and
sessions of an account that is deleted."""

from __future__ import annotations

import socket
import time

from pop3_helpers import Raw, connect, inbox_uids, make_message, put_mail


def test_prelogin_timeout(daemon_factory):
    """Before log-in ``prelogin_timeout`` applies; after it ``pop3_autologout``."""
    d = daemon_factory(accounts={"meier": {}},
                       limits_toml="prelogin_timeout = 1\npop3_autologout = 30")
    t0 = time.monotonic()
    idle = Raw(d.ports["pop3"])
    assert idle.closed()
    assert 0.5 < time.monotonic() - t0 < 5
    half = Raw(d.ports["pop3"])  # USER given, PASS not yet: still not logged in
    assert half.cmd("USER meier").startswith(b"+OK")
    assert half.closed()
    pop = connect(d)
    time.sleep(1.5)
    assert pop.noop().startswith(b"+OK")
    pop.quit()
    assert "autologout after 1 s idle (AUTHORIZATION state, nothing deleted)" in d.log()


def test_stls_inside_tls_is_refused_and_session_stays_usable(pop_daemon, tls_files):
    """RFC 2595 4: STLS only without TLS; inside STLS and on pop3s it is -ERR."""
    pop = connect(pop_daemon, user=None, tls="stls", tls_files=tls_files)
    reply = _raw_cmd(pop, "STLS")
    assert reply.startswith(b"-ERR"), reply
    pop.user("meier")
    assert pop.pass_("secret").startswith(b"+OK maildrop has 3")
    assert pop.stat()[0] == 3
    pop.quit()

    pop = connect(pop_daemon, user=None, tls="implicit", tls_files=tls_files)
    reply = _raw_cmd(pop, "STLS")
    assert reply.startswith(b"-ERR"), reply
    assert "STLS" not in pop.capa()
    pop.user("meier")
    assert pop.pass_("secret").startswith(b"+OK")
    pop.quit()


def _raw_cmd(pop, line: str) -> bytes:
    """One command through poplib's socket, the reply line as it came (no exception)."""
    pop._putcmd(line)
    return pop._getline()[0]


def test_broken_tls_handshakes_log_one_info_line(pop_daemon, tls_files):
    before = len(pop_daemon.log())
    raw = Raw(pop_daemon.ports["pop3"])
    assert raw.cmd("STLS").startswith(b"+OK")
    raw.send(b"this is not a TLS ClientHello\r\n" * 4)
    assert raw.closed()
    with socket.create_connection(("127.0.0.1", pop_daemon.ports["pop3s"]), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x00\x05garbage garbage\r\n")
        try:
            while s.recv(4096):
                pass
        except ConnectionError:
            pass
    pop = connect(pop_daemon)  # the server is fine
    pop.quit()
    log = pop_daemon.log()[before:]
    assert "Traceback" not in log and " ERROR " not in log, log
    failed = [line for line in log.splitlines() if "tls" in line.lower() and "fail" in line]
    assert len(failed) == 1 and " INFO " in failed[0], log


def test_account_delete_ends_pop3_session_without_applying_dele(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "keeper": {}}, start=False)
    put_mail(d, "keeper", [make_message(1), make_message(2)])
    put_mail(d, "meier", [make_message(3)])
    d.start()
    doomed = Raw(d.ports["pop3"])
    doomed.cmd("USER meier")
    assert doomed.cmd("PASS secret").startswith(b"+OK")
    assert doomed.cmd("DELE 1").startswith(b"+OK")
    other = Raw(d.ports["pop3"])  # another account's session is not touched
    other.cmd("USER keeper")
    assert other.cmd("PASS secret").startswith(b"+OK")
    assert other.cmd("DELE 1").startswith(b"+OK")
    reply = d.api("account.delete", name="meier", yes=True)
    assert reply["ok"], reply
    t0 = time.monotonic()
    assert doomed.closed()  # at once, not at the autologout
    assert time.monotonic() - t0 < 3
    assert other.cmd("QUIT").startswith(b"+OK")
    assert inbox_uids(d, "keeper") == [2]
    assert "account deleted" in d.log()


def test_reload_after_hand_delete_ends_pop3_session(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    put_mail(d, "meier", [make_message(1), make_message(2)])
    d.start()
    doomed = Raw(d.ports["pop3"])
    doomed.cmd("USER meier")
    assert doomed.cmd("PASS secret").startswith(b"+OK")
    assert doomed.cmd("DELE 1").startswith(b"+OK")
    (d.conf / "accounts" / "meier.toml").unlink()
    assert d.api("reload")["ok"]
    assert doomed.closed()
    assert inbox_uids(d) == [1, 2]  # the DELE was not applied
