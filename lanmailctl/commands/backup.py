"""``lanmailctl backup DIR`` and ``lanmailctl restore DIR [--account A [--folder F]
[--since DATE]]``: an online backup; a full restore with lanmaild stopped; one mailbox or
folder back into the running server."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import tomllib
from pathlib import Path

import typer

from ..cli import JSON_OPTION, emit, fail, state


def backup(folder: Path = typer.Argument(..., metavar="DIR",
                                         help="a new (or empty) folder for the backup"),
           json_: bool = JSON_OPTION) -> None:
    """Back up the store, conf.d and the DKIM keys while lanmaild runs (a consistent copy:
    SQLite's online backup API). The folder is 0700: it holds password hashes and keys."""
    emit(state.call("backup", dir=str(folder.resolve())),
         lambda r: typer.echo(f"backup in {r['dir']}: {r['files']} files, "
                              f"{r['bytes'] / 2**20:.1f} MB, schema {r['schema']}"), json_)


def restore(folder: Path = typer.Argument(..., metavar="DIR", help="a lanmailctl backup"),
            account: str = typer.Option(None, "--account",
                                        help="only this account's mail, into the RUNNING "
                                             "server (messages still there are not doubled)"),
            mail_folder: str = typer.Option(None, "--folder", help="with --account: only "
                                                                   "this folder"),
            since: str = typer.Option(None, "--since", metavar="YYYY-MM-DD",
                                      help="with --account: only mail received since then"),
            data_dir: Path = typer.Option(None, "--data-dir",
                                          help="full restore: where the store goes (default: "
                                               "the restored lanmaild.toml's data_dir)"),
            json_: bool = JSON_OPTION) -> None:
    """Restore a backup: everything (lanmaild must be stopped), or with --account one
    mailbox or folder into the running server."""
    folder = folder.resolve()
    if account is None:
        if mail_folder or since:
            fail("--folder and --since go with --account", 2)
        emit(_restore_all(folder, data_dir),
             lambda r: typer.echo(f"restored conf.d to {r['config_dir']} and the store to "
                                  f"{r['data_dir']} (the previous files: {r['kept']}); "
                                  "start lanmaild"), json_)
        return
    stamp = None
    if since:
        try:
            stamp = int(dt.datetime.strptime(since, "%Y-%m-%d").timestamp())
        except ValueError:
            fail(f"--since takes a date like 2026-11-30, not '{since}'", 2)
    args = {"dir": str(folder), "name": account, "folder": mail_folder, "since": stamp}
    emit(state.call("mail.restore", **{k: v for k, v in args.items() if v is not None}),
         lambda r: typer.echo(f"{r['account']}: {r['restored']} message(s) restored into "
                              f"{', '.join(r['folders']) or '-'}, {r['skipped']} already "
                              "there"), json_)


def _running(data_dir: Path) -> bool:
    lock = data_dir / "lanmaild.lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _restore_all(folder: Path, data_dir: Path | None) -> dict:
    from lanmaild.control.ops.backup import DB_NAME, check_backup
    from lanmaild.control.registry import OpError
    from lanmaild.store.schema import LATEST

    try:
        manifest = check_backup(folder)
    except OpError as exc:
        fail(exc.message, 1)
    if manifest["schema"] > LATEST:
        fail(f"the backup's store has schema {manifest['schema']}; this lanmaild knows up "
             f"to {LATEST}: upgrade lanmaild first", 1)
    config_dir = state.config_dir.resolve()
    if data_dir is None:
        main = tomllib.loads((folder / "conf.d" / "lanmaild.toml").read_text())
        value = Path(main.get("server", {}).get("data_dir", "data")).expanduser()
        data_dir = value if value.is_absolute() else config_dir / value
    data_dir = data_dir.resolve()
    if _running(data_dir):
        fail(f"lanmaild is running on {data_dir}: stop it first (a full restore replaces "
             "its store); or restore one mailbox with --account", 1)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = config_dir.with_name(f"{config_dir.name}.before-restore-{stamp}")
    _set_aside(config_dir, data_dir, kept)
    shutil.copytree(folder / "conf.d", config_dir, dirs_exist_ok=True)
    data_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        old = data_dir / (DB_NAME + suffix)
        if old.exists():
            os.replace(old, kept / (DB_NAME + suffix))
    part = data_dir / (DB_NAME + ".part")
    shutil.copyfile(folder / DB_NAME, part)
    with open(part, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(part, 0o600)
    os.replace(part, data_dir / DB_NAME)
    if (folder / "dkim").is_dir():
        if (data_dir / "dkim").exists():
            shutil.move(data_dir / "dkim", kept / "dkim")
        shutil.copytree(folder / "dkim", data_dir / "dkim")
    return {"config_dir": str(config_dir), "data_dir": str(data_dir), "kept": str(kept),
            "created": manifest["created"]}


def _set_aside(config_dir: Path, data_dir: Path, kept: Path) -> None:
    """Move today's conf.d files (not a data folder inside it) to ``kept``."""
    kept.mkdir(mode=0o700, parents=True)
    if not config_dir.exists():
        return
    for path in config_dir.iterdir():
        if path == data_dir or data_dir in path.parents or path.resolve() == data_dir:
            continue
        shutil.move(path, kept / path.name)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
