"""SMTP against hostile and unlucky clients (hardening issue: items 2, 3, 16, 17, 18)."""

from __future__ import annotations

import socket
import ssl
import time

import pytest
from loopprobe import LoopProbe, connect_from
from smtp_testlib import RawSMTP, module_daemon, wait_delivered

ACCOUNTS = {"meier": {}}
BIG = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def d(tmp_path_factory, tls_files):
    daemon = module_daemon(tmp_path_factory, tls_files, ACCOUNTS)
    yield daemon
    daemon.stop()


def _tls_client(tls_files) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files["ca"]))


def _hwm_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


# ------------------------------------------------------------------ 3: DATA streams


def test_huge_message_of_tiny_lines_streams_in_bounded_memory(daemon_factory) -> None:
    """24 MB of 2-byte lines: the old reader split the whole message into 8 million
    line objects on the loop (a 2 s stall for 50 MB and 17x the message in memory)."""
    d = daemon_factory(accounts={"meier": {}}, limits_toml=f"message_size = {BIG}")
    body = b"Subject: tiny lines\r\n\r\n" + b"a\r\n" * (8 * 1024 * 1024)
    before = _hwm_kb(d.proc.pid)
    with LoopProbe(d) as probe:
        s = RawSMTP(d)
        s.cmd("EHLO client.test")
        assert s.cmd("MAIL FROM:<a@ext.test>").startswith("250")
        assert s.cmd("RCPT TO:<meier@lan.test>").startswith("250")
        assert s.cmd("DATA").startswith("354")
        reply = s.send_raw(body + b".\r\n")
        s.close()
    assert reply.startswith("250 2.0.0"), reply
    probe.check()
    grown_mb = (_hwm_kb(d.proc.pid) - before) / 1024
    assert grown_mb < 8 * len(body) / 2**20, f"peak memory grew by {grown_mb:.0f} MB"


def test_long_line_still_refused_after_streaming(d) -> None:
    s = RawSMTP(d)
    s.cmd("EHLO client.test")
    s.cmd("MAIL FROM:<a@ext.test>")
    s.cmd("RCPT TO:<meier@lan.test>")
    s.cmd("DATA")
    reply = s.send_raw(b"Subject: x\r\n\r\n" + b"a\r\n" * 50000 + b"b" * 1200 + b"\r\n.\r\n")
    assert reply.startswith("500 5.5.2 Line too long"), reply
    assert s.cmd("NOOP").startswith("250")  # the session goes on
    s.close()


# ------------------------------------------------------------------ 16: STARTTLS twice


def test_second_starttls_is_refused_and_the_session_goes_on(d, tls_files) -> None:
    s = RawSMTP(d)
    s.cmd("EHLO client.test")
    assert s.cmd("STARTTLS").startswith("220")
    s.sock = _tls_client(tls_files).wrap_socket(s.sock, server_hostname="localhost")
    s.buf = b""
    s.cmd("EHLO client.test")
    assert s.cmd("STARTTLS") == "554 5.5.1 TLS already active"
    assert s.cmd("EHLO again.test").startswith("250")
    assert s.cmd("MAIL FROM:<a@ext.test>").startswith("250")
    s.close()


def test_starttls_on_smtps_is_refused(d, tls_files) -> None:
    raw = socket.create_connection(("127.0.0.1", d.ports["smtps"]), 10)
    sock = _tls_client(tls_files).wrap_socket(raw, server_hostname="localhost")
    f = sock.makefile("rb")
    assert f.readline().startswith(b"220")
    sock.sendall(b"EHLO client.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    sock.sendall(b"STARTTLS\r\n")
    assert f.readline() == b"554 5.5.1 TLS already active\r\n"
    sock.sendall(b"NOOP\r\n")
    assert f.readline().startswith(b"250")
    sock.close()


# ------------------------------------------------------------------ 17: broken handshakes


def test_garbage_after_starttls_is_one_info_line(d) -> None:
    size = len(d.log())
    s = RawSMTP(d)
    s.cmd("EHLO client.test")
    assert s.cmd("STARTTLS").startswith("220")
    s.sock.sendall(b"this is not a TLS client hello\r\n" * 4)
    s.sock.settimeout(5)
    try:
        data = s.sock.recv(4096)
    except (ConnectionError, TimeoutError):
        data = b""
    assert b"451" not in data  # nothing written into the broken TLS layer
    s.sock.close()
    deadline = time.monotonic() + 5
    while "TLS handshake failed" not in d.log()[size:] and time.monotonic() < deadline:
        time.sleep(0.05)
    log = d.log()[size:]
    lines = [line for line in log.splitlines() if "TLS handshake failed" in line]
    assert len(lines) == 1 and " INFO " in lines[0], log
    assert "Traceback" not in log and " ERROR " not in log, log


# ------------------------------------------------------------------ 18: arguments, junk


@pytest.mark.parametrize("line", [b"MAIL FROM:<a\x00b@ext.test>", b"HELO evil\x1b[2J.test",
                                  b"EHLO a\x07.test", b"VRFY meier\x7f",
                                  b"RCPT TO:<meier@lan.test>\x01"])
def test_control_characters_in_arguments_are_refused(d, line) -> None:
    s = RawSMTP(d)
    s.cmd("EHLO client.test")
    if line.startswith(b"RCPT"):
        s.cmd("MAIL FROM:<a@ext.test>")
    assert s.cmd(line).startswith("501 5.5.4"), line
    assert s.cmd("NOOP").startswith("250")
    s.close()


def test_junk_command_limit_closes_with_421(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, limits_toml="smtp_junk_commands = 10")
    s = RawSMTP(d)
    s.cmd("EHLO client.test")
    for cmd in ["NOOP", "RSET", "VRFY meier", "HELP", "NOOP"] * 2:
        assert s.cmd(cmd)[:1] in ("2", "5"), cmd
    # a delivered message resets the count (Postfix: after mail is delivered)
    s.cmd("MAIL FROM:<a@ext.test>")
    s.cmd("RCPT TO:<meier@lan.test>")
    s.cmd("DATA")
    assert s.send_raw(b"Subject: x\r\n\r\nhi\r\n.\r\n").startswith("250")
    for _ in range(10):
        assert s.cmd("NOOP").startswith("250")
    reply = s.cmd("NOOP")
    assert reply.startswith("421 4.7.0"), reply
    s.sock.settimeout(5)
    assert s.sock.recv(100) == b""  # closed
    wait_delivered(d)


# ------------------------------------------------------------------ 2: before login


def test_idle_client_before_mail_or_auth_is_closed_after_prelogin_timeout(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, limits_toml="prelogin_timeout = 1")
    idle = connect_from(d.ports["smtp"], "127.0.0.5", timeout=10)
    f = idle.makefile("rb")
    assert f.readline().startswith(b"220")
    idle.sendall(b"EHLO client.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    started = time.monotonic()
    assert f.readline().startswith(b"421 4.4.2")  # RFC 5321 4.5.3.2: say why
    assert f.readline() == b""
    assert time.monotonic() - started < 5
    # A client in a mail transaction has the normal timeout.
    busy = RawSMTP(d)
    busy.cmd("EHLO client.test")
    assert busy.cmd("MAIL FROM:<a@ext.test>").startswith("250")
    time.sleep(1.5)
    assert busy.cmd("RCPT TO:<meier@lan.test>").startswith("250")
    busy.close()
