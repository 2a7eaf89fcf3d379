"""XOAUTH2 and OAUTHBEARER (RFC 7628) in IMAP AUTHENTICATE, SMTP AUTH and POP3 AUTH with
tokens from the running OAuth2 server: the scope decides the protocol; wrong, revoked and
outdated tokens get the JSON error challenge and then the protocol's failure."""

from __future__ import annotations

import base64
import imaplib
import json
import poplib
import smtplib

import pytest
from oauth_testlib import add_client, get_tokens, oauthbearer, xoauth2


@pytest.fixture
def ca(tls_files) -> str:
    return str(tls_files["ca"])


def imap_auth(d, mech: str, payload: bytes) -> tuple[str, list]:
    """(result, challenges seen); a refused token's challenge is answered as the RFC says."""
    seen = []

    def respond(challenge: bytes) -> bytes:
        if seen or challenge:
            seen.append(challenge)
            return b"\x01" if mech == "OAUTHBEARER" else b""
        seen.append(challenge)
        return payload

    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    try:
        typ, _ = m.authenticate(mech, respond)
        ok = typ
        if typ == "OK":
            assert m.select("INBOX")[0] == "OK"
    except imaplib.IMAP4.error:
        ok = "NO"
    finally:
        m.shutdown()
    return ok, [c for c in seen if c]


def smtp_auth(d, mech: str, payload: bytes) -> int:
    with smtplib.SMTP("127.0.0.1", d.ports["submission"]) as s:
        s.ehlo("client.test")
        code, _ = s.docmd("AUTH", f"{mech} {base64.b64encode(payload).decode()}")
        if code == 334:  # the error challenge: answer with an empty line
            code, _ = s.docmd("")
        return code


def pop3_auth(d, payload: bytes) -> bytes:
    p = poplib.POP3("127.0.0.1", d.ports["pop3"])
    try:
        return p._shortcmd("AUTH XOAUTH2 " + base64.b64encode(payload).decode())
    except poplib.error_proto as exc:
        if str(exc).startswith("b'+"):
            return p._shortcmd("")
        return exc.args[0]
    finally:
        p.close()


def test_all_three_protocols_with_a_full_token(oauth_daemon, ca):
    d = oauth_daemon
    _s, token = get_tokens(d.base, ca, add_client(d))
    t = token["access_token"]
    assert imap_auth(d, "XOAUTH2", xoauth2("meier", t))[0] == "OK"
    assert imap_auth(d, "OAUTHBEARER", oauthbearer("meier@lan.test", t))[0] == "OK"
    assert smtp_auth(d, "XOAUTH2", xoauth2("meier", t)) == 235
    assert smtp_auth(d, "OAUTHBEARER", oauthbearer("meier", t)) == 235
    assert pop3_auth(d, xoauth2("meier", t)).startswith(b"+OK")
    assert "mech=XOAUTH2" in d.log() and "mech=OAUTHBEARER" in d.log()


def test_scope_decides_the_protocol(oauth_daemon, ca):
    d = oauth_daemon
    client = add_client(d)
    _s, imap_only = get_tokens(d.base, ca, client, scope="IMAP.AccessAsUser.All")
    t = imap_only["access_token"]
    assert imap_auth(d, "XOAUTH2", xoauth2("meier", t))[0] == "OK"
    assert smtp_auth(d, "XOAUTH2", xoauth2("meier", t)) == 535
    assert not pop3_auth(d, xoauth2("meier", t)).startswith(b"+OK")
    # the challenge names the status and the scope this service needs (RFC 7628 3.2.2)
    _s, smtp_only = get_tokens(d.base, ca, client, scope="SMTP.Send")
    result, challenges = imap_auth(d, "OAUTHBEARER",
                                   oauthbearer("meier", smtp_only["access_token"]))
    assert result == "NO"
    assert json.loads(challenges[0]) == {"status": "insufficient_scope",
                                         "scope": "IMAP.AccessAsUser.All"}
    # a client registered for imap only never gets an smtp scope
    narrow = add_client(d, "meier", "imap")
    _s, token = get_tokens(d.base, ca, narrow)
    assert "SMTP.Send" not in token["scope"]
    assert smtp_auth(d, "XOAUTH2", xoauth2("meier", token["access_token"])) == 535


