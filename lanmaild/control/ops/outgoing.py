"""outgoing.* / account.outgoing.* / dkim.* / transport.webspace.upload: the settings and
tools of ``lanmaild.transports``.

Settings are edited like an admin edits the file: ``set`` takes dotted keys below
``[outgoing]`` (``transport``, ``smtp.host``, ``webspace.script_password``, ...), writes
them with tomlkit (comments kept) after the whole configuration validated with the change,
and reloads. Every key and value is checked by the same loader as at start-up, so a typo
gets the same "file:line: key 'outgoing.smtp.hots': unknown key" answer. ``show`` prints
secrets as ``***``; they are never logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import tomlkit

from ...config.apply import accounts_dir, apply_change
from ...config.loader import MAIN_FILE
from ...config.writer import Change, find_item_file
from ...transports.prepare import dkim_keys
from ...transports.settings import SECRET, account_settings, global_settings
from ..registry import OpError, arg, op

SECRET_FIELDS = {"password", "script_password", "smtp_password", "key_password",
                 "client_secret", "refresh_token"}  # the last two: smtp.oauth
_KEY_OK = set("abcdefghijklmnopqrstuvwxyz0123456789_-.")


def masked(settings) -> dict:
    """The settings as JSON, secrets replaced by *** (or "" when unset)."""

    def walk(value):
        if dataclasses.is_dataclass(value):
            return {f.name: (SECRET if getattr(value, f.name) else "")
                    if f.name in SECRET_FIELDS else walk(getattr(value, f.name))
                    for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return list(value)
        return value

    data = walk(settings)
    data.pop("smime", None)
    if settings.smime is not None:
        data["smime"] = walk(settings.smime)
    return data


def _apply_values(doc, values: dict, unset: list[str]) -> None:
    table = doc.get("outgoing")
    if table is None:
        table = doc["outgoing"] = tomlkit.table()
    for key, value in values.items():
        *parents, last = key.split(".")
        t = table
        for p in parents:
            if p not in t:
                t[p] = tomlkit.table()
            t = t[p]
        t[last] = value
    for key in unset:
        *parents, last = key.split(".")
        t = table
        for p in parents:
            t = t.get(p, {})
        if last in t:
            del t[last]


def _check_keys(values: dict, unset: list[str]) -> None:
    for key in [*values, *unset]:
        if not key or not set(key) <= _KEY_OK or key.startswith(".") or ".." in key:
            raise OpError("invalid", f"'{key}' is not a settings key (e.g. smtp.host)")
    for key, value in values.items():
        if not isinstance(value, (str, int, bool, list)):
            raise OpError("invalid", f"{key}: a value must be a string, number, true/false "
                          "or a list")


async def _set(runtime, path_of, values: dict, unset: list[str], what: str) -> None:
    _check_keys(values, unset)

    def build(change: Change) -> None:
        path = path_of()
        doc = change.doc(path)
        _apply_values(doc, values, unset)
        change.put(path, doc, 0o600)

    await apply_change(runtime, build, what=what)


@op("outgoing.show")
async def outgoing_show(runtime, args: dict) -> dict:
    """The global [outgoing] settings (secrets as ***)."""
    return masked(global_settings(runtime.config))


@op("outgoing.set")
async def outgoing_set(runtime, args: dict) -> dict:
    """Set (``values``: {dotted key: value}) or remove (``unset``) global [outgoing] keys."""
    values = arg(args, "values", dict, required=False, default={})
    unset = arg(args, "unset", list, required=False, default=[])
    changed = ", ".join(sorted([*values, *unset]))
    await _set(runtime, lambda: runtime.config_dir / MAIN_FILE, values, unset,
               f"[outgoing] changed: {changed}")
    return masked(global_settings(runtime.config))


def _account_file(runtime, name: str) -> Path:
    path = find_item_file(accounts_dir(runtime.config_dir), name)
    if path is None:
        raise OpError("not_found", f"no account '{name}'")
    return path


@op("account.outgoing.show")
async def account_outgoing_show(runtime, args: dict) -> dict:
    """An account's [outgoing] settings (secrets as ***)."""
    name = arg(args, "name")
    if runtime.config.account(name) is None:
        raise OpError("not_found", f"no account '{name}'")
    return masked(account_settings(runtime.config, name))


@op("account.outgoing.set")
async def account_outgoing_set(runtime, args: dict) -> dict:
    """Set or remove keys of an account's [outgoing] section."""
    name = arg(args, "name")
    values = arg(args, "values", dict, required=False, default={})
    unset = arg(args, "unset", list, required=False, default=[])
    _account_file(runtime, name)
    changed = ", ".join(sorted([*values, *unset]))
    await _set(runtime, lambda: _account_file(runtime, name), values, unset,
               f"account {name}: [outgoing] changed: {changed}")
    return masked(account_settings(runtime.config, name))


