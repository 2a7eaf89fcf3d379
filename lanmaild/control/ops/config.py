"""``config.check``, the control API's helpers for names and arguments, and its entry to
``config.apply`` (the one path every change to conf.d takes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ...config import Config, ConfigError, load_config
from ...config import apply as config_apply
from ...config.writer import Change
from ...syntax import name_problem
from ..registry import OpError, op

log = logging.getLogger("lanmaild.control")


async def apply_change(runtime, build: Callable[[Change], Any],
                       before_commit: Callable[[], Awaitable[None]] | None = None,
                       what: str = "") -> Any:
    """``config.apply.apply_change`` (build may raise OpError); a configuration the loader
    refuses becomes OpError ``config`` with its one line (file:line: key: reason)."""
    try:
        return await config_apply.apply_change(runtime, build, before_commit, what)
    except ConfigError as exc:
        raise OpError("config", f"refused, nothing changed: {exc}") from None


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
    return config_apply.accounts_dir(runtime.config_dir)


def groups_dir(runtime) -> Path:
    return config_apply.groups_dir(runtime.config_dir)


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
