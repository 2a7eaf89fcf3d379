"""mail.import, mail.export: Maildir, mbox and .eml in and out (``lanmaild.transfer``), in
batches (the caller passes ``offset``/``cursor`` back) so lanmailctl can draw progress."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ...store.backup import add_missing, folder_messages
from ...transfer import formats
from ..registry import OpError, arg, op

BATCH = 200


def _account(runtime, name: str):
    account = runtime.config.account(name)
    if account is None:
        raise OpError("not_found", f"no account '{name}'")
    return account


def _path(args: dict) -> Path:
    path = Path(arg(args, "path"))
    if not path.is_absolute():
        raise OpError("invalid", "give the path as an absolute path")
    return path


@op("mail.import")
async def mail_import(runtime, args: dict) -> dict:
    """Import messages ``offset``..``offset+limit`` of a Maildir, mbox or .eml source into
    an account (folders, flags and dates kept; what the folder holds already is skipped)."""
    account = _account(runtime, arg(args, "name"))
    kind = arg(args, "kind")
    if kind not in formats.KINDS_IN:
        raise OpError("invalid", f"kind: {', '.join(formats.KINDS_IN)}")
    path = _path(args)
    target = arg(args, "folder", required=False, default="INBOX")
    offset = arg(args, "offset", int, required=False, default=0)
    limit = max(1, min(arg(args, "limit", int, required=False, default=BATCH), 1000))
    try:
        items = await asyncio.to_thread(formats.listing, kind, path, target)
    except PermissionError:
        raise OpError("failed", f"lanmaild cannot read {path}: make it readable by the "
                                "user lanmaild runs as") from None
    except (OSError, ValueError) as exc:
        raise OpError("invalid", f"{path}: {exc}") from None
    imported = 0
    batch = items[offset:offset + limit]
    by_folder: dict[str, list] = {}
    for locator in batch:
        try:
            item = await asyncio.to_thread(formats.read, kind, locator)
        except (OSError, ValueError, KeyError) as exc:
            raise OpError("failed", f"{locator[1]}: {exc}") from None
        if len(item.raw) > runtime.config.limits.message_size:
            raise OpError("invalid", f"{locator[1]}: larger than limits.message_size")
        by_folder.setdefault(item.folder, []).append(
            (item.raw, item.flags, None, item.date))
    for folder, rows in by_folder.items():
        imported += await add_missing(runtime.store, account.key, folder, rows)
    done = offset + len(batch)
    return {"account": account.name, "total": len(items), "done": done,
            "imported": imported, "skipped": len(batch) - imported,
            "next": done if done < len(items) else None}


@op("mail.export")
async def mail_export(runtime, args: dict) -> dict:
    """Write an account's folders (or one) as Maildir or mbox, ``limit`` messages a call;
    pass the returned ``cursor`` back until it is null."""
    account = _account(runtime, arg(args, "name"))
    kind = arg(args, "kind")
    if kind not in formats.KINDS_OUT:
        raise OpError("invalid", f"kind: {', '.join(formats.KINDS_OUT)}")
    path = _path(args)
    only = arg(args, "folder", required=False)
    cursor = arg(args, "cursor", dict, required=False, default={"folder": 0, "uid": 0})
    limit = max(1, min(arg(args, "limit", int, required=False, default=BATCH), 1000))
    folders = [f for f in await runtime.store.mail.list_folders(account.key)
               if only is None or f.name == only]
    if only is not None and not folders:
        raise OpError("not_found", f"{account.name} has no folder '{only}'")
    index, after = int(cursor.get("folder", 0)), int(cursor.get("uid", 0))
    written = 0
    while index < len(folders) and written < limit:
        f = folders[index]
        wanted = limit - written
        rows = await folder_messages(runtime.store, account.key, f.name, after, wanted)
        try:
            await asyncio.to_thread(_write, kind, path, f, rows)
        except OSError as exc:
            raise OpError("failed", f"{path}: {exc.strerror or exc}") from None
        written += len(rows)
        if rows:
            after = rows[-1][0]
        if len(rows) < wanted:  # the folder is done
            index, after = index + 1, 0
    total = sum(f.messages for f in folders)
    return {"account": account.name, "written": written, "total": total,
            "folders": len(folders),
            "cursor": {"folder": index, "uid": after} if index < len(folders) else None}


def _write(kind: str, root: Path, folder, rows: list[tuple]) -> None:
    if kind == "maildir":
        formats.maildir_folder(root, folder.name)  # empty folders too
        for uid, raw, flags, _kw, date in rows:
            formats.write_maildir(root, folder.name, uid, raw, flags, date,
                                  folder.uidvalidity)
        return
    target = formats.mbox_path(root, folder.name)
    with open(target, "ab") as fh:
        for _uid, raw, flags, _kw, date in rows:
            fh.write(formats.mbox_entry(raw, flags, date))
        fh.flush()
        os.fsync(fh.fileno())
