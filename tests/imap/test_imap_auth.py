"""Any-state and log-in commands: CAPABILITY, NOOP, LOGOUT, LOGIN, AUTHENTICATE, STARTTLS,
implicit TLS, ID, ENABLE, and state/syntax errors."""

from __future__ import annotations

import base64
import imaplib
import ssl

import pytest
from imaphelp import PASSWORD, tls_client


def caps(client) -> set[str]:
    typ, data = client.capability()
    assert typ == "OK"
    return set(data[0].decode().split())


def test_capability_before_and_after_login(connect, user):
    c = connect()
    before = caps(c)
    assert {"IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "NAMESPACE", "ID",
            "UNSELECT", "ENABLE", "SASL-IR", "CHILDREN", "LITERAL+", "STARTTLS",
            "AUTH=PLAIN", "AUTH=LOGIN", "CONDSTORE", "QRESYNC"} <= before
    assert "LOGINDISABLED" not in before
    # Only what is implemented.
    assert not before & {"COMPRESS=DEFLATE", "UTF8=ACCEPT", "QUOTA", "BINARY", "ESEARCH"}
    c.login(user, PASSWORD)
    after = caps(c)
    assert "STARTTLS" not in after and not any(x.startswith("AUTH=") for x in after)
    assert "IMAP4rev1" in after


def test_greeting_carries_capabilities(raw):
    c = raw()
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")


def test_login_failure_and_noop_logout(connect, user):
    c = connect()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login(user, "wrong")
    typ, data = c.login(user, PASSWORD)
    assert typ == "OK" and b"CAPABILITY" in data[0]
    assert c.noop()[0] == "OK"
    typ, data = c.logout()
    assert typ == "BYE"


def test_login_with_domain_and_literals(raw, user):
    c = raw()
    c.send(f"a1 LOGIN {{{len(user) + 9}}}\r\n".encode())
    assert c.line().startswith(b"+ ")
    c.send(f"{user}@lan.test {{{len(PASSWORD)}+}}\r\n{PASSWORD}\r\n".encode())
    assert c.until_tagged(b"a1")[-1].startswith(b"a1 OK")


def test_wrong_state_and_unknown_commands(raw, user):
    c = raw()
    assert c.cmd("a1 SELECT INBOX")[-1].startswith(b"a1 BAD")
    assert c.cmd("a2 FETCH 1 FLAGS")[-1].startswith(b"a2 BAD")
    assert c.cmd("a3 XYZZY")[-1].startswith(b"a3 BAD")
    assert c.cmd("a4 NOOP junk")[-1].startswith(b"a4 BAD")
    c.send(b"+bad\r\n")
    assert c.line().startswith(b"* BAD")
    assert c.cmd(f"a5 LOGIN {user} {PASSWORD}")[-1].startswith(b"a5 OK")
    assert c.cmd(f"a6 LOGIN {user} {PASSWORD}")[-1].startswith(b"a6 BAD")
    assert c.cmd("a7 FETCH 1 FLAGS")[-1].startswith(b"a7 BAD")  # not selected
    assert c.cmd("a8 STARTTLS")[-1].startswith(b"a8 BAD")
    assert c.cmd("a9 CLOSE")[-1].startswith(b"a9 BAD")


def test_authenticate_plain_with_initial_response(raw, user):
    c = raw()
    token = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
    lines = c.cmd(f"a1 AUTHENTICATE PLAIN {token}")
    assert lines[-1].startswith(b"a1 OK [CAPABILITY")


def test_authenticate_plain_and_login_with_challenges(raw, user):
    c = raw()
    c.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(base64.b64encode(f"\0{user}\0wrong".encode()) + b"\r\n")
    assert c.until_tagged(b"a1")[-1].startswith(b"a1 NO [AUTHENTICATIONFAILED]")
    c.send(b"a2 AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"*\r\n")
    assert c.until_tagged(b"a2")[-1].startswith(b"a2 BAD")
    c.send(b"a3 AUTHENTICATE LOGIN\r\n")
    assert base64.b64decode(c.line()[2:]) == b"Username:"
    c.send(base64.b64encode(user.encode()) + b"\r\n")
    assert base64.b64decode(c.line()[2:]) == b"Password:"
    c.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
    assert c.until_tagged(b"a3")[-1].startswith(b"a3 OK")


def test_authenticate_unknown_mechanism_and_bad_base64(raw):
    c = raw()
    assert c.cmd("a1 AUTHENTICATE CRAM-MD5")[-1].startswith(b"a1 NO")
    assert c.cmd("a2 AUTHENTICATE PLAIN !!!")[-1].startswith(b"a2 BAD")


def test_imaplib_authenticate(connect, user):
    c = connect()
    typ, _ = c.authenticate("PLAIN", lambda _: f"\0{user}\0{PASSWORD}".encode())
    assert typ == "OK"
    assert c.select("INBOX")[0] == "OK"


def test_logindisabled_until_starttls(connect, user, tls_files):
    c = connect(strict=True)  # from 127.0.0.2: plaintext not allowed
    before = caps(c)
    assert "LOGINDISABLED" in before and "STARTTLS" in before
    assert not any(x.startswith("AUTH=") for x in before)
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        c.login(user, PASSWORD)
    ctx = ssl.create_default_context(cafile=str(tls_files["ca"]))
    c.starttls(ctx)
    after = caps(c)
    assert "LOGINDISABLED" not in after and "STARTTLS" not in after
    assert {"AUTH=PLAIN", "AUTH=LOGIN"} <= after
    assert c.login(user, PASSWORD)[0] == "OK"
    assert c.select("INBOX")[0] == "OK"


def test_implicit_tls(imapd, user, tls_files):
    c = tls_client(imapd, tls_files)
    try:
        assert "STARTTLS" not in caps(c)
        assert c.login(user, PASSWORD)[0] == "OK"
        assert c.list()[0] == "OK"
    finally:
        c.logout()


def test_starttls_drops_pipelined_commands(raw, tls_files):
    c = raw(source="127.0.0.2")
    c.send(b"a1 STARTTLS\r\na2 NOOP\r\n")
    assert c.line().startswith(b"a1 OK")
    ctx = ssl.create_default_context(cafile=str(tls_files["ca"]))
    tls = ctx.wrap_socket(c.sock, server_hostname="localhost")
    tls.sendall(b"a3 NOOP\r\n")
    data = b""
    while b"a3 " not in data:
        data += tls.recv(4096)
    assert b"a2" not in data
    tls.close()


def test_id_and_enable(connect, user, raw):
    c = raw()
    lines = c.cmd('a1 ID ("name" "pytest" "version" "1")')
    assert lines[0].startswith(b'* ID ("name" "lanmaild"')
    assert c.cmd("a2 ID NIL")[-1].startswith(b"a2 OK")
    assert c.cmd("a3 ENABLE CONDSTORE")[-1].startswith(b"a3 BAD")  # not authenticated
    c.cmd(f"a4 LOGIN {user} {PASSWORD}")
    lines = c.cmd("a5 ENABLE X-UNKNOWN CONDSTORE")
    assert lines[0] == b"* ENABLED CONDSTORE" and lines[-1].startswith(b"a5 OK")
    assert c.cmd("a6 ENABLE CONDSTORE")[0] == b"* ENABLED"  # already on


@pytest.mark.parametrize("size", [9000, 70000])  # over line_length; over the stream buffer
def test_line_too_long_closes(raw, size):
    c = raw()
    c.send(b"a1 NOOP " + b"x" * size + b"\r\n")
    assert c.line().startswith(b"* BYE")
    assert c.closed()
