"""autoresponder.show / autoresponder.set: an account's [autoresponder] section, edited
like ``lanmailctl account modify`` edits the file (tomlkit: comments kept; validated with
the whole configuration before anything is written; then reloaded)."""

from __future__ import annotations

import datetime as dt

import tomlkit

from ...autoresponder.settings import AutoresponderSettings, of
from ...config.apply import accounts_dir, apply_change
from ...config.writer import Change, find_item_file
from ..registry import OpError, arg, op

KEYS = {"enabled": bool, "from": str, "until": str, "subject": str, "text": str,
        "domain": str, "forward": str, "keep_copy": bool, "period": (str, int)}


def settings_json(s: AutoresponderSettings | None) -> dict:
    s = s or AutoresponderSettings()

    def when(v: dt.datetime | None) -> str:
        return v.strftime("%Y-%m-%d %H:%M") if v else ""

    return {"enabled": s.enabled, "active": s.active(), "from": when(s.start),
            "until": when(s.until), "subject": s.subject, "text": s.text, "domain": s.domain,
            "forward": "; ".join(s.forward), "keep_copy": s.keep_copy, "period": s.period}


def _account(runtime, name: str):
    account = runtime.config.account(name)
    if account is None:
        raise OpError("not_found", f"no account '{name}'")
    return account


@op("autoresponder.show")
async def autoresponder_show(runtime, args: dict) -> dict:
    """An account's autoresponder: its settings and whether it is active now."""
    account = _account(runtime, arg(args, "name"))
    return {"account": account.name, **settings_json(of(runtime.config, account.key))}


@op("autoresponder.set")
async def autoresponder_set(runtime, args: dict) -> dict:
    """Change the keys given (``permanent``: drop from/until); the rest stays."""
    account = _account(runtime, arg(args, "name"))
    values = {k: arg(args, k, kind, required=False) for k, kind in KEYS.items()}
    values = {k: v for k, v in values.items() if v is not None}
    permanent = arg(args, "permanent", bool, required=False, default=False)
    if not values and not permanent:
        raise OpError("bad_request", "nothing to change")

    def build(change: Change) -> None:
        path = find_item_file(accounts_dir(runtime.config_dir), account.name)
        if path is None:
            raise OpError("not_found", f"no account '{account.name}'")
        doc = change.doc(path)
        table = doc.get("autoresponder")
        if table is None:
            table = doc["autoresponder"] = tomlkit.table()
        if permanent:
            for key in ("from", "until"):
                if key in table:
                    del table[key]
        for key, value in values.items():
            if isinstance(value, str) and "\n" in value:
                value = tomlkit.string(value, multiline=True)
            table[key] = value
        change.put(path, doc, 0o600)

    what = ", ".join(sorted(values) + (["permanent"] if permanent else []))
    await apply_change(runtime, build,
                       what=f"account {account.name}: autoresponder changed: {what}")
    return {"account": account.name, **settings_json(of(runtime.config, account.key))}