def test_wrong_revoked_and_outdated_tokens(oauth_daemon, ca):
    d = oauth_daemon
    client = add_client(d)
    _s, token = get_tokens(d.base, ca, client)
    t = token["access_token"]
    result, challenges = imap_auth(d, "XOAUTH2", xoauth2("meier", "not-a-token"))
    assert result == "NO" and json.loads(challenges[0])["status"] == "401"
    assert imap_auth(d, "XOAUTH2", xoauth2("schulze", t))[0] == "NO"  # someone else's
    assert "auth failed: service=imap ip=127.0.0.1 user=schulze" in d.log()
    # a password change ends every token of the account
    out = d.ctl("account", "modify", "meier", "--password-stdin", input="new-Passw0rd!\n")
    assert out.returncode == 0, out.stderr
    assert imap_auth(d, "XOAUTH2", xoauth2("meier", t))[0] == "NO"
    # deleting the client ends its tokens
    _s, token = get_tokens_as(d, ca, client, "meier", "new-Passw0rd!")
    t = token["access_token"]
    assert imap_auth(d, "XOAUTH2", xoauth2("meier", t))[0] == "OK"
    out = d.ctl("oauth2", "delete", client["client_id"])
    assert out.returncode == 0 and "token(s) removed" in out.stdout
    assert imap_auth(d, "XOAUTH2", xoauth2("meier", t))[0] == "NO"


def test_no_oauth_mechanisms_without_the_http_listener(daemon):
    m = imaplib.IMAP4("127.0.0.1", daemon.ports["imap"])
    assert "AUTH=XOAUTH2" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    m.shutdown()
    with smtplib.SMTP("127.0.0.1", daemon.ports["submission"]) as s:
        s.ehlo("x")
        assert "XOAUTH2" not in s.esmtp_features.get("auth", "")
    p = poplib.POP3("127.0.0.1", daemon.ports["pop3"])
    assert "XOAUTH2" not in " ".join(p.capa().get("SASL", []))
    p.close()


def test_expired_tokens_and_deleted_accounts(oauth_daemon, ca):
    """An access token after its 60 minutes (the clock moved by editing the row before the
    token's first use, so no cache holds it) and every token of a deleted account."""
    import sqlite3

    d = oauth_daemon
    _s, token = get_tokens(d.base, ca, add_client(d))
    db = sqlite3.connect(d.data / "lanmail.db")
    db.execute("UPDATE oauth_token SET expires = 1 WHERE kind = 'access'")
    db.commit()
    db.close()
    result, challenges = imap_auth(d, "XOAUTH2", xoauth2("meier", token["access_token"]))
    assert result == "NO" and json.loads(challenges[0])["status"] == "401"
    # a fresh one works until the account goes
    client = add_client(d, "schulze")
    s, token = get_tokens_as(d, ca, client, "schulze")
    assert imap_auth(d, "XOAUTH2", xoauth2("schulze", token["access_token"]))[0] == "OK"
    assert d.ctl("account", "delete", "schulze", "--yes").returncode == 0
    assert imap_auth(d, "XOAUTH2", xoauth2("schulze", token["access_token"]))[0] == "NO"


def get_tokens_as(d, ca, client, user, password="secret"):
    import secrets

    from oauth_testlib import Browser, session

    s = session(client)
    verifier = secrets.token_urlsafe(48)
    url, _ = s.create_authorization_url(f"{d.base}/oauth2/auth", code_verifier=verifier)
    r = Browser(d.base, ca).sign_in(url, user=user, password=password)
    return s, s.fetch_token(f"{d.base}/oauth2/token", verify=ca,
                            authorization_response=r.headers["Location"],
                            code_verifier=verifier)
