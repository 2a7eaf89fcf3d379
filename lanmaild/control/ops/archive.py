"""archive.search / archive.show / archive.verify: the tamper-evident mail archive."""

from __future__ import annotations

import base64
import datetime as dt

from ...store.archive import ArchiveQueryError
from ..registry import OpError, arg, op


def _time(args: dict, key: str, end: bool = False) -> int | None:
    """'YYYY-MM-DD', 'YYYY-MM-DDTHH:MM[:SS]' (local time) or unix seconds; an until date
    without a time means the end of that day."""
    value = arg(args, key, (str, int), required=False)
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise OpError("invalid", f"{key}: '{value}' is not a date (YYYY-MM-DD or "
                      "YYYY-MM-DDTHH:MM)") from None
    if end and len(text) == 10:
        when += dt.timedelta(days=1)
    return int(when.timestamp())


@op("archive.search")
async def archive_search(runtime, args: dict) -> dict:
    """Find archived mail: full-text query (FTS5 over from, to, cc, subject, body text
    and attachment names) and/or account, from, to, since, until."""
    query = arg(args, "query", required=False)
    try:
        entries = await runtime.store.archive.search(
            query=query or None, account=arg(args, "account", required=False),
            sender=arg(args, "from", required=False), to=arg(args, "to", required=False),
            since=_time(args, "since"), until=_time(args, "until", end=True),
            limit=max(1, arg(args, "limit", int, required=False, default=1000)))
    except ArchiveQueryError as exc:
        raise OpError("invalid", f"bad search query: {exc}") from None
    return {"entries": entries}


@op("archive.show")
async def archive_show(runtime, args: dict) -> dict:
    """One archive entry (with ``raw``: the message bytes, base64)."""
    entry_id = arg(args, "id", int)
    raw = arg(args, "raw", bool, required=False, default=False)
    entry = await runtime.store.archive.show(entry_id, raw=raw)
    if entry is None:
        raise OpError("not_found", f"no archive entry {entry_id}")
    if raw:
        entry["raw"] = base64.b64encode(entry["raw"]).decode("ascii")
    return entry


@op("archive.anchor")
async def archive_anchor(runtime, args: dict) -> dict:
    """The head of the chain (entries, id, head hash and ``anchor`` = "ID:HASH") to keep
    outside the server; ``archive.verify`` with it proves nothing up to it was removed."""
    return await runtime.store.archive.anchor()


def _anchor(value) -> tuple[int, bytes] | None:
    if value is None:
        return None
    text = str(value).strip()
    entry, sep, digest = text.partition(":")
    try:
        if not sep or not entry.isdigit() or len(digest) != 64:
            raise ValueError
        return int(entry), bytes.fromhex(digest)
    except ValueError:
        raise OpError("invalid", f"anchor '{text[:80]}' is not ID:HASH as printed by "
                      "'lanmailctl archive anchor'") from None


@op("archive.verify")
async def archive_verify(runtime, args: dict) -> dict:
    """Check the SHA-256 chain over all entries; names the first broken entry. With
    ``anchor`` ("ID:HASH"), also that the anchored entry is still there, unchanged."""
    anchor = _anchor(arg(args, "anchor", str, required=False))
    return await runtime.store.archive.verify(anchor)
