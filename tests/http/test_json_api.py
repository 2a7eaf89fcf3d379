"""The HTTP JSON API: the control ops over HTTPS behind admin API tokens, every reply
checked against the server's own OpenAPI document (jsonschema); an account made over the
API logs in over IMAP."""

from __future__ import annotations

import imaplib
import json
import sqlite3

import jsonschema
import pytest
import requests


@pytest.fixture
def ca(tls_files) -> str:
    return str(tls_files["ca"])


@pytest.fixture
def api(oauth_daemon, ca):
    d = oauth_daemon
    out = d.ctl("api-token", "add", "script")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("lmapi_") and "shown only now" in out.stderr
    doc = requests.get(f"{d.base}/api/v1/openapi.json", verify=ca).json()

    def call(op: str, token: str = token, expect: int = 200, **args) -> dict:
        r = requests.post(f"{d.base}/api/v1/ops/{op}", json=args, verify=ca,
                          headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == expect, (r.status_code, r.text)
        body = r.json()
        spec = doc["paths"].get(f"/api/v1/ops/{op}", {}).get("post")
        if spec is not None:  # the reply matches what the document promises
            ref = spec["responses"][str(r.status_code)]["content"]["application/json"]
            schema = {**ref["schema"], "components": doc["components"]}
            jsonschema.validate(body, schema)
        return body

    call.token = token
    call.doc = doc
    return call


def test_openapi_lists_every_op(oauth_daemon, api):
    doc = api.doc
    assert doc["openapi"].startswith("3.1")
    helped = api("help")["result"]
    names = [o["op"] for o in helped] if isinstance(helped[0], dict) else helped
    assert len(names) > 40
    for name in names:
        assert f"/api/v1/ops/{name}" in doc["paths"], name
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_accounts_over_the_api(oauth_daemon, api):
    d = oauth_daemon
    body = api("account.add", name="neu", password="Neu-Passw0rt!")
    assert body["ok"] is True
    names = [a["name"] for a in api("account.list")["result"]]
    assert "neu" in names
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    assert m.login("neu", "Neu-Passw0rt!")[0] == "OK"
    m.logout()
    err = api("account.show", expect=404, name="nobody")
    assert err == {"ok": False, "error": {"code": "not_found", "message": err["error"]
                                          ["message"]}}
    assert api("account.add", expect=409, name="neu", password="x" * 12)["error"]["code"] \
        == "exists"
    assert api("account.add", expect=400, name=7)["error"]["code"] == "bad_request"
    assert "api 127.0.0.1 op=account.add token=script status=200" in d.log()


def test_tokens_are_needed_hashed_and_revocable(oauth_daemon, api, ca):
    d = oauth_daemon
    r = requests.post(f"{d.base}/api/v1/ops/account.list", json={}, verify=ca)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert api("account.list", token="lmapi_wrong", expect=401)["error"]["code"] == \
        "unauthorized"
    api("status")
    assert "auth failed: service=http-api" in d.log()
    listed = json.loads(d.ctl("--json", "api-token", "list").stdout)
    assert [t["name"] for t in listed] == ["script"] and listed[0]["last_used"]
    db = sqlite3.connect(d.data / "lanmail.db")
    raw = b"".join(bytes(k) for (k,) in db.execute("SELECT key FROM api_token"))
    assert api.token.encode() not in raw and len(raw) == 32  # only its SHA-256
    db.close()
    assert d.ctl("api-token", "delete", "script").returncode == 0
    api("account.list", expect=401)
    out = d.ctl("api-token", "delete", "script")
    assert out.returncode != 0 and "no API token" in out.stderr


def test_bad_requests(oauth_daemon, api, ca):
    d = oauth_daemon
    h = {"Authorization": f"Bearer {api.token}"}
    r = requests.post(f"{d.base}/api/v1/ops/account.list", data=b"{nope", verify=ca,
                      headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = requests.post(f"{d.base}/api/v1/ops/no.such.op", json={}, verify=ca, headers=h)
    assert r.status_code == 404
    r = requests.post(f"{d.base}/api/v1/ops/account.list", data=b"x" * 100_000,
                      verify=ca, headers=h)
    assert r.status_code == 413  # bodies are capped
