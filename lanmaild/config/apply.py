"""The one path every change of conf.d made by lanmaild itself takes.

The control API (account.*, group.*) and the authenticator (upgrading a password hash at
log-in) stage their edits with ``build(change)``; under one lock the complete configuration
is validated with the change in memory (a refused change leaves every file untouched), the
files are written atomically with tomlkit (comments and hand formatting survive), and then
``runtime.reload()`` runs: exactly what a hand edit followed by ``lanmailctl reload`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .writer import Change

log = logging.getLogger("lanmaild.config")
_change_lock = asyncio.Lock()


async def apply_change(runtime, build: Callable[[Change], Any],
                       before_commit: Callable[[], Awaitable[None]] | None = None,
                       what: str = "") -> Any:
    """Stage edits with ``build(change)``, validate, write, reload; returns what ``build``
    returned. A ConfigError from the validation propagates and nothing is written.
    ``before_commit`` runs after the validation and before any file is written.
    ``what`` is logged once it is done (never a password)."""
    async with _change_lock:
        change = Change(runtime.config_dir)
        result = build(change)
        if not change.files:
            return result
        await asyncio.to_thread(change.validate)
        if before_commit is not None:
            await before_commit()
        await asyncio.to_thread(change.commit)
        if what:
            log.info("%s", what.format(result=result))
        await runtime.reload()
        return result


def accounts_dir(config_dir: Path) -> Path:
    return config_dir / "accounts"


def groups_dir(config_dir: Path) -> Path:
    return config_dir / "groups"


def account_array_edit(runtime, account_name: str, key: str,
                       edit: Callable[[Any], Any]) -> Callable[[Change], Any]:
    """A ``build`` for ``apply_change`` that edits the array of tables ``key`` (e.g.
    ``[[external]]``, ``[[oauth2_client]]``) in an account's file with ``edit(items)``;
    an emptied array is removed. The file stays 0600 (it may hold secrets)."""
    import tomlkit

    from .writer import find_item_file

    def build(change: Change) -> Any:
        path = find_item_file(accounts_dir(runtime.config_dir), account_name)
        doc = change.doc(path)
        items = doc.get(key)
        if items is None:
            items = tomlkit.aot()
            doc[key] = items
        result = edit(items)
        if len(items) == 0:
            del doc[key]
        change.put(path, doc, 0o600)
        return result

    return build
