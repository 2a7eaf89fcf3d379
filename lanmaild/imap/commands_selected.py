"""Selected-state commands: CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, SEARCH, FETCH, STORE, COPY,
MOVE (each also as UID ...), and IDLE (RFC 2177; also valid when authenticated).

Set-based throughout: FETCH reads its rows in chunks with one statement per chunk (the next
chunk is read while the current one is written), writes as it goes and waits for the
socket (``drain``) between chunks, so a 100,000-message FETCH never holds more than a chunk.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..store.mailbox import SEEN, KeywordLimit, flags_to_bits
from . import fetch as fetchmod
from .base import AUTH, SELECTED, Bad, Bye, No, Ok, command
from .search import translate
from .selected import SelectedMailbox, check_flags, uid_set_text

if TYPE_CHECKING:
    from .parser import Command
    from .session import Session

META_CHUNK = 2000
BODY_CHUNK = 200
BODY_BYTES = 1024 * 1024  # per chunk; a FETCH holds about two (the next one is read ahead)


def _resolve(s: Session, cmd: Command, seqs) -> list[int]:
    box = s.require_selected()
    uids = box.resolve(seqs, cmd.uid)
    if uids is None:
        raise Bad(f"Invalid message sequence number (there are {box.exists} messages)")
    return uids


# ------------------------------------------------------------------ CLOSE / UNSELECT / EXPUNGE


@command("CLOSE", "UNSELECT", states=SELECTED)
async def close(s: Session, cmd: Command) -> None:
    box = s.require_selected()
    if cmd.name == "CLOSE" and not box.readonly:
        await s.store.expunge(box.folder_id, box.known_uid)
    s.deselect()
    raise Ok(f"{cmd.name} completed")  # no untagged responses for the old folder


@command("EXPUNGE", "UID EXPUNGE", states=SELECTED)
async def expunge(s: Session, cmd: Command) -> None:
    box = s.require_writable()
    only = _resolve(s, cmd, cmd.args[0]) if cmd.uid else None
    if only is not None and not only:
        return
    gone = await s.store.expunge(box.folder_id, box.known_uid, only)
    s.report_expunged(set(gone))
    if gone:
        s.log.info("expunge folder=%s count=%d", box.name, len(gone))


# ------------------------------------------------------------------ SEARCH


@command("SEARCH", "UID SEARCH", states=SELECTED)
async def search(s: Session, cmd: Command) -> None:
    box = s.require_selected()
    charset, keys = cmd.args
    program = translate(box, charset, keys)
    with_modseq = _uses_modseq(keys)
    if with_modseq:
        s.condstore = True
    found = await s.store.search(box.folder_id, box.known_uid, program)
    if cmd.uid:
        numbers = [uid for uid, _ in found]
    else:
        numbers = [n for n in (box.seq_of(uid) for uid, _ in found) if n]
    out = bytearray(b"* SEARCH")
    for n in numbers:
        out += b" %d" % n
    if with_modseq and found:
        out += b" (MODSEQ %d)" % max(m for _, m in found)
    s.send(bytes(out) + b"\r\n")
    pending = box.exp_pending or box.event.is_set()  # anything since the last report?
    if pending and any(box.seq_of(u)
                       for u in await s.store.vanished(box.folder_id, box.exp_modseq)):
        # RFC 2180 4.3: messages expunged by another session (not yet announced: RFC 3501
        # 7.4.1 forbids EXPUNGE during SEARCH) are not matched; RFC 5530 EXPUNGEISSUED
        # tells the client a NOOP will explain the gap.
        raise Ok("SEARCH completed; some messages were expunged by another session",
                 "EXPUNGEISSUED")


def _uses_modseq(key: tuple) -> bool:
    if key[0] == "MODSEQ":
        return True
    if key[0] == "AND":
        return any(_uses_modseq(k) for k in key[1])
    if key[0] in ("OR", "NOT"):
        return any(_uses_modseq(k) for k in key[1:])
    return False


# ------------------------------------------------------------------ FETCH


async def _body_chunks(s: Session, folder_id: int, uids: list[int]
                       ) -> list[tuple[list[int], int]]:
    """Chunks of at most BODY_CHUNK messages and about BODY_BYTES octets, so a FETCH of
    big messages never holds more than a few megabytes (sizes come from the index), each
    with its size in octets (small ones are read without a thread hop)."""
    chunks: list[tuple[list[int], int]] = []
    current: list[int] = []
    total = 0
    for part in SelectedMailbox.chunks(uids, META_CHUNK):
        for uid, size in await s.store.fetch_rows(folder_id, part, ("uid", "size")):
            if current and (len(current) >= BODY_CHUNK or total + size > BODY_BYTES):
                chunks.append((current, total))
                current, total = [], 0
            current.append(uid)
            total += size
    if current:
        chunks.append((current, total))
    return chunks


@command("FETCH", "UID FETCH", states=SELECTED)
async def fetch(s: Session, cmd: Command) -> None:
    box = s.require_selected()
    seqs, fargs = cmd.args
    atts, changedsince = fargs.atts, fargs.changedsince
    if fargs.vanished and not (cmd.uid and s.qresync):
        raise Bad("VANISHED needs UID FETCH and ENABLE QRESYNC")
    uids = _resolve(s, cmd, seqs)
    if fargs.vanished:
        ranges = seqs.ranges(box.known_uid)  # "*": expunged UIDs above the last count too
        gone = [u for u in await s.store.vanished(box.folder_id, changedsince)
                if any(lo <= u <= hi for lo, hi in ranges) and not box.seq_of(u)]
        if gone:
            s.untagged("VANISHED (EARLIER) " + uid_set_text(gone))
    if cmd.uid and not any(a.name == "UID" for a in atts):
        atts = [fetchmod.FetchAtt("UID"), *atts]
    if changedsince is not None and not any(a.name == "MODSEQ" for a in atts):
        atts = [*atts, fetchmod.FetchAtt("MODSEQ")]
    if any(a.name == "MODSEQ" for a in atts):
        s.condstore = True
    set_seen = not box.readonly and any(fetchmod.sets_seen(a) for a in atts)
    cols = fetchmod.columns(atts)
    if set_seen:
        cols = tuple(dict.fromkeys((*cols, "flags", "keywords")))
    has_flags = any(a.name == "FLAGS" for a in atts)
    if "raw" in cols or "header" in cols:
        chunks = await _body_chunks(s, box.folder_id, uids)
    else:
        chunks = [(c, None) for c in box.chunks(uids, META_CHUNK)]
    render = fetchmod.compile_renderer(atts, cols)
    kw_at = cols.index("keywords") if has_flags else None
    missing = 0
    pending: asyncio.Future | None = None  # the next chunk's read, while this one renders
    for i, (chunk, octets) in enumerate(chunks):
        changed: set[int] = set()
        if set_seen:
            result = await s.store.set_flags(box.folder_id, chunk, "+", SEEN, [],
                                             origin=box.event)
            if result.modseq:
                box.own_change(result.modseq)
            changed = result.changed
        if pending is None:
            rows = await s.store.fetch_rows(box.folder_id, chunk, cols, changedsince, octets)
        else:
            rows, pending = await pending, None
        if not set_seen and i + 1 < len(chunks):
            next_uids, next_octets = chunks[i + 1]
            pending = asyncio.ensure_future(
                s.store.fetch_rows(box.folder_id, next_uids, cols, changedsince, next_octets))
        if changedsince is None:
            missing += len(chunk) - len(rows)
        if kw_at is not None:  # a keyword new to the client: FLAGS first (RFC 3501 7.2.6)
            for row in rows:
                if row[kw_at]:
                    s.see_keywords(row[kw_at])
        recent = box.recent
        seq_of = box.seq_of
        out = [render(seq_of(row[0]), row, row[0] in recent,
                      not has_flags and row[0] in changed) for row in rows]
        s.send(b"".join(out))
        await s.maybe_flush()
    if missing:
        # RFC 2180 4.1.2: FETCH responses for the messages that still exist, then a tagged
        # NO, never a silent OK with a gap (RFC 5530 EXPUNGEISSUED: a NOOP tells which).
        if missing == len(uids):
            raise No("The messages were expunged by another session", "EXPUNGEISSUED")
        raise No("Some of the messages were expunged by another session", "EXPUNGEISSUED")


# ------------------------------------------------------------------ STORE


@command("STORE", "UID STORE", states=SELECTED)
async def store(s: Session, cmd: Command) -> None:
    box = s.require_writable()
    seqs, args = cmd.args
    uids = _resolve(s, cmd, seqs)
    if not uids:
        return
    bits, keywords = flags_to_bits(check_flags(args.flags))
    kw_list = keywords.split() if keywords else []
    if args.unchangedsince is not None:
        s.condstore = True
    modified: list[int] = []
    missing = 0
    for chunk in box.chunks(uids, 20000):
        try:
            result = await s.store.set_flags(box.folder_id, chunk, args.mode, bits, kw_list,
                                             args.unchangedsince, origin=box.event)
        except KeywordLimit as exc:
            raise No(f"Too many keywords: {exc}", "LIMIT") from None
        if result.modseq:
            box.own_change(result.modseq)
        modified.extend(result.modified)
        missing += len(chunk) - len(result.rows) - len(result.modified)
        recent = box.recent
        out = []
        for uid, flags, kw, modseq in result.rows:
            s.see_keywords(kw)
            # .SILENT: nothing, except MODSEQ news for CONDSTORE clients (RFC 7162 3.1.3)
            if args.silent and not (s.condstore and uid in result.changed):
                continue
            seq = box.seq_of(uid)
            if not seq:
                continue
            items = []
            if cmd.uid:
                items.append(b"UID %d" % uid)
            if not args.silent:
                items.append(b"FLAGS " + fetchmod.flags_bytes(flags, kw, uid in recent))
            if s.condstore:
                items.append(b"MODSEQ (%d)" % modseq)
            out.append(b"* %d FETCH (%s)\r\n" % (seq, b" ".join(items)))
        s.send(b"".join(out))
        await s.maybe_flush()
    if modified:
        listed = modified if cmd.uid else sorted(n for n in map(box.seq_of, modified) if n)
        raise Ok("Conditional STORE failed for some messages",
                 f"MODIFIED {uid_set_text(listed)}")
    if missing and not args.silent:
        # RFC 2180 4.2.2/4.2.3: flags set on the messages that still exist, then a tagged
        # NO; with .SILENT a plain OK (4.2.1).
        raise No("Some of the messages were expunged by another session", "EXPUNGEISSUED")


# ------------------------------------------------------------------ COPY / MOVE


@command("COPY", "UID COPY", "MOVE", "UID MOVE", states=SELECTED)
async def copy(s: Session, cmd: Command) -> None:
    box = s.require_writable() if cmd.base == "MOVE" else s.require_selected()
    seqs, dest_name = cmd.args
    uids = _resolve(s, cmd, seqs)
    dest = await s.store.get_folder(s.user, dest_name)
    if dest is None:
        raise No(f"No such folder: {dest_name}", "TRYCREATE")
    if not uids:
        return
    move = cmd.base == "MOVE"
    if move and dest.id == box.folder_id:
        raise No("Source and target folder are the same", "CANNOT")
    validity, src, new = await s.store.copy_messages(box.folder_id, uids, dest.id, move=move)
    if not src:
        raise No("The messages were expunged by another session", "EXPUNGEISSUED")
    code = f"COPYUID {validity} {uid_set_text(src)} {uid_set_text(new)}"
    s.log.info("%s %d messages %s -> %s", cmd.base.lower(), len(src), box.name, dest.name)
    if not move:
        raise Ok(f"{cmd.base} completed", code)
    s.untagged(f"OK [{code}] Moved")
    s.report_expunged(set(src))


# ------------------------------------------------------------------ IDLE


@command("IDLE", states=AUTH)
async def idle(s: Session, cmd: Command) -> None:
    s.send(b"+ idling\r\n")
    await s.poll(force=True)
    await s.flush()
    timeout = s.idle_timeout
    line_task = asyncio.ensure_future(s.reader.readline())
    try:
        while True:
            box = s.selected
            waiters = {line_task}
            event_task = None
            if box is not None:
                event_task = asyncio.ensure_future(box.event.wait())
                waiters.add(event_task)
            try:
                with s.waiting_for_client():
                    done, _ = await asyncio.wait(waiters, timeout=timeout,
                                                 return_when=asyncio.FIRST_COMPLETED)
            finally:
                if event_task is not None and not event_task.done():
                    event_task.cancel()
            if line_task in done:
                break
            if not done:
                raise Bye("Autologout; idle for too long")
            await s.poll()
            await s.flush()
    finally:
        if not line_task.done():
            line_task.cancel()
    line = line_task.result()
    if line.strip().upper() != b"DONE":
        raise Bad("Expected DONE to end IDLE")
