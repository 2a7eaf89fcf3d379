"""oauth2.*: OAuth2 clients per account ([[oauth2_client]] in its file), the endpoint URLs,
and the admin's token introspection (RFC 7662 view)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import tomlkit

from ...config.apply import account_array_edit, apply_change
from ...oauth import clients as clientcfg
from ..registry import OpError, arg, op


def _account(runtime, name: str):
    account = runtime.config.account(name)
    if account is None:
        raise OpError("not_found", f"no account '{name}'")
    return account


def client_json(account_name: str, c, tokens: int | None = None) -> dict:
    out = {"account": account_name, "client_id": c.id, "name": c.name,
           "public": c.public, "scopes": list(c.scopes),
           "redirect_uris": list(c.redirect_uris), "created": c.created}
    if tokens is not None:
        out["tokens"] = tokens
    return out


async def _counts(runtime) -> dict[str, int]:
    return await runtime.store.oauth.counts()


@op("oauth2.add")
async def oauth2_add(runtime, args: dict) -> dict:
    """Make a client for an account; the secret is returned once (only its hash is kept)."""
    account = _account(runtime, arg(args, "name"))
    scopes = arg(args, "scopes", list, required=False) or list(clientcfg.SCOPES)
    for s in scopes:
        if s not in clientcfg.SCOPES:
            raise OpError("invalid", f"'{s}' is not a scope: use imap, pop3 or smtp")
    uris = arg(args, "redirect_uris", list)
    public = bool(arg(args, "public", bool, required=False))
    client_id = str(uuid.uuid4())
    secret = "" if public else secrets.token_urlsafe(32)

    def add(items) -> None:
        table = tomlkit.table()
        table["id"] = client_id
        table["name"] = arg(args, "client_name", required=False) or ""
        table["secret"] = clientcfg.secret_hash(secret) if secret else ""
        table["scopes"] = scopes
        table["redirect_uris"] = uris
        table["created"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        items.append(table)

    await apply_change(runtime, account_array_edit(runtime, account.name, "oauth2_client",
                                                   add),
                       what=f"account {account.name}: OAuth2 client {client_id} added")
    return {"account": account.name, "client_id": client_id, "client_secret": secret,
            "public": public, "scopes": scopes, "redirect_uris": uris}


@op("oauth2.list")
async def oauth2_list(runtime, args: dict) -> list:
    """OAuth2 clients (of one account, or all) with their live token count."""
    name = arg(args, "name", required=False)
    if name is not None:
        _account(runtime, name)
    counts = await _counts(runtime)
    return [client_json(runtime.config.account(a).name, c, counts.get(c.id, 0))
            for a, c in clientcfg.clients(runtime.config)
            if name is None or a == name.lower()]


@op("oauth2.show")
async def oauth2_show(runtime, args: dict) -> dict:
    """One client by its id."""
    c = clientcfg.find(runtime.config, arg(args, "client_id"))
    if c is None:
        raise OpError("not_found", f"no OAuth2 client '{args.get('client_id')}'")
    counts = await _counts(runtime)
    return client_json(runtime.config.account(c.account).name, c, counts.get(c.id, 0))


@op("oauth2.delete")
async def oauth2_delete(runtime, args: dict) -> dict:
    """Delete a client; its tokens stop working at once and are removed."""
    client_id = arg(args, "client_id")
    c = clientcfg.find(runtime.config, client_id)
    if c is None:
        raise OpError("not_found", f"no OAuth2 client '{client_id}'")
    account = runtime.config.account(c.account)

    def delete(items) -> None:
        for i, table in enumerate(items):
            if str(table.get("id", "")) == client_id:
                del items[i]
                return

    await apply_change(runtime, account_array_edit(runtime, account.name, "oauth2_client",
                                                   delete),
                       what=f"account {account.name}: OAuth2 client {client_id} deleted")
    removed = await runtime.store.oauth.revoke_client(client_id)
    return {"account": account.name, "client_id": client_id, "deleted": True,
            "tokens_removed": removed}


@op("oauth2.urls")
async def oauth2_urls(runtime, args: dict) -> dict:
    """The endpoints to give a mail program or script (the seed's "Copy URLs")."""
    from ...oauth.web import metadata

    if not runtime.config.listen.http:
        raise OpError("unavailable", "the HTTP/OAuth2 server is off: set [listen] http "
                                     "(e.g. [\"0.0.0.0:6080\"]) and reload")
    meta = metadata(runtime)
    return {k: v for k, v in meta.items() if k == "issuer" or k.endswith("_endpoint")}


@op("oauth2.introspect")
async def oauth2_introspect(runtime, args: dict) -> dict:
    """What a token is: active, account, client, scope, expiry (RFC 7662 fields)."""
    from ...oauth.web import introspect_token

    return await introspect_token(runtime, arg(args, "token"))


@op("oauth2.login_finish")
async def oauth2_login_finish(runtime, args: dict) -> dict:
    """Finish a provider sign-in begun by ``external.oauth2_start`` or
    ``outgoing.oauth2_start``: exchange the code the browser brought back; the refresh
    token goes into the config file (0600), never into the answer."""
    from ...oauth.remote import KEEPER, RemoteAuthError

    try:
        key, scope = await KEEPER.complete(arg(args, "state"), arg(args, "code"))
    except KeyError:
        raise OpError("not_found", "no sign-in under way with this state (it expires after "
                                   "10 minutes): start again") from None
    except RemoteAuthError as exc:
        raise OpError("failed", f"the provider refused: {exc}") from None
    return {"target": "/".join(k for k in key if k), "scope": scope}
