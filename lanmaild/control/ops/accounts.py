"""account.add / modify / delete / list / show: conf.d/accounts/<name>.toml, one per account.

Every change goes through ``config.apply_change`` (validate the whole config with the edit
staged, write atomically with tomlkit, reload), so the API, lanmailctl and a hand edit +
reload give the same result. The password is hashed here (salted scrypt, in a thread) and
never written or logged in clear text.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tomllib
from pathlib import Path
from typing import Any

import tomlkit

from ...auth.passwords import hash_password
from ...config.units import parse_size
from ...config.writer import Change, find_item_file
from ..registry import OpError, arg, op
from .config import (
    accounts_dir,
    apply_change,
    check_name,
    check_unknown_args,
    name_taken,
    refers_to,
)

BOOL_KEYS = ("postmaster", "archive", "deny_internet", "save_sent", "einvoice", "keep_copy")
STR_KEYS = ("display_name", "forward_to", "sms_number")
SETTING_KEYS = ("display_name", "postmaster", "archive", "deny_internet", "save_sent",
                "einvoice", "forward_to", "keep_copy", "sms_number", "quota")
ADD_ARGS = {"name", "password", "force", *SETTING_KEYS}
log = logging.getLogger("lanmaild.control")


def _values(args: dict) -> dict[str, Any]:
    """The settings present in ``args``, type-checked (absent = leave as is)."""
    values: dict[str, Any] = {}
    for key in BOOL_KEYS:
        value = arg(args, key, bool, required=False)
        if value is not None:
            values[key] = value
    for key in STR_KEYS:
        value = arg(args, key, str, required=False)
        if value is not None:
            if any(ord(c) < 32 or ord(c) == 127 for c in value):
                raise OpError("invalid", f"'{key}' must not contain control characters "
                              "(line breaks, tabs)")
            values[key] = value.strip()
    if "quota" in args and args["quota"] is not None:
        try:
            values["quota"] = parse_size(arg(args, "quota", (int, str)))
        except ValueError as exc:
            raise OpError("invalid", f"quota: {exc}") from None
    return values


def _new_account_doc(name: str, password_hash: str, values: dict) -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"LANMail account '{name}', see lanmail.toml(5). Edit with "
                            "lanmailctl, or by hand and then 'lanmailctl reload'."))
    doc.add("password", password_hash)
    defaults: dict[str, Any] = {"display_name": "", "postmaster": False, "archive": False,
                                "deny_internet": False, "save_sent": False, "einvoice": False,
                                "forward_to": "", "keep_copy": False, "sms_number": "",
                                "quota": 0}
    for key, default in defaults.items():
        doc.add(key, values.get(key, default))
    doc["quota"].comment("bytes, 0 = no limit")
    return doc


def _move_postmaster(runtime, change: Change, name: str, force: bool) -> None:
    """Refuse (or with force, unset) postmaster on any other account file."""
    directory = accounts_dir(runtime)
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        if path.name.startswith(".") or path.stem.lower() == name.lower():
            continue
        try:
            holder = tomllib.loads(change.files.get(path) or path.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # a broken file is reported by the validation
        if holder.get("postmaster") is not True:
            continue
        if not force:
            raise OpError("conflict", f"'{path.stem}' is already the postmaster and only one "
                          f"account can be: use --force (\"force\": true) to move it to "
                          f"'{name}'")
        doc = change.doc(path)
        doc["postmaster"] = False
        change.put(path, doc)


def account_json(account, path: Path | None = None) -> dict:
    data = {key: getattr(account, key) for key in ("name", *SETTING_KEYS)}
    data["sections"] = sorted(account.extra)
    if path is not None:
        data["file"] = str(path)
    return data


async def _with_mail(runtime, account, folders: bool) -> dict:
    data = account_json(account, find_item_file(accounts_dir(runtime), account.name))
    infos = await runtime.store.mail.list_folders(account.key)
    data["messages"] = sum(f.messages for f in infos)
    data["size"] = sum(f.size for f in infos)
    if folders:
        data["folders"] = [{"name": f.name, "messages": f.messages, "size": f.size,
                            "unseen": f.unseen} for f in infos]
    return data


def _configured(runtime, name: str):
    account = runtime.config.account(name)
    if account is None:
        raise OpError("not_found", f"no account '{name}'")
    return account


@op("account.add")
async def account_add(runtime, args: dict) -> dict:
    """Create an account: conf.d/accounts/<name>.toml (mode 0600) and its folders."""
    check_unknown_args(args, ADD_ARGS)
    name = check_name(arg(args, "name"), "account")
    password = arg(args, "password")
    if not password:
        raise OpError("invalid", "the password must not be empty")
    values = _values(args)
    force = arg(args, "force", bool, required=False, default=False)
    password_hash = await asyncio.to_thread(hash_password, password)

    def build(change: Change) -> None:
        taken = name_taken(runtime, name)
        if taken == "account":
            raise OpError("exists", f"account '{name}' already exists (names are "
                          "case-insensitive)")
        if taken == "group":
            raise OpError("exists", f"a group named '{name}' exists; a group and an account "
                          "cannot share a name")
        if values.get("postmaster"):
            _move_postmaster(runtime, change, name, force)
        change.put(accounts_dir(runtime) / f"{name}.toml",
                   _new_account_doc(name, password_hash, values), 0o600)

    await apply_change(runtime, build, what=f"account {name} added")
    return await _with_mail(runtime, _configured(runtime, name), folders=True)


@op("account.modify")
async def account_modify(runtime, args: dict) -> dict:
    """Change settings (only the keys given) and/or the password of an account."""
    check_unknown_args(args, ADD_ARGS)
    name = check_name(arg(args, "name"), "account")
    password = arg(args, "password", required=False)
    if password is not None and not password:
        raise OpError("invalid", "the password must not be empty")
    values = _values(args)
    force = arg(args, "force", bool, required=False, default=False)
    password_hash = await asyncio.to_thread(hash_password, password) if password else None

    def build(change: Change) -> str:
        path = find_item_file(accounts_dir(runtime), name)
        if path is None:
            raise OpError("not_found", f"no account '{name}'")
        if values.get("postmaster"):
            _move_postmaster(runtime, change, path.stem, force)
        doc = change.doc(path)
        if password_hash:
            doc["password"] = password_hash
        for key, value in values.items():
            doc[key] = value
        change.put(path, doc, 0o600)
        return path.stem

    changed = ", ".join(sorted(values) + (["password"] if password else []))
    real_name = await apply_change(runtime, build,
                                   what="account {result} changed: " + changed)
    return await _with_mail(runtime, _configured(runtime, real_name), folders=True)


def _folder_dir(root: Path, folder: str) -> Path:
    safe = folder.replace("/", "_").replace("\0", "_")
    return root / ("_" if safe in (".", "..", "") else safe)


async def _export_mail(runtime, key: str, target: Path) -> int:
    """Write every message as <target>/<folder>/<uid>.eml (0600); returns the count."""

    def prepare() -> None:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise OpError("invalid", f"keep_mail: {target} exists and is not an empty folder")
        target.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(path: Path, raw: bytes) -> None:
        path.parent.mkdir(exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)

    try:
        await asyncio.to_thread(prepare)
        count = 0
        for folder, uid in await runtime.store.mail.all_uids(key):
            raw = await runtime.store.mail.read_raw(key, folder, uid)
            if raw is None:  # expunged meanwhile
                continue
            await asyncio.to_thread(write, _folder_dir(target, folder) / f"{uid}.eml", raw)
            count += 1
        await asyncio.to_thread(os.sync)
    except OSError as exc:
        raise OpError("failed", f"keep_mail: cannot write to {target}: "
                      f"{exc.strerror or exc}; nothing was deleted") from None
    return count


@op("account.delete")
async def account_delete(runtime, args: dict) -> dict:
    """Delete an account's file and all its mail; keep_mail exports the mail first."""
    check_unknown_args(args, {"name", "yes", "keep_mail"})
    name = check_name(arg(args, "name"), "account")
    keep_mail = arg(args, "keep_mail", required=False)
    if keep_mail is not None and not Path(keep_mail).is_absolute():
        raise OpError("bad_request", "keep_mail must be an absolute path (the daemon writes "
                      "there)")
    if not arg(args, "yes", bool, required=False, default=False):
        raise OpError("bad_request", f"deleting account '{name}' removes its file and all "
                      "its mail: confirm with \"yes\": true (lanmailctl: --yes)")
    cfg = runtime.config
    for group in cfg.groups.values():
        if any(refers_to(cfg, m, name) for m in group.members):
            raise OpError("conflict", f"account '{name}' is a member of group '{group.name}': "
                          "remove it there first")
    for other in cfg.accounts.values():
        if other.key != name.lower() and other.forward_to and \
                refers_to(cfg, other.forward_to, name):
            raise OpError("conflict", f"account '{other.name}' forwards to '{name}': change "
                          "its forward_to first")
    state: dict[str, Any] = {"exported": 0}

    def build(change: Change) -> str:
        path = find_item_file(accounts_dir(runtime), name)
        if path is None:
            raise OpError("not_found", f"no account '{name}'")
        change.delete(path)
        return path.stem

    async def export_then_drop_mail() -> None:
        # Mail goes before the file: a crash in between leaves an empty account to delete
        # again, never mail without an account that a new account of that name would see.
        if keep_mail is not None:
            state["exported"] = await _export_mail(runtime, name.lower(), Path(keep_mail))
        await runtime.store.mail.delete_account(name.lower())

    real_name = await apply_change(runtime, build, before_commit=export_then_drop_mail,
                                   what="account {result} deleted")
    if keep_mail is not None:
        log.info("account %s: %d messages exported to %s before the delete", real_name,
                 state["exported"], keep_mail)
    return {"name": real_name, "exported": state["exported"], "keep_mail": keep_mail}


@op("account.list")
async def account_list(runtime, args: dict) -> list:
    """All accounts with their settings and mail totals, sorted by name."""
    check_unknown_args(args, set())
    accounts = sorted(runtime.config.accounts.values(), key=lambda a: a.key)
    return [await _with_mail(runtime, a, folders=False) for a in accounts]


@op("account.show")
async def account_show(runtime, args: dict) -> dict:
    """One account's settings (never the hash) and its folders with counts and sizes."""
    check_unknown_args(args, {"name"})
    name = check_name(arg(args, "name"), "account")
    return await _with_mail(runtime, _configured(runtime, name), folders=True)
