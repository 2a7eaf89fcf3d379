"""A lanmaild with its HTTP/OAuth2 listener, and a browser-like sign-in for the tests:
authlib's own OAuth2 client (requests) does the client side, the login form is posted as a
browser would post it."""

from __future__ import annotations

import html
import json
import re
import secrets

import requests
from authlib.integrations.requests_client import OAuth2Session
from lmtest import free_ports

REDIRECT = "http://127.0.0.1/cb"
ALL = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send offline_access"


def with_http(d, tls: bool = True) -> str:
    """Add an HTTP listener to the daemon's config (before start); returns the base URL."""
    port = free_ports(1)[0]
    main = d.conf / "lanmaild.toml"
    main.write_text(main.read_text().replace(
        "[listen]\n", f'[listen]\nhttp = ["127.0.0.1:{port}"]\n'))
    return f"{'https' if tls else 'http'}://localhost:{port}"


def add_client(d, account: str = "meier", scope: str = "imap,pop3,smtp", *extra: str) -> dict:
    out = d.ctl("--json", "oauth2", "add", account, "--redirect-uri", REDIRECT, "--scope",
                scope, "--name", "Test App", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class Browser:
    """GET the sign-in page, post its form like a browser; returns the redirect."""

    def __init__(self, base: str, verify) -> None:
        self.base = base
        self.verify = verify

    def form(self, url: str) -> tuple[requests.Response, dict]:
        r = requests.get(url, verify=self.verify, allow_redirects=False, timeout=30)
        fields = {k: html.unescape(v) for k, v in
                  re.findall(r"name='([^']+)' value='([^']*)'", r.text)}
        return r, fields

    def sign_in(self, url: str, user: str = "meier", password: str = "secret",
                decision: str = "approve") -> requests.Response:
        r, fields = self.form(url)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        fields.update(username=user, password=password, decision=decision)
        return requests.post(f"{self.base}/oauth2/auth", data=fields, verify=self.verify,
                             allow_redirects=False, timeout=30)


def session(client: dict, scope: str = ALL, redirect: str = "http://127.0.0.1:8765/cb",
            **kw) -> OAuth2Session:
    s = OAuth2Session(client["client_id"], client["client_secret"] or None, scope=scope,
                      redirect_uri=redirect, code_challenge_method="S256", **kw)
    return s


def get_tokens(base: str, verify, client: dict, scope: str = ALL) -> tuple[OAuth2Session, dict]:
    """The whole authorization-code flow with PKCE: authorize, sign in, code -> tokens."""
    s = session(client, scope)
    s.verify = verify
    verifier = secrets.token_urlsafe(48)
    url, _state = s.create_authorization_url(f"{base}/oauth2/auth", code_verifier=verifier)
    r = Browser(base, verify).sign_in(url)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    token = s.fetch_token(f"{base}/oauth2/token", authorization_response=r.headers["Location"],
                          code_verifier=verifier, verify=verify)
    return s, token


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(user: str, token: str) -> bytes:
    return f"n,a={user},\x01host=localhost\x01port=143\x01auth=Bearer {token}\x01\x01".encode()
