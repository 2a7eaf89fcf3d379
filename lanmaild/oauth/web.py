"""The OAuth2 HTTP endpoints and the login page (mounted by ``lanmaild.http``).

LANMailServer's published paths, so clients set up for it work unchanged:
``GET|POST /oauth2/auth`` (the browser: mailbox name, password, approve), ``POST
/oauth2/token`` (code -> tokens, refresh), ``/oauth2/logout`` (200). Added: ``POST
/oauth2/revoke`` (RFC 7009), ``POST /oauth2/introspect`` (RFC 7662, a client about its own
tokens) and ``/.well-known/oauth-authorization-server`` (RFC 8414).

Security: without TLS only loopback and ``server.plaintext_auth`` networks may use the
endpoints (like passwords on the mail ports); the login page and the token endpoint go
through the shared ``Authenticator`` throttling and its fail2ban lines; a bad
``client_id``/``redirect_uri`` is shown as an error page, never redirected to (RFC 6749
4.1.2.1: no open redirect); the page may not be framed (clickjacking).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging

from aiohttp import web
from authlib.oauth2 import OAuth2Error
from multidict import CIMultiDict

from ..auth.scopes import IMAP, OFFLINE, POP3, SMTP
from ..http.settings import base_url, credentials_allowed
from .server import Incoming, introspect, token_key

log = logging.getLogger("lanmaild.oauth")

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE_HEADERS = {**_NO_STORE, "X-Frame-Options": "DENY",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
                                            " form-action 'self'; frame-ancestors 'none'"}
_SCOPE_TEXT = {IMAP: "read your mail (IMAP)", POP3: "download your mail (POP3)",
               SMTP: "send mail as you (SMTP)", OFFLINE: "stay signed in (refresh token)"}
_LOGIN_FIELDS = ("username", "password", "decision")


def routes(app: web.Application, runtime) -> None:
    h = Handlers(runtime)
    app.router.add_get("/oauth2/auth", h.authorize_page)
    app.router.add_post("/oauth2/auth", h.authorize_submit)
    app.router.add_post("/oauth2/token", h.token)
    app.router.add_post("/oauth2/revoke", h.revoke)
    app.router.add_post("/oauth2/introspect", h.introspect)
    app.router.add_route("*", "/oauth2/logout", h.logout)
    app.router.add_get("/.well-known/oauth-authorization-server", h.metadata)


def _json(status: int, body, headers=None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={**_NO_STORE, **dict(headers or {})})


def _authlib_response(result) -> web.Response:
    status, body, headers = result
    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
    if status in (301, 302, 303):
        return web.Response(status=302, headers={**_NO_STORE, **dict(headers)})
    return _json(status, body, headers)


class Handlers:
    def __init__(self, runtime) -> None:
        self.runtime = runtime

    @property
    def server(self):
        return self.runtime.services["oauth"].server

    # ------------------------------------------------------------------ helpers

    def _transport_ok(self, request: web.Request) -> bool:
        return credentials_allowed(self.runtime, request.secure, request.remote or "")

    async def _incoming(self, request: web.Request, query_from_form: bool = False) -> Incoming:
        form: dict[str, list[str]] = {}
        if request.method == "POST" and request.content_type in (
                "application/x-www-form-urlencoded", "multipart/form-data"):
            for k, v in (await request.post()).items():
                if isinstance(v, str):
                    form.setdefault(k, []).append(v)
        query: dict[str, list[str]] = {}
        for k, v in request.query.items():
            query.setdefault(k, []).append(v)
        if query_from_form:  # the login form carries the authorization request along
            query = {k: v for k, v in form.items() if k not in _LOGIN_FIELDS}
            form = {}
        return Incoming(request.method, str(request.url), CIMultiDict(request.headers),
                        query, form)

    def _refuse_plain(self) -> web.Response:
        return _json(403, {"error": "invalid_request",
                           "error_description": "use HTTPS (plain HTTP only from loopback "
                                                "and server.plaintext_auth networks)"})

    # ------------------------------------------------------------------ authorization

    async def _consent(self, req: Incoming):
        """(grant, None) for a valid authorization request, else (None, response)."""
        try:
            grant = await asyncio.to_thread(self.server.get_consent_grant, req)
        except OAuth2Error as error:
            if getattr(error, "redirect_uri", None):  # client and redirect_uri are valid
                error.state = (req.query.get("state") or [None])[0]
                return None, _authlib_response(self.server.handle_error_response(None, error))
            return None, self._page(400, f"This sign-in link is not valid: "
                                         f"{error.description or error.error}.", None, {})
        return grant, None

    def _page(self, status: int, message: str, grant, params: dict,
              user: str = "") -> web.Response:
        """The login page (with a grant) or an error page (without)."""
        e = html.escape
        body = [f"<p class='msg'>{e(message)}</p>" if message else ""]
        if grant is not None:
            client = grant.client.c
            scopes = (grant.request.scope or "").split()
            items = "".join(f"<li>{e(_SCOPE_TEXT.get(s, s))}</li>" for s in scopes)
            hidden = "".join(f"<input type='hidden' name='{e(k)}' value='{e(v[0])}'>"
                             for k, v in params.items() if k not in _LOGIN_FIELDS and v)
            body.append(
                f"<p><b>{e(client.name or client.id)}</b> asks to</p><ul>{items}</ul>"
                f"<form method='post' action='/oauth2/auth'>{hidden}"
                f"<label>Mailbox <input name='username' value='{e(user)}' "
                "autocomplete='username' required></label>"
                "<label>Password <input type='password' name='password' "
                "autocomplete='current-password' required></label>"
                "<button name='decision' value='approve'>Sign in and allow</button> "
                "<button name='decision' value='deny' formnovalidate>Deny</button></form>")
        page = ("<!doctype html><html><head><meta charset='utf-8'><title>LANMail sign-in"
                "</title><meta name='viewport' content='width=device-width'><style>"
                "body{font-family:sans-serif;max-width:28em;margin:3em auto}"
                "label{display:block;margin:.6em 0}input{width:100%}.msg{color:#a00}"
                "</style></head><body><h1>LANMail</h1>" + "".join(body) + "</body></html>")
        return web.Response(status=status, text=page, content_type="text/html",
                            headers=_PAGE_HEADERS)

    async def authorize_page(self, request: web.Request) -> web.Response:
        if not self._transport_ok(request):
            return self._refuse_plain()
        req = await self._incoming(request)
        grant, refusal = await self._consent(req)
        return refusal or self._page(200, "", grant, req.query)

    async def authorize_submit(self, request: web.Request) -> web.Response:
        if not self._transport_ok(request):
            return self._refuse_plain()
        post = await request.post()
        req = await self._incoming(request, query_from_form=True)
        grant, refusal = await self._consent(req)
        if refusal is not None:
            return refusal
        client = grant.client.c
        if post.get("decision") != "approve":
            log.info("oauth: sign-in for client %s denied by the user", client.id)
            return _authlib_response(await asyncio.to_thread(
                self.server.create_authorization_response, req, None, grant))
        username = str(post.get("username", ""))
        account = await self.runtime.auth.login(username, str(post.get("password", "")),
                                                ip=request.remote or "", service="oauth")
        if account is None:
            return self._page(401, "Wrong mailbox name or password.", grant, req.query,
                              username)
        if account.key != client.account:
            log.warning("oauth: %s signed in for client %s of account %s: refused",
                        account.name, client.id, client.account)
            return self._page(403, "This application is registered for another mailbox.",
                              grant, req.query, username)
        log.info("oauth: code issued: client=%s user=%s scope=%s", client.id, account.name,
                 grant.request.scope)
        return _authlib_response(await asyncio.to_thread(
            self.server.create_authorization_response, req, account.key, grant))

    # ------------------------------------------------------------------ token & co

    async def token(self, request: web.Request) -> web.Response:
        if not self._transport_ok(request):
            return self._refuse_plain()
        req = await self._incoming(request)
        client_id = _client_id(req)
        who = f"oauth-client:{client_id}"
        ip = request.remote or ""
        if self.runtime.auth.refused(ip, who):
            await self.runtime.auth.failed(ip, who, service="oauth-token", user=client_id,
                                           blocked=True)
            return _json(429, {"error": "invalid_request",
                               "error_description": "too many failures: try again later"})
        status, body, headers = await asyncio.to_thread(self.server.create_token_response,
                                                        req)
        grant_type = (req.form.get("grant_type") or [""])[0]
        if status != 200:
            error = body.get("error", "") if isinstance(body, dict) else ""
            log.info("oauth token: ip=%s client=%s grant=%s refused: %s", ip, client_id,
                     grant_type, error)
            if error in ("invalid_client", "invalid_grant"):
                await self.runtime.auth.failed(ip, who, service="oauth-token",
                                               user=client_id)
        else:
            log.info("oauth token: ip=%s client=%s grant=%s issued scope=%s", ip, client_id,
                     grant_type, body.get("scope", ""))
        return _authlib_response((status, body, headers))

    async def revoke(self, request: web.Request) -> web.Response:
        if not self._transport_ok(request):
            return self._refuse_plain()
        req = await self._incoming(request)
        result = await asyncio.to_thread(self.server.create_endpoint_response, "revocation",
                                         req)
        log.info("oauth revoke: ip=%s client=%s status=%d", request.remote, _client_id(req),
                 result[0])
        return _authlib_response(result)

    async def introspect(self, request: web.Request) -> web.Response:
        if not self._transport_ok(request):
            return self._refuse_plain()
        req = await self._incoming(request)
        return _authlib_response(await asyncio.to_thread(
            self.server.create_endpoint_response, "introspection", req))

    async def logout(self, request: web.Request) -> web.Response:
        # no sessions or cookies are kept: there is nothing to end (LANMailServer: 200)
        return web.Response(status=200, text="logged out\n", headers=_NO_STORE)

    async def metadata(self, request: web.Request) -> web.Response:
        return _json(200, metadata(self.runtime))


def metadata(runtime) -> dict:
    """RFC 8414 section 2 (also what ``lanmailctl oauth2 urls`` prints)."""
    base = base_url(runtime)
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth2/auth",
        "token_endpoint": f"{base}/oauth2/token",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "end_session_endpoint": f"{base}/oauth2/logout",
        "scopes_supported": [IMAP, POP3, SMTP, OFFLINE],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                  "client_secret_post", "none"],
    }


def _client_id(req: Incoming) -> str:
    """For logs and throttling: the client id from the form or the Basic header."""
    cid = (req.form.get("client_id") or [""])[0]
    auth = req.headers.get("Authorization", "")
    if not cid and auth.lower().startswith("basic "):
        import base64
        import binascii
        from urllib.parse import unquote

        try:
            cid = unquote(base64.b64decode(auth[6:]).decode().split(":", 1)[0])
        except (binascii.Error, UnicodeDecodeError, ValueError):
            cid = "?"
    return "".join(c for c in cid[:64] if c.isprintable() and c != " ") or "-"


async def introspect_token(runtime, token: str) -> dict:
    """The admin's view of a token (``lanmailctl oauth2 introspect``)."""
    return introspect(runtime, await runtime.store.oauth.token(token_key(token)))
