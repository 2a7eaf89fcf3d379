"""The HTTP JSON API: the control API's operations for remote scripts (the seed: "email
accounts can be created or modified via the JSON API").

``POST /api/v1/ops/<op>`` with the op's arguments as a JSON object; the reply is the control
socket's: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {"code", "message"}}``
with an HTTP status from the code (404 not_found, 409 exists, 422 config, ...). Every call
needs ``Authorization: Bearer <admin API token>`` (``lanmailctl api-token add``); wrong
tokens are throttled and logged like wrong passwords. ``GET /api/v1/openapi.json`` is the
OpenAPI 3.1 document, generated from the op table. Over plain HTTP only loopback and
``server.plaintext_auth`` networks are served (an admin token is a password).
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from ..control.ops.apitoken import api_token_key
from ..control.registry import OPS
from ..control.server import run_op
from .settings import base_url, credentials_allowed

log = logging.getLogger("lanmaild.http")

STATUS = {"bad_request": 400, "invalid": 400, "not_found": 404, "exists": 409,
          "conflict": 409, "config": 422, "failed": 502, "unavailable": 503,
          "internal": 500}
_NO_STORE = {"Cache-Control": "no-store"}


def routes(app: web.Application, runtime) -> None:
    import lanmaild.control.ops  # noqa: F401 - registers every op

    api = Api(runtime)
    app.router.add_post("/api/v1/ops/{op}", api.call)
    app.router.add_get("/api/v1/openapi.json", api.openapi)


def _reply(status: int, body: dict, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={**_NO_STORE, **(headers or {})})


def _error(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return _reply(status, {"ok": False, "error": {"code": code, "message": message}}, headers)


class Api:
    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def _transport_ok(self, request: web.Request) -> bool:
        return credentials_allowed(self.runtime, request.secure, request.remote or "")

    async def _admin(self, request: web.Request) -> str | None:
        """The token's name, or None (after the failure delay)."""
        auth = self.runtime.auth
        ip = request.remote or ""
        if auth.refused(ip, "api"):
            await auth.failed(ip, "api", service="http-api", user="-", blocked=True)
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        name = None
        if scheme.lower() == "bearer" and token.strip():
            name = await self.runtime.store.oauth.api_token_name(api_token_key(token.strip()))
        if name is None:
            await auth.failed(ip, "api", service="http-api", user="-")
        return name

    async def call(self, request: web.Request) -> web.Response:
        if not self._transport_ok(request):
            return _error(403, "forbidden", "use HTTPS (plain HTTP only from loopback and "
                                            "server.plaintext_auth networks)")
        name = await self._admin(request)
        if name is None:
            return _error(401, "unauthorized", "give an admin API token: Authorization: "
                                               "Bearer <token> (lanmailctl api-token add)",
                          {"WWW-Authenticate": 'Bearer realm="lanmail"'})
        op = request.match_info["op"]
        if op not in OPS:
            return _error(404, "bad_request", f"unknown op '{op}' (GET /api/v1/openapi.json)")
        try:
            args = await request.json() if request.can_read_body else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, "bad_request", f"the body is not JSON: {exc}")
        if not isinstance(args, dict):
            return _error(400, "bad_request", "the body must be a JSON object (the op's "
                                              "arguments)")
        reply = await run_op(self.runtime, op, args)
        status = 200 if reply["ok"] else STATUS.get(reply["error"]["code"], 400)
        log.info("api %s op=%s token=%s status=%d", request.remote, op, name, status)
        return _reply(status, reply)

    async def openapi(self, request: web.Request) -> web.Response:
        return _reply(200, openapi(self.runtime))


def openapi(runtime) -> dict:
    """OpenAPI 3.1 for every op: the same envelope for all, the summary from the op."""
    error_codes = sorted(set(STATUS.values()) | {401, 403})
    paths = {}
    for name, entry in sorted(OPS.items()):
        paths[f"/api/v1/ops/{name}"] = {"post": {
            "operationId": name.replace(".", "_"),
            "summary": entry.summary,
            "tags": [name.split(".")[0]],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Args"}}}},
            "responses": {
                "200": {"description": "done", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Ok"}}}},
                **{str(code): {"description": "refused", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}}
                   for code in error_codes},
            }}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "LANMail JSON API", "version": "1",
                 "description": "The control API's operations (lanmail-api(7)) over HTTP."},
        "servers": [{"url": base_url(runtime)}],
        "security": [{"adminToken": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Args": {"type": "object", "description": "the op's arguments"},
                "Ok": {"type": "object", "required": ["ok", "result"],
                       "properties": {"ok": {"const": True}, "result": {}},
                       "additionalProperties": False},
                "Error": {"type": "object", "required": ["ok", "error"],
                          "properties": {"ok": {"const": False}, "error": {
                              "type": "object", "required": ["code", "message"],
                              "properties": {"code": {"type": "string"},
                                             "message": {"type": "string"}},
                              "additionalProperties": False}},
                          "additionalProperties": False},
            },
        },
    }
