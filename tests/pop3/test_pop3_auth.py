"""CAPA, STLS, implicit TLS (pop3s), AUTH PLAIN/LOGIN, clear-text policy, throttling."""

from __future__ import annotations

import base64
import poplib
import socket
import ssl

import pytest
from pop3_helpers import Raw, client_context, connect

BASE_CAPS = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_capa_stls_and_pop3s(pop_daemon, tls_files):
    pop = connect(pop_daemon, user=None)
    caps = pop.capa()
    assert BASE_CAPS | {"USER", "SASL", "STLS", "IMPLEMENTATION"} <= set(caps)
    assert caps["SASL"] == ["PLAIN", "LOGIN"] and caps["EXPIRE"] == ["NEVER"]
    assert "LOGIN-DELAY" not in caps and "APOP" not in caps
    assert pop.stls(client_context(tls_files)).startswith(b"+OK")
    caps = pop.capa()
    assert "STLS" not in caps and {"USER", "SASL"} <= set(caps)
    with pytest.raises(poplib.error_proto, match="TLS is already active"):
        pop._shortcmd("STLS")
    pop.user("meier")
    pop.pass_("secret")
    caps = pop.capa()  # after log-in: no log-in capabilities
    assert set(caps) >= BASE_CAPS and not {"USER", "SASL", "STLS"} & set(caps)
    assert pop.stat()[0] == 3
    pop.quit()

    pop = connect(pop_daemon, user=None, tls="implicit", tls_files=tls_files)
    caps = pop.capa()
    assert "STLS" not in caps and {"USER", "SASL"} <= set(caps)
    pop.user("meier@lan.test")  # the full address works as the user name too
    assert pop.pass_("secret").startswith(b"+OK maildrop has 3 messages")
    assert pop.retr(1)[0].startswith(b"+OK")
    pop.quit()
    assert "login meier via USER/PASS (tls)" in pop_daemon.log()


def test_stls_discards_pipelined_commands(pop_daemon, tls_files):
    raw = Raw(pop_daemon.ports["pop3"])
    raw.send(b"STLS\r\nCAPA\r\n")  # CAPA sent in clear after STLS must be ignored
    assert raw.readline() == b"+OK Begin TLS negotiation\r\n"
    tls = client_context(tls_files).wrap_socket(raw.sock, server_hostname="localhost")
    f = tls.makefile("rb")
    tls.sendall(b"USER meier\r\n")
    assert f.readline() == b"+OK send PASS\r\n"
    tls.sendall(b"PASS secret\r\n")
    assert f.readline().startswith(b"+OK maildrop has 3")
    tls.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"+OK")


def test_clear_text_login_refused_without_tls(daemon_factory, tls_files):
    d = daemon_factory(accounts={"meier": {}}, extra_toml="plaintext_auth = []")
    raw = Raw(d.ports["pop3"])
    assert raw.cmd("CAPA").startswith(b"+OK")
    caps = raw.multiline()
    assert b"STLS" in caps and b"USER" not in caps and not any(c.startswith(b"SASL")
                                                                 for c in caps)
    assert raw.cmd("USER meier") == \
        b"-ERR [AUTH] clear-text log-in not allowed here: use STLS first\r\n"
    assert raw.cmd("AUTH PLAIN " + b64(b"\0meier\0secret")).startswith(b"-ERR [AUTH]")
    assert raw.cmd("AUTH LOGIN").startswith(b"-ERR [AUTH]")
    raw.close()
    assert "auth ok" not in d.log() and "auth failed" not in d.log()

    pop = connect(d, tls="stls", tls_files=tls_files)  # after STLS the same login works
    assert pop.stat() == (0, 0)
    pop.quit()
    pop = connect(d, tls="implicit", tls_files=tls_files)
    pop.quit()


def test_auth_plain_and_login(pop_daemon):
    def session() -> Raw:
        return Raw(pop_daemon.ports["pop3"])

    raw = session()
    assert raw.cmd("AUTH") == b"+OK mechanisms follow\r\n"
    assert raw.multiline() == [b"PLAIN", b"LOGIN"]
    assert raw.cmd("AUTH CRAM-MD5").startswith(b"-ERR unsupported mechanism")
    assert raw.cmd("AUTH PLAIN !!notbase64").startswith(b"-ERR malformed SASL response")
    assert raw.cmd("AUTH PLAIN " + b64(b"just-one-part")).startswith(b"-ERR malformed")
    assert raw.cmd("AUTH PLAIN") == b"+ \r\n"  # no initial response: empty challenge
    assert raw.cmd("*") == b"-ERR authentication cancelled\r\n"
    assert raw.cmd("AUTH LOGIN") == b"+ " + base64.b64encode(b"Username:") + b"\r\n"
    assert raw.cmd("*") == b"-ERR authentication cancelled\r\n"
    # initial response (RFC 5034 / SASL-IR style)
    assert raw.cmd("AUTH PLAIN " + b64(b"\0meier\0secret")).startswith(b"+OK maildrop has 3")
    assert raw.cmd("QUIT").startswith(b"+OK")

    raw = session()
    assert raw.cmd("auth plain") == b"+ \r\n"
    assert raw.cmd(b64(b"meier\0meier\0secret")).startswith(b"+OK maildrop has 3")
    assert raw.cmd("QUIT").startswith(b"+OK")

    raw = session()
    assert raw.cmd("AUTH LOGIN " + b64(b"meier")) == \
        b"+ " + base64.b64encode(b"Password:") + b"\r\n"
    assert raw.cmd(b64(b"secret")).startswith(b"+OK maildrop has 3")
    assert raw.cmd("QUIT").startswith(b"+OK")

    raw = session()
    assert raw.cmd("AUTH LOGIN").startswith(b"+ ")
    assert raw.cmd(b64(b"meier@lan.test")).startswith(b"+ ")
    assert raw.cmd(b64(b"wrong")) == b"-ERR [AUTH] authentication failed\r\n"
    assert raw.cmd("AUTH PLAIN =").startswith(b"-ERR malformed")  # "=" is an empty response
    assert raw.cmd("AUTH PLAIN " + b64(b"\0meier\0secret")).startswith(b"+OK")
    assert raw.cmd("QUIT").startswith(b"+OK")
    log = pop_daemon.log()
    assert "login meier via AUTH PLAIN" in log and "login meier via AUTH LOGIN" in log
    assert "auth failed: service=pop3 ip=127.0.0.1 user=meier@lan.test" in log


def test_failed_logins_are_throttled(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, limits_toml="auth_failures_per_ip = 1")
    pop = connect(d, user=None)
    pop.user("meier")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] authentication failed"):
        pop.pass_("wrong")
    pop.user("meier")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.pass_("secret")  # right password, but this IP is blocked for now
    pop.close()
    log = d.log()
    assert "auth failed: service=pop3 ip=127.0.0.1 user=meier session=" in log
    assert "auth blocked: service=pop3 ip=127.0.0.1 user=meier" in log


def test_pop3s_is_tls_only(pop_daemon):
    with socket.create_connection(("127.0.0.1", pop_daemon.ports["pop3s"]), timeout=5) as s:
        s.sendall(b"USER meier\r\n")  # not a TLS ClientHello
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith((b"+OK", b"-ERR"))
    ctx = ssl.create_default_context()  # without our CA the certificate is not trusted
    with pytest.raises(ssl.SSLCertVerificationError):
        poplib.POP3_SSL("localhost", pop_daemon.ports["pop3s"], timeout=5, context=ctx)
