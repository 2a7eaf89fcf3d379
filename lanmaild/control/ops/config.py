"""``config.check`` and the one path every control-API change to conf.d takes.

``apply_change`` is what account.*, group.* (and later areas' ops) call: under one lock it
validates the complete configuration with the change staged in memory (so a refused change
leaves every file untouched), writes the files atomically with tomlkit (comments and hand
formatting survive), then runs ``runtime.reload()``: exactly what a hand edit followed by
``lanmailctl reload`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ...config import Config, ConfigError, load_config
from ...config.loader import name_problem
from ...config.writer import Change
from ..registry import OpError, op

log = logging.getLogger("lanmaild.control")
_change_lock = asyncio.Lock()


async def apply_change(runtime, build: Callable[[Change], Any],
                       before_commit: Callable[[], Awaitable[None]] | None = None,
                       what: str = "") -> Any:
    """Stage edits with ``build(change)`` (may raise OpError), validate, write, reload.

    ``before_commit`` runs after the validation passed and before any file is written
    (account.delete exports and drops the mail there). Returns what ``build`` returned.
    A ConfigError from the validation becomes OpError ``config`` with the loader's one line
    (file:line: key: reason); nothing was written then. ``what`` is logged once it is done
    (e.g. "account meier added"; never a password).
    """
    async with _change_lock:
        change = Change(runtime.config_dir)
        result = build(change)
        if not change.files:
            return result
        try:
            await asyncio.to_thread(change.validate)
        except ConfigError as exc:
            raise OpError("config", f"refused, nothing changed: {exc}") from None
        if before_commit is not None:
            await before_commit()
        await asyncio.to_thread(change.commit)
        if what:
            log.info("%s", what.format(result=result))
        await runtime.reload()
        return result


def check_name(name: Any, kind: str) -> str:
    if not isinstance(name, str):
        raise OpError("bad_request", f"argument 'name' must be a string ({kind} name)")
    problem = name_problem(name, kind)
    if problem:
        raise OpError("invalid", problem)
    return name


def check_unknown_args(args: dict, allowed: set[str]) -> None:
    for key in args:
        if key not in allowed:
            raise OpError("bad_request", f"unknown argument '{key}' (allowed: "
                          f"{', '.join(sorted(allowed))})")


def refers_to(cfg: Config, address: str, name: str) -> bool:
    """Does ``address`` (a bare local name or name@domain) mean local account/group ``name``?"""
    local, _, domain = address.partition("@")
    return local.lower() == name.lower() and (not domain or cfg.is_local_domain(domain))


def accounts_dir(runtime) -> Path:
    return runtime.config_dir / "accounts"


def groups_dir(runtime) -> Path:
    return runtime.config_dir / "groups"


def name_taken(runtime, name: str) -> str | None:
    """'account' or 'group' when a file of that name (any case) exists in conf.d."""
    from ...config.writer import find_item_file

    if find_item_file(accounts_dir(runtime), name):
        return "account"
    if find_item_file(groups_dir(runtime), name):
        return "group"
    return None


def _load(config_dir: Path) -> Config:
    return load_config(config_dir)


@op("config.check")
async def config_check(runtime, args: dict) -> dict:
    """Validate conf.d as it is on disk now, without applying it (a dry-run reload)."""
    check_unknown_args(args, set())
    try:
        cfg = await asyncio.to_thread(_load, runtime.config_dir)
    except ConfigError as exc:
        raise OpError("config", str(exc)) from None
    return {"valid": True, "config_dir": str(cfg.config_dir), "accounts": len(cfg.accounts),
            "groups": len(cfg.groups)}
