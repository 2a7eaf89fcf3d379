"""An external mailbox at a provider that takes no passwords (as Microsoft 365 and Gmail):
a second lanmaild plays the provider (its own OAuth2 server, IMAP and POP3). The admin signs
in once with ``lanmailctl external oauth2-login`` (the browser's part posted like a browser,
the redirect coming back to lanmailctl's loopback listener); from then on lanmaild fetches
with XOAUTH2, refreshing the access token and storing the provider's rotated refresh token
(across a restart)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import requests
from oauth_testlib import Browser, with_http

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "smtp"))
from smtp_testlib import mail_list, send, wait_delivered  # noqa: E402

SCOPE = "IMAP.AccessAsUser.All POP.AccessAsUser.All offline_access"


def _provider(daemon_factory, scope: str = "imap,pop3"):
    p = daemon_factory(accounts={"kunde": {"password": "provider-pw", "send_as": ["*"]}},
                       start=False)
    p.base = with_http(p)
    p.start()
    out = p.ctl("--json", "oauth2", "add", "kunde", "--scope", scope, "--redirect-uri",
                "http://127.0.0.1/callback", "--name", "LANMail at the firm")
    assert out.returncode == 0, out.stderr
    return p, json.loads(out.stdout)


def _refresh_token(d) -> str:
    text = (d.conf / "accounts" / "meier.toml").read_text()
    m = re.search(r'oauth2_refresh_token = "([^"]+)"', text)
    return m.group(1) if m else ""


def _sign_in(d, p, ca: str, *command: str) -> subprocess.CompletedProcess:
    """lanmailctl ... oauth2-login, with the test as the admin's browser."""
    cmd = [sys.executable, "-m", "lanmailctl.cli", "--config-dir", str(d.conf),
           *(command or ("external", "oauth2-login", "meier", "provider")), "--timeout", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = ""
    deadline = time.monotonic() + 30
    while not url.startswith("https://") and time.monotonic() < deadline:
        url = proc.stdout.readline().strip()
    assert url.startswith(p.base + "/oauth2/auth?"), url
    r = Browser(p.base, ca).sign_in(url, user="kunde", password="provider-pw")
    assert r.status_code == 302, r.text[:300]
    back = requests.get(r.headers["Location"], timeout=30)  # to lanmailctl's listener
    assert back.status_code == 200 and "Signed in" in back.text
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_fetch_with_xoauth2_from_a_provider_without_passwords(daemon_factory, tls_files):
    ca = str(tls_files["ca"])
    p, client = _provider(daemon_factory)
    send(p, "a@remote.example", ["kunde@lan.test"], "first over oauth")
    wait_delivered(p)
    d = daemon_factory(accounts={"meier": {}})
    args = ["external", "add", "meier", "provider", "--protocol", "imap", "--host",
            "127.0.0.1", "--port", str(p.ports["imap"]), "--tls", "none", "--user", "kunde",
            "--disabled", "--oauth2", "provider=generic",
            "--oauth2", f"client_id={client['client_id']}",
            "--oauth2", f"auth_url={p.base}/oauth2/auth",
            "--oauth2", f"token_url={p.base}/oauth2/token", "--oauth2", f"scope={SCOPE}",
            "--oauth2-secret-stdin"]
    out = d.ctl(*args, input=client["client_secret"] + "\n")
    assert out.returncode == 0, out.stderr
    assert d.ctl("external", "modify", "meier", "provider", "--disabled").returncode == 0
    acct = d.conf / "accounts" / "meier.toml"
    text = acct.read_text()
    assert 'ca_file' not in text
    text = text.replace('auth = "xoauth2"', f'auth = "xoauth2"\nca_file = "{ca}"')
    acct.write_text(text)
    assert d.ctl("reload").returncode == 0
    # before the sign-in: a clear error, not a crash
    r = json.loads(d.ctl("--json", "external", "fetch", "meier").stdout)
    assert "oauth2-login" in r[0]["error"], r
    signed = _sign_in(d, p, ca)
    assert signed.returncode == 0, signed.stderr
    assert "signed in: meier/provider logs in with XOAUTH2" in signed.stdout
    first = _refresh_token(d)
    assert first and acct.stat().st_mode & 0o077 == 0
    r = json.loads(d.ctl("--json", "external", "fetch", "meier").stdout)
    assert r[0]["error"] == "" and r[0]["fetched"] == 1, r
    wait_delivered(d)
    assert [m["subject"] for m in mail_list(d, "meier")] == ["first over oauth"]
    # the provider rotated the refresh token at the first refresh: the new one is stored
    rotated = _refresh_token(d)
    assert rotated and rotated != first
    listed = json.loads(d.ctl("--json", "external", "list", "meier").stdout)[0]
    assert listed["oauth"]["signed_in"] is True and listed["oauth"]["client_secret"] == "***"
    assert client["client_secret"] not in json.dumps(listed) and rotated not in d.log()
    assert "mech=XOAUTH2" in p.log()
    # across a restart (a fresh access token from the stored refresh token), over POP3 too
    send(p, "a@remote.example", ["kunde@lan.test"], "second over oauth")
    wait_delivered(p)
    assert d.ctl("external", "modify", "meier", "provider", "--protocol", "pop3", "--port",
                 str(p.ports["pop3"])).returncode == 0
    d.restart()
    r = json.loads(d.ctl("--json", "external", "fetch", "meier").stdout)
    assert r[0]["error"] == "" and r[0]["fetched"] == 2, r  # POP3 keys differ from IMAP's
    # the provider withdraws the app: a clear log-in error
    assert p.ctl("oauth2", "delete", client["client_id"]).returncode == 0
    d.restart()
    r = json.loads(d.ctl("--json", "external", "fetch", "meier").stdout)
    assert r[0]["error"].startswith("OAuth2:") and "invalid" in r[0]["error"], r


def test_smarthost_with_xoauth2(daemon_factory, tls_files):
    """The smarthost takes no password (Microsoft 365's SMTP AUTH): lanmaild relays through
    it with XOAUTH2 after ``lanmailctl outgoing oauth2-login``."""
    ca = str(tls_files["ca"])
    p, client = _provider(daemon_factory, "smtp")
    d = daemon_factory(accounts={"meier": {}})
    settings = {"transport": "smtp", "smtp.host": "127.0.0.1",
                "smtp.port": str(p.ports["submission"]),
                "smtp.tls": "none", "smtp.user": "kunde", "smtp.auth": "xoauth2",
                "smtp.ca_file": ca, "smtp.oauth2_client_id": client["client_id"],
                "smtp.oauth2_auth_url": f"{p.base}/oauth2/auth",
                "smtp.oauth2_token_url": f"{p.base}/oauth2/token",
                "smtp.oauth2_scope": "SMTP.Send offline_access"}
    out = d.ctl("outgoing", "set", *(f"{k}={v}" for k, v in settings.items()))
    assert out.returncode == 0, out.stderr
    out = d.ctl("outgoing", "set", "--secret-stdin", "smtp.oauth2_client_secret",
                input=client["client_secret"] + "\n")
    assert out.returncode == 0, out.stderr
    signed = _sign_in(d, p, ca, "outgoing", "oauth2-login")
    assert signed.returncode == 0, signed.stderr
    assert "signed in: outgoing/" in signed.stdout
    main = (d.conf / "lanmaild.toml").read_text()
    assert "oauth2_refresh_token" in main and client["client_secret"] not in \
        d.ctl("outgoing", "show").stdout
    send(d, "meier@lan.test", ["someone@remote.example"], "relayed with a token",
         service="submission", login=("meier", "secret"))
    # the provider took it from kunde, logged in with a token
    deadline = time.monotonic() + 30
    while "mech=XOAUTH2" not in p.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "auth ok: service=submission ip=127.0.0.1 user=kunde" in p.log()
    queued = json.loads(p.ctl("--json", "queue", "list").stdout)
    assert [r["address"] for m in queued["messages"] for r in m["recipients"]] == [
        "someone@remote.example"]
