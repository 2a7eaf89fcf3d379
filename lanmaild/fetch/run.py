"""Fetching one external mailbox: list, take what is new, queue it (remembered in the same
commit), and only then delete it on the server.

Order per message: download -> ``store.fetch.enqueue_fetched`` (the message is in the queue
and remembered, durably, or neither) -> (if not keep) DELE / \\Deleted. POP3 deletions
take effect at QUIT, IMAP ones at the UID EXPUNGE; a crash before that leaves the message
on the server, and the next fetch finds it remembered: it is deleted then, never delivered
again. A UIDVALIDITY change re-keys what was fetched by Message-ID + size first.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from dataclasses import dataclass, field

from ..delivery.address import resolve
from ..mime import parse_message
from . import client
from .tokens import access_token, refused

log = logging.getLogger("lanmaild.fetch")

_RECIPIENT_FIELDS = (b"delivered-to", b"x-original-to", b"envelope-to")
_ADDRESS_FIELDS = (b"to", b"cc")


@dataclass
class FetchResult:
    fetched: int = 0
    deleted: int = 0
    seen: int = 0  # on the server and fetched before
    todo: int = 0  # new on the server when listed (the progress bar's total)
    skipped: int = 0  # larger than limits.message_size: left on the server
    error: str = ""
    kind: str = ""  # error kind (auth, tls, dns, connect, protocol)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0


def _header(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw[: end + 2] if end >= 0 else raw


def _fields(header: bytes, names: tuple[bytes, ...]) -> list[str]:
    out = []
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", header)
    for line in unfolded.split(b"\r\n"):
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() in names:
            out.append(value.decode("utf-8", "replace").strip())
    return out


def envelope_sender(raw: bytes) -> str:
    header = _header(raw)
    for value in _fields(header, (b"return-path",)) + _fields(header, (b"from",)):
        addr = email.utils.parseaddr(value)[1]
        if "@" in addr or value.strip() == "<>":
            return addr
    return ""


def recipients(cfg, account: str, mb, raw: bytes) -> list[str]:
    """The account itself, or for a multi-drop mailbox the local accounts the message is
    for (envelope fields first, then To/Cc), else the fallback (default the postmaster)."""
    own = f"{account}@{cfg.primary_domain}"
    if not mb.multidrop:
        return [own]
    header = _header(raw)
    found: list[str] = []
    for names in (_RECIPIENT_FIELDS, _ADDRESS_FIELDS):
        for _n, addr in email.utils.getaddresses(_fields(header, names)):
            r = resolve(cfg, addr) if addr else None
            if r is not None and r.kind in ("account", "group") and r.address not in found:
                found.append(r.address)
        if found:
            return found
    fallback = mb.fallback or (cfg.postmaster.key if cfg.postmaster else account)
    return [fallback if "@" in fallback else f"{fallback}@{cfg.primary_domain}"]


def received(cfg, account: str, mb, protocol: str) -> bytes:
    return (f"Received: from {mb.host} by {cfg.server.hostname} (LANMail fetch "
            f"{account}/{mb.name}) with {protocol.upper()};\r\n\t"
            f"{email.utils.formatdate(localtime=True)}\r\n").encode()


def _spool_dir(cfg) -> str:
    """Downloads are spooled beside the store (not in /tmp, which may be a small tmpfs)."""
    path = cfg.server.data_dir / "spool"
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)


async def _download(runtime, account: str, mb, ident, download) -> bytes | None:
    """The message as it will be stored (Received: header first, CRLF line ends), held
    once in memory; None if the server no longer has it."""
    cfg = runtime.config
    head = received(cfg, account, mb, mb.protocol)
    spool = client.Spool(head, cfg.limits.message_size + len(head), _spool_dir(cfg))
    try:
        if not await asyncio.to_thread(download, ident, spool):
            return None
        return await asyncio.to_thread(spool.take)
    finally:
        spool.close()


async def _queue(runtime, where, key: str, account: str, mb, raw: bytes, size: int,
                 message_id: str) -> bool:
    cfg = runtime.config
    parsed = await asyncio.to_thread(parse_message, raw)
    qid = await runtime.store.fetch.enqueue_fetched(
        where, key, message_id, size, raw, parsed, envelope_sender(raw),
        recipients(cfg, account, mb, raw))
    if qid is None:
        return False
    worker = runtime.services.get("delivery")
    if worker is not None:
        worker.accepted(qid, raw, parsed)
    return True


def _expired(mb, fetched_at: int) -> bool:
    return bool(mb.delete_after_days) and time.time() - fetched_at > mb.delete_after_days * 86400


async def _take(runtime, where, account: str, mb, items: list, seen: dict,
                result: FetchResult, download) -> list:
    """Queue every message of ``items`` [(id, key, size, message-id or None)] that is not
    in ``seen`` (``download(id, spool)`` runs in a thread); returns the ids to delete on
    the server (taken now or before, when the mailbox does not keep mail, or keeps it
    only so many days)."""
    result.todo += sum(1 for _i, key, _s, _m in items if key not in seen)
    limit = runtime.config.limits.message_size
    delete = []
    for ident, key, size, mid in items:
        if key in seen:
            result.seen += 1
            if not mb.keep or _expired(mb, seen[key][2]):
                delete.append(ident)
            continue
        if size > limit:  # never downloaded; left on the server for the user to handle
            result.skipped += 1
            continue
        raw = await _download(runtime, account, mb, ident, download)
        if raw is None:
            continue
        if mid is None:
            mid = (_fields(_header(raw), (b"message-id",)) or [""])[0]
        if await _queue(runtime, where, key, account, mb, raw, size, mid):
            result.fetched += 1
        if not mb.keep:
            delete.append(ident)  # only after the commit in _queue
    return delete


def _gone(seen: dict, items: list) -> list[str]:
    """Remembered keys the server no longer lists (deleted there, or keys of an old
    UIDVALIDITY that did not re-key): forgetting them keeps the table bounded."""
    present = {key for _i, key, _s, _m in items}
    return [k for k in seen if k not in present]


async def fetch_pop3(runtime, account: str, mb, result: FetchResult) -> None:
    where = (account, mb.name, "")
    token = await access_token(runtime, account, mb)
    conn = await asyncio.to_thread(client.pop3_connect, mb, 60, token)
    try:
        listing, by_uidl = await asyncio.to_thread(client.pop3_listing, conn)
        seen = await runtime.store.fetch.seen(where)
        items = [(n, key, size, None) for n, key, size in listing]
        delete = await _take(runtime, where, account, mb, items, seen, result,
                             lambda n, spool: client.pop3_retr(conn, n, spool) or True)
        for n in delete:
            await asyncio.to_thread(conn.dele, n)
        await asyncio.to_thread(conn.quit)  # the deletions take effect here
        result.deleted = len(delete)
        conn = None
        await runtime.store.fetch.forget(where, _gone(seen, items))
        if not by_uidl:
            log.info("%s/%s: the POP3 server has no UIDL: messages are told apart by "
                     "Message-ID + size", account, mb.name)
    finally:
        if conn is not None:
            try:
                conn.close()  # no QUIT: the server forgets our DELEs (RFC 1939 6)
            except OSError:
                pass


async def fetch_imap(runtime, account: str, mb, result: FetchResult) -> None:
    token = await access_token(runtime, account, mb)
    conn = await asyncio.to_thread(client.imap_connect, mb, 60, token)
    try:
        for folder in mb.folders:
            await _imap_folder(runtime, conn, account, mb, folder, result)
        await asyncio.to_thread(conn.logout)
        conn = None
    finally:
        if conn is not None:
            try:
                conn.shutdown()
            except OSError:
                pass


async def _imap_folder(runtime, conn, account: str, mb, folder: str,
                       result: FetchResult) -> None:
    where = (account, mb.name, folder)
    store = runtime.store.fetch
    uidvalidity = await asyncio.to_thread(client.imap_select, conn, folder, mb.keep and
                                          not mb.delete_after_days)
    listing = await asyncio.to_thread(client.imap_listing, conn)
    seen = await store.seen(where)
    known = await store.uidvalidity(where)
    if known != uidvalidity:
        # new folder, or the server renumbered it: re-key by Message-ID + size
        by_identity = {(m, s): k for k, (m, s, _f) in seen.items() if m}
        moves = []
        for uid, size, mid in listing:
            old = by_identity.get((mid, size))
            if old is not None and old != f"{uidvalidity}:{uid}":
                moves.append((old, f"{uidvalidity}:{uid}"))
        await store.rekey(where, uidvalidity, moves)
        if known is not None:
            log.warning("%s/%s %s: UIDVALIDITY changed (%s -> %s): re-synchronised by "
                        "Message-ID + size", account, mb.name, folder, known, uidvalidity)
        seen = await store.seen(where)
    items = [(uid, f"{uidvalidity}:{uid}", size, mid) for uid, size, mid in listing]
    delete = await _take(runtime, where, account, mb, items, seen, result,
                         lambda uid, spool: client.imap_fetch(conn, uid, spool))
    await asyncio.to_thread(client.imap_delete, conn, delete)
    result.deleted += len(delete)
    await store.forget(where, _gone(seen, items))


async def fetch_one(runtime, account: str, mb, result: FetchResult | None = None
                    ) -> FetchResult:
    """Fetch one mailbox; ``result`` (if given) is filled in as it goes (progress)."""
    result = result if result is not None else FetchResult()
    t0 = time.monotonic()
    try:
        if mb.protocol == "pop3":
            await fetch_pop3(runtime, account, mb, result)
        else:
            await fetch_imap(runtime, account, mb, result)
    except client.FetchError as exc:
        result.error, result.kind = str(exc), exc.kind
        if exc.kind == "auth":
            refused(account, mb)
    except Exception as exc:  # noqa: BLE001 - one provider's trouble stays its own
        err = client.classify(exc)
        result.error, result.kind = str(err), err.kind
    result.seconds = round(time.monotonic() - t0, 3)
    if result.skipped and not result.error:
        result.error = (f"{result.skipped} message(s) larger than limits.message_size left "
                        "on the server")
        result.kind = "size"
    return result


async def check_login(runtime, account: str, mb) -> str | None:
    """Log in to an external mailbox and out again (``lanmailctl doctor``): None when that
    works, else the error (kind: message)."""
    try:
        token = await access_token(runtime, account, mb)
        if mb.protocol == "pop3":
            conn = await asyncio.to_thread(client.pop3_connect, mb, 20, token)
            await asyncio.to_thread(conn.quit)
        else:
            conn = await asyncio.to_thread(client.imap_connect, mb, 20, token)
            await asyncio.to_thread(conn.logout)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return str(client.classify(exc))
    return None