# --------------------------------------------------------------------------- DKIM


def _key_json(key) -> dict:
    return {"domain": key.domain, "selector": key.selector, "bits": key.bits,
            "created": key.created, "file": str(key.path), "dns_name": key.dns_name,
            "dns_record": key.public_record()}


@op("dkim.generate")
async def dkim_generate(runtime, args: dict) -> dict:
    """Make a DKIM key for a domain; returns the DNS TXT record to publish."""
    domain = arg(args, "domain").lower()
    selector = arg(args, "selector", required=False, default="lanmail")
    bits = arg(args, "bits", int, required=False, default=2048)
    keys = dkim_keys(runtime.config.server.data_dir)
    try:
        key = await asyncio.to_thread(keys.generate, domain, selector, bits)
    except FileExistsError as exc:
        raise OpError("exists", str(exc)) from None
    except ValueError as exc:
        raise OpError("invalid", str(exc)) from None
    return _key_json(key)


@op("dkim.list")
async def dkim_list(runtime, args: dict) -> list:
    """The DKIM keys (the newest of a domain signs)."""
    keys = dkim_keys(runtime.config.server.data_dir)
    return [_key_json(k) for k in await asyncio.to_thread(keys.list)]


@op("dkim.show")
async def dkim_show(runtime, args: dict) -> list:
    """One domain's DKIM keys with their DNS records."""
    domain = arg(args, "domain").lower()
    keys = dkim_keys(runtime.config.server.data_dir)
    try:
        found = await asyncio.to_thread(keys.list, domain)
    except ValueError as exc:
        raise OpError("invalid", str(exc)) from None
    if not found:
        raise OpError("not_found", f"no DKIM key for {domain}: make one with 'lanmailctl "
                      f"dkim generate {domain}'")
    return [_key_json(k) for k in found]


@op("dkim.delete")
async def dkim_delete(runtime, args: dict) -> dict:
    """Delete a DKIM key (mail from the domain is then signed by its next newest key)."""
    domain = arg(args, "domain").lower()
    selector = arg(args, "selector")
    keys = dkim_keys(runtime.config.server.data_dir)
    try:
        deleted = await asyncio.to_thread(keys.delete, domain, selector)
    except ValueError as exc:
        raise OpError("invalid", str(exc)) from None
    if not deleted:
        raise OpError("not_found", f"no DKIM key {selector} for {domain}")
    return {"domain": domain, "selector": selector, "deleted": True}


# --------------------------------------------------------------------------- webspace


@op("transport.webspace.upload")
async def webspace_upload(runtime, args: dict) -> dict:
    """Upload the PHP scripts to the webspace and test the call (account or global)."""
    from ...transports.webspace import StepError, upload_scripts

    name = arg(args, "name", required=False)
    if name is not None:
        if runtime.config.account(name) is None:
            raise OpError("not_found", f"no account '{name}'")
        settings = account_settings(runtime.config, name)
        where = f"account {name}"
    else:
        settings = global_settings(runtime.config)
        where = "the global [outgoing]"
    s = settings.webspace
    missing = [k for k in ("host", "user", "script_url", "script_password")
               if not getattr(s, k)]
    if missing:
        raise OpError("config", f"{where} has no webspace {', '.join(missing)}: set "
                      "[outgoing.webspace] first")
    try:
        return await upload_scripts(s)
    except StepError as exc:
        raise OpError("failed", f"step {exc}") from None


@op("outgoing.oauth2_start")
async def outgoing_oauth2_start(runtime, args: dict) -> dict:
    """Begin the sign-in for a smarthost that takes XOAUTH2 (global, or an account's
    [outgoing.smtp] with ``account``): the URL for the browser; finished by
    ``oauth2.login_finish``."""
    from ...oauth.remote import KEEPER
    from ...transports import xoauth2
    from ...transports.settings import account_settings
    from .external import loopback_redirect

    name = arg(args, "account", required=False)
    if name is None:
        smtp = global_settings(runtime.config).smtp
    else:
        account = runtime.config.account(name)
        if account is None:
            raise OpError("not_found", f"no account '{name}'")
        smtp = account_settings(runtime.config, account.key).smtp
    if smtp.oauth is None:
        raise OpError("invalid", "[outgoing.smtp] does not use OAuth2: set auth = "
                                 "\"xoauth2\" and its oauth2_* keys first")
    url = KEEPER.start(xoauth2.key(smtp), smtp.oauth, loopback_redirect(args),
                       xoauth2.tls_context(smtp),
                       lambda token: xoauth2.save_refresh_token(runtime, smtp.source, token))
    return {"url": url}
