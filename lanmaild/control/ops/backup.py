"""backup, mail.restore: an online backup of the store and conf.d, and one mailbox (or
folder) from a backup back into the running server. The full restore is offline
(``lanmailctl restore``, with lanmaild stopped) and needs no op."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

from ... import __version__
from ...store.backup import copy_to, restore_messages, schema_version
from ..registry import OpError, arg, op

DB_NAME = "lanmail.db"
MANIFEST = "MANIFEST.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_tree(src: Path, dst: Path, skip: Path | None = None) -> None:
    for path in sorted(src.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            continue  # sockets, fifos, links: not configuration
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(mode=0o700, exist_ok=True)
        else:
            shutil.copy2(path, target)


def _write_backup(runtime, target: Path) -> dict:
    """Blocking: conf.d, the DKIM keys and the store into ``target`` (new or empty)."""
    data_dir = runtime.config.server.data_dir
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise OpError("exists", f"{target} is not empty: give a new folder")
    (target / "conf.d").mkdir(mode=0o700)
    # the data folder may sit inside conf.d (the shipped layout keeps it apart): skip it
    _copy_tree(runtime.config_dir, target / "conf.d", skip=data_dir)
    if (data_dir / "dkim").is_dir():
        (target / "dkim").mkdir(mode=0o700)
        _copy_tree(data_dir / "dkim", target / "dkim")
    copy_to(runtime.store.db, target / DB_NAME)
    files = {str(p.relative_to(target)): _sha256(p)
             for p in sorted(target.rglob("*")) if p.is_file()}
    manifest = {"created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lanmaild": __version__, "schema": schema_version(target / DB_NAME),
                "files": files}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    for p in [target, *target.rglob("*")]:
        os.chmod(p, 0o700 if p.is_dir() else 0o600)
    return {"dir": str(target), "files": len(files),
            "bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file()),
            "schema": manifest["schema"], "created": manifest["created"]}


@op("backup")
async def backup(runtime, args: dict) -> dict:
    """A consistent copy of the store, conf.d and the DKIM keys into a new folder, while
    the server runs (SQLite's online backup API)."""
    target = Path(arg(args, "dir"))
    if not target.is_absolute():
        raise OpError("invalid", "give the backup folder as an absolute path")
    try:
        return await asyncio.to_thread(_write_backup, runtime, target)
    except OSError as exc:
        raise OpError("failed", f"{target}: {exc.strerror or exc}") from None


def check_backup(folder: Path) -> dict:
    """The manifest of a backup folder, every file's checksum verified."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise OpError("invalid", f"{folder} is not a lanmail backup ({MANIFEST}: {exc})") \
            from None
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or _sha256(path) != digest:
            raise OpError("invalid", f"{path}: missing or changed since the backup")
    return manifest


@op("mail.restore")
async def mail_restore(runtime, args: dict) -> dict:
    """Put an account's mail (or one folder, optionally since a date) from a backup back
    into the running server; messages still there are not doubled."""
    folder = Path(arg(args, "dir"))
    account = runtime.config.account(arg(args, "name"))
    if account is None:
        raise OpError("not_found", f"no account '{args.get('name')}'")
    since = arg(args, "since", int, required=False)
    await asyncio.to_thread(check_backup, folder)
    try:
        result = await restore_messages(runtime.store, folder / DB_NAME, account.key,
                                        arg(args, "folder", required=False), since)
    except ValueError as exc:
        raise OpError("invalid", str(exc)) from None
    return {"account": account.name, **result}
