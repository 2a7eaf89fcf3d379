"""api_token.*: admin tokens for the HTTP JSON API (``/api/v1``). A token is shown once;
the store keeps its SHA-256 (``store.oauth``)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from ..registry import OpError, arg, op

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PREFIX = "lmapi_"


def api_token_key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


@op("api_token.add")
async def api_token_add(runtime, args: dict) -> dict:
    """Make an admin token for the HTTP JSON API; returned once."""
    name = arg(args, "name")
    if not _NAME.match(name):
        raise OpError("invalid", "a token name is 1-64 letters, digits, '.', '_' or '-'")
    token = PREFIX + secrets.token_urlsafe(32)
    if not await runtime.store.oauth.add_api_token(name, api_token_key(token)):
        raise OpError("exists", f"there is already an API token '{name}'")
    return {"name": name, "token": token}


def _when(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else ""


@op("api_token.list")
async def api_token_list(runtime, args: dict) -> list:
    """Admin API tokens: name, created, last used (never the token)."""
    return [{"name": n, "created": _when(c), "last_used": _when(u)}
            for n, c, u in await runtime.store.oauth.api_tokens()]


@op("api_token.delete")
async def api_token_delete(runtime, args: dict) -> dict:
    """Delete an admin API token; it stops working at once."""
    name = arg(args, "name")
    if not await runtime.store.oauth.delete_api_token(name):
        raise OpError("not_found", f"no API token '{name}'")
    return {"name": name, "deleted": True}
