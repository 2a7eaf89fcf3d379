"""Stage ``oauth`` (issue 12): what a token log-in costs against a password log-in, and how
many requests the token endpoint answers.

- ``imap.login_xoauth2`` / ``imap.login_password``: C clients each connect, log in
  (``AUTHENTICATE XOAUTH2`` with SASL-IR, or ``LOGIN``), log out, N times in all; logins/s.
  A password log-in after the first is answered from the authenticator's cache of recent
  good log-ins (an HMAC, not scrypt); a cold one costs one scrypt (about 70 ms of CPU).
  ``imap.login_password_cold``: first log-ins of fresh accounts (one scrypt each). The
  issue's rule is "a token login must cost less than a password login".
- ``oauth.token_refresh``: C clients each follow their own refresh chain (every refresh
  rotates both tokens: one durable write per request); requests/s.

Only lanmaild is measured (Postfix+Dovecot have no OAuth2 server to compare with).
"""

from __future__ import annotations

import base64
import http.client
import json
import multiprocessing as mp
import re
import secrets
import socket
import time
import urllib.parse

from fetch import control

REDIRECT = "http://127.0.0.1/cb"
SCOPE = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send offline_access"


def _http(port: int, method: str, path: str, body: dict | None = None,
          headers: dict | None = None) -> tuple[int, dict, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = urllib.parse.urlencode(body) if body is not None else None
    h = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, dict(r.getheaders()), text


def grant(srv, user: str, password: str, chains: int) -> tuple[dict, list[dict]]:
    """A client for the bench account and ``chains`` token sets (authorize -> code ->
    token, as a browser and a client do it)."""
    client = control(srv.control, "oauth2.add", name=user.split("@")[0],
                     redirect_uris=[REDIRECT], client_name="bench")
    tokens = []
    for _ in range(chains):
        query = urllib.parse.urlencode({"response_type": "code",
                                        "client_id": client["client_id"],
                                        "redirect_uri": REDIRECT, "scope": SCOPE,
                                        "state": secrets.token_hex(8)})
        status, _h, page = _http(srv.http, "GET", f"/oauth2/auth?{query}")
        if status != 200:
            raise RuntimeError(f"sign-in page: HTTP {status}")
        fields = dict(re.findall(r"name='([^']+)' value='([^']*)'", page))
        fields.update(username=user, password=password, decision="approve")
        status, headers, _ = _http(srv.http, "POST", "/oauth2/auth", fields)
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)["code"][0]
        status, _h, text = _http(srv.http, "POST", "/oauth2/token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": client["client_id"], "client_secret": client["client_secret"]})
        if status != 200:
            raise RuntimeError(f"token endpoint: HTTP {status} {text}")
        tokens.append(json.loads(text))
    return client, tokens


def _line(f) -> bytes:
    line = f.readline()
    if not line:
        raise ConnectionError("closed")
    return line


def _logins(args: tuple) -> int:
    port, count, command = args
    done = 0
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            f = s.makefile("rb")
            _line(f)
            s.sendall(command)
            while not (line := _line(f)).startswith(b"a "):
                pass
            if not line.startswith(b"a OK"):
                raise RuntimeError(f"login refused: {line!r}")
            s.sendall(b"b LOGOUT\r\n")
            done += 1
    return done


def login_rate(srv, command: bytes, n: int, conc: int) -> dict:
    per = [n // conc + (1 if i < n % conc else 0) for i in range(conc)]
    t0 = time.monotonic()
    with mp.get_context("fork").Pool(conc) as pool:
        done = sum(pool.map(_logins, [(srv.ep.imap, k, command) for k in per]))
    secs = time.monotonic() - t0
    return {"logins": done, "seconds": round(secs, 2), "logins_per_s": round(done / secs, 1)}


def _cold(args: tuple) -> int:
    port, names, password = args
    return sum(_logins((port, 1, password_command(n, password))) for n in names)


def cold_login_rate(srv, password: str, count: int, conc: int) -> dict:
    """First log-ins of ``count`` fresh accounts: each one a scrypt verification."""
    names = [f"cold{i}-{secrets.token_hex(3)}" for i in range(count)]
    for name in names:
        control(srv.control, "account.add", name=name, password=password)
    t0 = time.monotonic()
    with mp.get_context("fork").Pool(conc) as pool:
        done = sum(pool.map(_cold, [(srv.ep.imap, names[i::conc], password)
                                    for i in range(conc)]))
    secs = time.monotonic() - t0
    for name in names:
        control(srv.control, "account.delete", name=name, yes=True)
    return {"logins": done, "seconds": round(secs, 2), "logins_per_s": round(done / secs, 1)}


def xoauth2_command(user: str, token: str) -> bytes:
    ir = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
    return b"a AUTHENTICATE XOAUTH2 " + ir + b"\r\n"


def password_command(user: str, password: str) -> bytes:
    return f'a LOGIN "{user}" "{password}"\r\n'.encode()


def _refresh_chain(args: tuple) -> int:
    port, count, client_id, secret, refresh = args
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    for _ in range(count):
        status, _h, text = _http(port, "POST", "/oauth2/token",
                                 {"grant_type": "refresh_token", "refresh_token": refresh},
                                 {"Authorization": f"Basic {basic}"})
        if status != 200:
            raise RuntimeError(f"refresh: HTTP {status} {text}")
        refresh = json.loads(text)["refresh_token"]
    return count


def token_rate(srv, client: dict, tokens: list[dict], n: int) -> dict:
    conc = len(tokens)
    per = [n // conc + (1 if i < n % conc else 0) for i in range(conc)]
    t0 = time.monotonic()
    with mp.get_context("fork").Pool(conc) as pool:
        done = sum(pool.map(_refresh_chain, [
            (srv.http, k, client["client_id"], client["client_secret"], t["refresh_token"])
            for k, t in zip(per, tokens, strict=True)]))
    secs = time.monotonic() - t0
    return {"requests": done, "seconds": round(secs, 2),
            "requests_per_s": round(done / secs, 1)}
