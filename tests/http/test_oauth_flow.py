"""The OAuth2 authorization server as a real client uses it (authlib's OAuth2Session over
HTTPS, the login form posted like a browser): code + PKCE -> tokens, refresh (rotated),
revoke, introspect, metadata; and what must be refused: PKCE failures, reused codes and
refresh tokens, open redirects, wrong passwords, another account's sign-in."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from oauth_testlib import ALL, REDIRECT, Browser, add_client, get_tokens, session


@pytest.fixture
def ca(tls_files) -> str:
    return str(tls_files["ca"])


def _query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_code_flow_refresh_rotation_revoke(oauth_daemon, ca):
    d = oauth_daemon
    client = add_client(d)
    s, token = get_tokens(d.base, ca, client)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert set(token["scope"].split()) == set(ALL.split()) and token["refresh_token"]
    # refresh: a new access AND a new refresh token; the old refresh token is dead
    old_refresh = token["refresh_token"]
    new = s.refresh_token(f"{d.base}/oauth2/token", refresh_token=old_refresh, verify=ca)
    assert new["access_token"] != token["access_token"]
    assert new["refresh_token"] != old_refresh
    r = requests.post(f"{d.base}/oauth2/token", verify=ca, auth=(client["client_id"],
                      client["client_secret"]),
                      data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # introspection: the client sees its token; the admin too (lanmailctl)
    r = requests.post(f"{d.base}/oauth2/introspect", verify=ca,
                      auth=(client["client_id"], client["client_secret"]),
                      data={"token": new["access_token"]})
    assert r.json()["active"] is True and r.json()["username"] == "meier"
    out = d.ctl("--json", "oauth2", "introspect", input=new["access_token"] + "\n")
    assert json.loads(out.stdout)["active"] is True
    # revocation (RFC 7009) of the refresh token ends the whole grant
    r = requests.post(f"{d.base}/oauth2/revoke", verify=ca,
                      auth=(client["client_id"], client["client_secret"]),
                      data={"token": new["refresh_token"]})
    assert r.status_code == 200
    out = d.ctl("--json", "oauth2", "introspect", input=new["access_token"] + "\n")
    assert json.loads(out.stdout) == {"active": False}
    assert "Bearer" not in d.log() and new["access_token"] not in d.log()


def test_without_offline_access_no_refresh_token(oauth_daemon, ca):
    client = add_client(oauth_daemon)
    _s, token = get_tokens(oauth_daemon.base, ca, client, scope="IMAP.AccessAsUser.All")
    assert "refresh_token" not in token and token["scope"] == "IMAP.AccessAsUser.All"


def _code(d, ca, client) -> tuple[str, str]:
    """Sign in like a browser: (the code, its PKCE verifier)."""
    s = session(client)
    verifier = secrets.token_urlsafe(48)
    url, _ = s.create_authorization_url(f"{d.base}/oauth2/auth", code_verifier=verifier)
    return _query(Browser(d.base, ca).sign_in(url).headers["Location"])["code"], verifier


def test_code_works_once_and_only_with_the_right_verifier(oauth_daemon, ca):
    d = oauth_daemon
    client = add_client(d)
    code, verifier = _code(d, ca, client)
    base = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://127.0.0.1:8765/cb"}
    auth = (client["client_id"], client["client_secret"])
    r = requests.post(f"{d.base}/oauth2/token", verify=ca, auth=auth,
                      data={**base, "code_verifier": secrets.token_urlsafe(48)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # a failed exchange used the code up (single use), the right verifier is too late
    r = requests.post(f"{d.base}/oauth2/token", verify=ca, auth=auth,
                      data={**base, "code_verifier": verifier})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_public_client_needs_s256(oauth_daemon, ca):
    d = oauth_daemon
    client = add_client(d, "meier", "imap", "--public")
    assert client["client_secret"] == ""
    q = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT,
         "scope": "IMAP.AccessAsUser.All", "state": "st8"}
    # without PKCE: an error sent back to the (registered) redirect URI, with the state
    r = requests.get(f"{d.base}/oauth2/auth", params=q, verify=ca, allow_redirects=False)
    assert r.status_code == 302
    err = _query(r.headers["Location"])
    assert err["error"] == "invalid_request" and err["state"] == "st8"
    # plain is refused
    r = requests.get(f"{d.base}/oauth2/auth", verify=ca, allow_redirects=False, params={
        **q, "code_challenge": "x" * 43, "code_challenge_method": "plain"})
    assert r.status_code == 302 and _query(r.headers["Location"])["error"] == "invalid_request"
    # S256: works without a secret
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()
    r = Browser(d.base, ca).sign_in(requests.Request("GET", f"{d.base}/oauth2/auth", params={
        **q, "code_challenge": challenge, "code_challenge_method": "S256"}).prepare().url)
    code = _query(r.headers["Location"])["code"]
    r = requests.post(f"{d.base}/oauth2/token", verify=ca, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": client["client_id"], "code_verifier": verifier})
    assert r.status_code == 200 and r.json()["access_token"], r.text


@pytest.mark.parametrize("uri", ["https://evil.example/cb", "http://127.0.0.1/other",
                                 "http://127.0.0.1.evil.example/cb", "http://127.0.0.1/cb#x"])
def test_unregistered_redirect_is_never_followed(oauth_daemon, ca, uri):
    d = oauth_daemon
    client = add_client(d)
    r = requests.get(f"{d.base}/oauth2/auth", verify=ca, allow_redirects=False, params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": uri,
        "scope": "SMTP.Send"})
    assert r.status_code == 400 and "Location" not in r.headers
    assert "not valid" in r.text


def test_unknown_client_and_unknown_scope(oauth_daemon, ca):
    d = oauth_daemon
    r = requests.get(f"{d.base}/oauth2/auth", verify=ca, allow_redirects=False, params={
        "response_type": "code", "client_id": "nobody-at-all", "redirect_uri": REDIRECT})
    assert r.status_code == 400 and "Location" not in r.headers
    client = add_client(d)
    r = requests.get(f"{d.base}/oauth2/auth", verify=ca, allow_redirects=False, params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT,
        "scope": "imap.accessasuser.all"})  # scopes are case-sensitive
    assert r.status_code == 302 and _query(r.headers["Location"])["error"] == "invalid_scope"


def test_sign_in_refusals_and_throttling(oauth_daemon, ca):
    d = oauth_daemon
    client = add_client(d)
    s = session(client)
    url, _ = s.create_authorization_url(f"{d.base}/oauth2/auth",
                                        code_verifier=secrets.token_urlsafe(48))
    b = Browser(d.base, ca)
    r = b.sign_in(url, password="wrong")
    assert r.status_code == 401 and "Wrong mailbox name or password" in r.text
    assert "auth failed: service=oauth ip=127.0.0.1 user=meier" in d.log()
    r = b.sign_in(url, user="schulze")  # right password, but the client is meier's
    assert r.status_code == 403 and "another mailbox" in r.text
    r = b.sign_in(url, decision="deny")
    assert r.status_code == 302 and _query(r.headers["Location"])["error"] == "access_denied"
    page, _ = b.form(url)
    assert page.headers["X-Frame-Options"] == "DENY"


def test_token_endpoint_throttles_a_guessed_secret(daemon_factory, ca):
    from oauth_testlib import with_http

    d = daemon_factory(accounts={"meier": {}}, start=False,
                       limits_toml="auth_failures_per_ip = 3\nauth_failure_delay_ms = 10")
    d.base = with_http(d)
    d.start()
    client = add_client(d)
    for _ in range(3):
        r = requests.post(f"{d.base}/oauth2/token", verify=ca,
                          auth=(client["client_id"], "guess"),
                          data={"grant_type": "refresh_token", "refresh_token": "x"})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = requests.post(f"{d.base}/oauth2/token", verify=ca,
                      auth=(client["client_id"], client["client_secret"]),
                      data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert r.status_code == 429
    assert "auth blocked: service=oauth-token" in d.log()


def test_metadata_logout_and_urls(oauth_daemon, ca):
    d = oauth_daemon
    meta = requests.get(f"{d.base}/.well-known/oauth-authorization-server", verify=ca).json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint"].endswith("/oauth2/token")
    assert requests.get(f"{d.base}/oauth2/logout", verify=ca).status_code == 200
    out = d.ctl("oauth2", "urls")
    assert out.returncode == 0 and "/oauth2/auth" in out.stdout


def test_plain_http_on_loopback(daemon_factory):
    from oauth_testlib import with_http

    d = daemon_factory(accounts={"meier": {}}, start=False, tls=False)
    base = with_http(d, tls=False)
    d.start()
    client = add_client(d)
    _s, token = get_tokens(base, True, client)
    assert token["access_token"]


def test_a_code_older_than_30_seconds_is_refused(oauth_daemon, ca):
    import sqlite3

    d = oauth_daemon
    client = add_client(d)
    code, verifier = _code(d, ca, client)
    db = sqlite3.connect(d.data / "lanmail.db")
    (expires,) = db.execute("SELECT expires FROM oauth_code").fetchone()
    db.execute("UPDATE oauth_code SET expires = expires - 31")  # 31 s later
    db.commit()
    db.close()
    import time

    assert 25 <= expires - time.time() <= 31
    r = requests.post(f"{d.base}/oauth2/token", verify=ca,
                      auth=(client["client_id"], client["client_secret"]),
                      data={"grant_type": "authorization_code", "code": code,
                            "redirect_uri": "http://127.0.0.1:8765/cb",
                            "code_verifier": verifier})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_cli_clients(oauth_daemon):
    d = oauth_daemon
    client = add_client(d, "meier", "imap,smtp")
    listed = json.loads(d.ctl("--json", "oauth2", "list", "meier").stdout)
    assert [(c["client_id"], c["scopes"], c["public"]) for c in listed] == [
        (client["client_id"], ["imap", "smtp"], False)]
    shown = d.ctl("oauth2", "show", client["client_id"])
    assert shown.returncode == 0 and "http://127.0.0.1/cb" in shown.stdout
    text = (d.conf / "accounts" / "meier.toml").read_text()
    assert client["client_secret"] not in text and "sha256:" in text
    out = d.ctl("oauth2", "add", "meier", "--scope", "imap,mail", "--redirect-uri",
                "http://127.0.0.1/cb")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--scope" in out.stderr
    out = d.ctl("oauth2", "add", "meier", "--redirect-uri", "ftp://x/cb")
    assert out.returncode != 0 and "redirect_uris" in out.stderr
