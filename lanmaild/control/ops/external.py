"""external.*: an account's external mailboxes ([[external]] in its file) and fetching now."""

from __future__ import annotations

import dataclasses

import tomlkit

from ...config.apply import account_array_edit, apply_change
from ..registry import OpError, arg, op

KEYS = {"protocol": str, "host": str, "port": int, "tls": str, "verify_tls": bool,
        "ca_file": str, "user": str, "password": str, "folders": list, "keep": bool,
        "delete_after_days": int, "multidrop": bool, "fallback": str, "interval": str,
        "idle": bool, "enabled": bool, "auth": str, "oauth2_provider": str,
        "oauth2_client_id": str, "oauth2_client_secret": str, "oauth2_tenant": str,
        "oauth2_auth_url": str, "oauth2_token_url": str, "oauth2_scope": str}


def _account(runtime, name: str):
    account = runtime.config.account(name)
    if account is None:
        raise OpError("not_found", f"no account '{name}'")
    return account


def mailbox_json(mb, state: dict | None) -> dict:
    """Settings (password as ***) and ``status`` (last fetch; ``progress`` while one runs)."""
    data = dataclasses.asdict(mb)
    data["password"] = "***" if mb.password else ""
    data["folders"] = list(mb.folders)
    data["auth"] = "xoauth2" if mb.oauth else "password"
    if mb.oauth is not None:  # never the client secret or the refresh token
        o = mb.oauth
        data["oauth"] = {"provider": o.provider, "client_id": o.client_id,
                         "client_secret": "***" if o.client_secret else "",
                         "auth_url": o.auth_url, "token_url": o.token_url, "scope": o.scope,
                         "signed_in": bool(o.refresh_token)}
    data["status"] = state or {"result": "never"}
    return data


@op("external.list")
async def external_list(runtime, args: dict) -> list:
    """External mailboxes (of one account, or all) with their last fetch."""
    name = arg(args, "name", required=False)
    fetcher = runtime.services.get("fetch")
    status = fetcher.status() if fetcher is not None else {}
    out = []
    for account in runtime.config.accounts.values():
        if name is not None and account.key != name.lower():
            continue
        for mb in account.extra.get("external", ()):
            out.append({"account": account.name,
                        **mailbox_json(mb, status.get(f"{account.key}/{mb.name}"))})
    if name is not None:
        _account(runtime, name)
    return out


@op("external.fetch")
async def external_fetch(runtime, args: dict) -> list:
    """Fetch now: one mailbox, or all of the account's; what happened per mailbox."""
    account = _account(runtime, arg(args, "name"))
    only = arg(args, "mailbox", required=False)
    fetcher = runtime.services.get("fetch")
    boxes = [mb for mb in account.extra.get("external", ())
             if only is None or mb.name.lower() == only.lower()]
    if not boxes:
        raise OpError("not_found", f"account {account.name} has no external mailbox"
                      + (f" '{only}'" if only else ""))
    out = []
    for mb in boxes:
        r = await fetcher.fetch_now(account.key, mb.name)
        out.append({"mailbox": mb.name, "fetched": r.fetched, "deleted": r.deleted,
                    "seen": r.seen, "error": r.error, "seconds": r.seconds})
    return out


def _edit(runtime, account, build_item):
    return account_array_edit(runtime, account.name, "external", build_item)


def _values(args: dict) -> dict:
    return {k: v for k, kind in KEYS.items()
            if (v := arg(args, k, kind, required=False)) is not None}


@op("external.add")
async def external_add(runtime, args: dict) -> dict:
    """Add an external mailbox to an account."""
    account = _account(runtime, arg(args, "name"))
    mailbox = arg(args, "mailbox")
    values = _values(args)
    if any(m.name.lower() == mailbox.lower() for m in account.extra.get("external", ())):
        raise OpError("exists", f"account {account.name} already has an external mailbox "
                      f"'{mailbox}'")

    def add(items) -> None:
        table = tomlkit.table()
        table["name"] = mailbox
        for k, v in values.items():
            table[k] = v
        items.append(table)

    await apply_change(runtime, _edit(runtime, account, add),
                       what=f"account {account.name}: external mailbox {mailbox} added")
    return {"account": account.name, "mailbox": mailbox}


@op("external.modify")
async def external_modify(runtime, args: dict) -> dict:
    """Change settings of an external mailbox (the keys given)."""
    account = _account(runtime, arg(args, "name"))
    mailbox = arg(args, "mailbox")
    values = _values(args)

    def modify(items) -> None:
        for table in items:
            if str(table.get("name", "")).lower() == mailbox.lower():
                for k, v in values.items():
                    table[k] = v
                return
        raise OpError("not_found", f"account {account.name} has no external mailbox "
                      f"'{mailbox}'")

    await apply_change(runtime, _edit(runtime, account, modify),
                       what=f"account {account.name}: external mailbox {mailbox} changed: "
                       + ", ".join(sorted(values)))
    return {"account": account.name, "mailbox": mailbox}


@op("external.delete")
async def external_delete(runtime, args: dict) -> dict:
    """Remove an external mailbox from an account (mail already fetched stays)."""
    account = _account(runtime, arg(args, "name"))
    mailbox = arg(args, "mailbox")

    def delete(items) -> None:
        for i, table in enumerate(items):
            if str(table.get("name", "")).lower() == mailbox.lower():
                del items[i]
                return
        raise OpError("not_found", f"account {account.name} has no external mailbox "
                      f"'{mailbox}'")

    await apply_change(runtime, _edit(runtime, account, delete),
                       what=f"account {account.name}: external mailbox {mailbox} deleted")
    return {"account": account.name, "mailbox": mailbox, "deleted": True}


def _oauth_mailbox(runtime, name: str, mailbox: str):
    account = _account(runtime, name)
    for mb in account.extra.get("external", ()):
        if mb.name.lower() == mailbox.lower():
            if mb.oauth is None:
                raise OpError("invalid", f"external mailbox {mb.name} does not use OAuth2: "
                              "set auth = \"xoauth2\" and its oauth2_* keys first")
            return account, mb
    raise OpError("not_found", f"account {account.name} has no external mailbox '{mailbox}'")


def loopback_redirect(args: dict) -> str:
    """The ``redirect_uri`` of a provider sign-in: lanmailctl's loopback listener."""
    from urllib.parse import urlsplit

    redirect = arg(args, "redirect_uri")
    u = urlsplit(redirect)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "::1", "localhost"):
        raise OpError("invalid", "redirect_uri must be a loopback http URI "
                                 "(http://127.0.0.1:PORT/...)")
    return redirect


@op("external.oauth2_start")
async def external_oauth2_start(runtime, args: dict) -> dict:
    """Begin the provider sign-in of an OAuth2 mailbox: the URL for the browser, which
    comes back to ``redirect_uri`` (lanmailctl's loopback listener, RFC 8252); finished by
    ``oauth2.login_finish``."""
    from ...fetch.client import tls_context
    from ...fetch.tokens import save_refresh_token
    from ...oauth.remote import KEEPER

    account, mb = _oauth_mailbox(runtime, arg(args, "name"), arg(args, "mailbox"))
    url = KEEPER.start((account.key, mb.name), mb.oauth, loopback_redirect(args),
                       tls_context(mb),
                       lambda token: save_refresh_token(runtime, account.key, mb.name, token))
    return {"account": account.name, "mailbox": mb.name, "url": url}
