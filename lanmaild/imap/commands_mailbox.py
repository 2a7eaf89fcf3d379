"""Authenticated-state commands: SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND, NAMESPACE.

Folder names: every folder of an account lives under INBOX with "." as the hierarchy
separator (INBOX.SENT, INBOX.Drafts, INBOX.Trash, INBOX.Junk, INBOX.Customers.Meier ...).
NAMESPACE announces the personal namespace ``(("INBOX." "."))`` (as Courier and Cyrus do),
so Thunderbird, Apple Mail and mbsync create new folders under INBOX by themselves; a
CREATE outside INBOX is refused with ``NO [CANNOT]``. Names are Unicode in the store and
modified UTF-7 on the wire.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..mime.render import quoted
from ..store.mailbox import FolderExists, KeywordLimit, flags_to_bits
from . import utf7
from .base import AUTH, Bad, No, Ok, command
from .listmatch import Pattern, PatternError
from .selected import SelectedMailbox, check_flags, flags_bytes, uid_set_text

if TYPE_CHECKING:
    from .parser import Command
    from .session import Session

SEP = "."
MAX_NAME = 255
BIG_MESSAGE = 256 * 1024


def wire_name(name: str) -> bytes:
    return quoted(utf7.encode(name))


def check_new_name(name: str) -> None:
    """A name a client may create: under INBOX, no empty levels, no wildcards."""
    if name == "INBOX":
        raise No("INBOX always exists", "ALREADYEXISTS")
    if not name.startswith("INBOX" + SEP):
        raise No('Folders live under INBOX: create "INBOX.' + name + '" instead', "CANNOT")
    if len(name) > MAX_NAME or any(not part for part in name.split(SEP)) or \
            any(c in name for c in "%*") or any(ord(c) < 0x20 for c in name):
        raise No("Invalid folder name", "CANNOT")


# ------------------------------------------------------------------ SELECT / EXAMINE


@command("SELECT", "EXAMINE", states=AUTH)
async def select(s: Session, cmd: Command) -> None:
    name, condstore, qresync = cmd.args
    if qresync is not None and not s.qresync:
        raise Bad("Use ENABLE QRESYNC before SELECT (QRESYNC ...)")
    if condstore:
        s.condstore = True
    readonly = cmd.name == "EXAMINE"
    if s.selected is not None and s.qresync:
        s.untagged("OK [CLOSED] Previous mailbox closed")
    s.deselect()
    view = await s.store.folder_view(s.user, name)
    if view is None:
        raise No(f"No such folder: {name}", "NONEXISTENT")
    info = view.folder
    last = info.uidnext - 1
    recent_from = view.recent_uid
    if not readonly and view.recent_uid < last:
        recent_from = await s.store.claim_recent(info.id, last)
    box = SelectedMailbox(view, readonly, recent_from, s.hub.watch(info.id))
    s.select(box)
    s.announce_flags(readonly)
    s.untagged(b"%d EXISTS" % box.exists)
    s.untagged(b"%d RECENT" % len(box.recent))
    if view.first_unseen_uid is not None:
        s.untagged(b"OK [UNSEEN %d] First unseen" % box.seq_of(view.first_unseen_uid))
    s.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % info.uidvalidity)
    s.untagged(b"OK [UIDNEXT %d] Predicted next UID" % info.uidnext)
    s.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % info.highestmodseq)
    if qresync is not None and qresync.uidvalidity == info.uidvalidity:
        await _resync(s, box, qresync)
    raise Ok(f"{cmd.name} completed", "READ-ONLY" if readonly else "READ-WRITE")


async def _resync(s: Session, box: SelectedMailbox, q) -> None:
    """QRESYNC (RFC 7162 3.2.5.1): what was expunged and what changed since ``q.modseq``.

    Every expunge is kept as a tombstone with its modseq, so VANISHED (EARLIER) is exact
    and the sequence-match data of the request is not needed."""
    known = q.known_uids.ranges(box.known_uid) if q.known_uids is not None else None
    gone = [u for u in await s.store.vanished(box.folder_id, q.modseq)
            if known is None or any(lo <= u <= hi for lo, hi in known)]
    if gone:
        s.untagged("VANISHED (EARLIER) " + uid_set_text(gone))
    uids = list(box.uids)
    for part in box.chunks(uids, 5000):
        rows = await s.store.fetch_rows(box.folder_id, part,
                                        ("uid", "flags", "keywords", "modseq"), q.modseq)
        for uid, flags, keywords, modseq in rows:
            s.untagged(b"%d FETCH (UID %d FLAGS %s MODSEQ (%d))" % (
                box.seq_of(uid), uid, flags_bytes(flags, keywords, uid in box.recent), modseq))
        await s.maybe_flush()


# ------------------------------------------------------------------ CREATE / DELETE / RENAME


@command("CREATE", states=AUTH)
async def create(s: Session, cmd: Command) -> None:
    (name,) = cmd.args
    name = name.rstrip(SEP) if name != SEP else name
    check_new_name(name)
    try:
        await s.store.create_folder(s.user, name)
    except FolderExists:
        raise No("Folder exists already", "ALREADYEXISTS") from None
    s.log.info("create folder %s", name)


@command("DELETE", states=AUTH)
async def delete(s: Session, cmd: Command) -> None:
    (name,) = cmd.args
    if name == "INBOX":
        raise No("INBOX cannot be deleted", "CANNOT")
    if s.selected is not None and s.selected.name == name:
        s.deselect()
    if not await s.store.delete_folder(s.user, name):
        raise No(f"No such folder: {name}", "NONEXISTENT")
    s.log.info("delete folder %s", name)


@command("RENAME", states=AUTH)
async def rename(s: Session, cmd: Command) -> None:
    old, new = cmd.args
    new = new.rstrip(SEP)
    check_new_name(new)
    if old != "INBOX" and new.startswith(old + SEP):
        raise No("A folder cannot be moved into itself", "CANNOT")
    try:
        await s.store.rename_folder(s.user, old, new)
    except KeyError:
        raise No(f"No such folder: {old}", "NONEXISTENT") from None
    except FolderExists:
        raise No("Target folder exists already", "ALREADYEXISTS") from None
    s.log.info("rename folder %s -> %s", old, new)


# ------------------------------------------------------------------ SUBSCRIBE / UNSUBSCRIBE


@command("SUBSCRIBE", states=AUTH)
async def subscribe(s: Session, cmd: Command) -> None:
    (name,) = cmd.args
    if not await s.store.set_subscribed(s.user, name, True):
        raise No(f"No such folder: {name}", "NONEXISTENT")


@command("UNSUBSCRIBE", states=AUTH)
async def unsubscribe(s: Session, cmd: Command) -> None:
    (name,) = cmd.args
    await s.store.set_subscribed(s.user, name, False)  # stale names: just succeed


# ------------------------------------------------------------------ LIST / LSUB


def _tree(names: list[str]) -> tuple[set[str], set[str]]:
    """(names with children, parents that exist only implicitly)."""
    real = set(names)
    parents: set[str] = set()
    for name in names:
        parts = name.split(SEP)
        for i in range(1, len(parts)):
            parents.add(SEP.join(parts[:i]))
    return parents, parents - real


@command("LIST", "LSUB", states=AUTH)
async def list_(s: Session, cmd: Command) -> None:
    """LIST and LSUB (RFC 3501 6.3.8, 6.3.9). Patterns are matched by ``listmatch`` in
    linear time and bounded in size: a pattern runs on the loop every session shares."""
    ref, pattern = cmd.args
    if not pattern and cmd.name == "LIST":
        s.untagged(b'LIST (\\Noselect) "." ""')
        return
    try:  # RFC 3501 6.3.8: the reference and the pattern are read as one name
        matcher = Pattern(ref + pattern)
    except PatternError as exc:
        raise Bad(str(exc)) from None
    folders = await s.store.list_folders(s.user)
    if cmd.name == "LSUB":
        folders = [f for f in folders if f.subscribed]
    by_name = {f.name: f for f in folders}
    has_children, implicit = _tree(list(by_name))
    rows = []
    for name in sorted(set(by_name) | implicit):
        if not matcher.matches(name):
            continue
        attrs: list[str] = []
        info = by_name.get(name)
        if info is None:
            attrs.append("\\Noselect")
        if cmd.name == "LIST":
            attrs.append("\\HasChildren" if name in has_children else "\\HasNoChildren")
            if info is not None and info.special_use:
                attrs.append(info.special_use)
        rows.append(f"{cmd.name} ({' '.join(attrs)}) \"{SEP}\" ".encode() + wire_name(name))
    for row in rows:
        s.untagged(row)


# ------------------------------------------------------------------ STATUS


@command("STATUS", states=AUTH)
async def status(s: Session, cmd: Command) -> None:
    name, items = cmd.args
    info = await s.store.get_folder(s.user, name)
    if info is None:
        raise No(f"No such folder: {name}", "NONEXISTENT")
    values = []
    for item in items:
        if item == "MESSAGES":
            values.append(f"MESSAGES {info.messages}")
        elif item == "RECENT":
            values.append(f"RECENT {await s.store.recent_count(info.id)}")
        elif item == "UIDNEXT":
            values.append(f"UIDNEXT {info.uidnext}")
        elif item == "UIDVALIDITY":
            values.append(f"UIDVALIDITY {info.uidvalidity}")
        elif item == "UNSEEN":
            values.append(f"UNSEEN {info.unseen}")
        elif item == "HIGHESTMODSEQ":
            values.append(f"HIGHESTMODSEQ {info.highestmodseq}")
    s.untagged(b"STATUS " + wire_name(info.name) + b" (" + " ".join(values).encode() + b")")


# ------------------------------------------------------------------ APPEND


def _parse(raw: bytes):
    from ..mime.parser import parse_message

    return parse_message(raw)


@command("APPEND", states=AUTH)
async def append(s: Session, cmd: Command) -> None:
    """APPEND, and MULTIAPPEND (RFC 3502): several messages are stored all or none, in
    one transaction; APPENDUID then names their UIDs as a set (RFC 4315)."""
    from ..mime.headers import normalize_crlf

    (args,) = cmd.args
    limit = s.runtime.config.limits.message_size
    raws = [normalize_crlf(m.message) for m in args.messages]
    if not all(raws):
        raise No("Empty message")
    if any(len(raw) > limit for raw in raws):
        raise No("Message too big", "TOOBIG")
    info = await s.store.get_folder(s.user, args.mailbox)
    if info is None:
        raise No(f"No such folder: {args.mailbox}", "TRYCREATE")
    quota = s.account.quota if s.account else 0
    if quota:
        used = sum(f.size for f in await s.store.list_folders(s.user))
        if used + sum(map(len, raws)) > quota:
            raise No("Mailbox is full", "OVERQUOTA")
    items = []
    for raw, m in zip(raws, args.messages, strict=True):
        bits, keywords = flags_to_bits(check_flags([f for f in m.flags
                                                    if f.lower() != "\\recent"]))
        parsed = await asyncio.to_thread(_parse, raw) if len(raw) > BIG_MESSAGE else _parse(raw)
        items.append((raw, parsed, bits, keywords, m.date))
    try:
        uidvalidity, uids = await s.store.append_many(s.user, info.name, items)
    except KeyError:
        raise No(f"No such folder: {args.mailbox}", "TRYCREATE") from None
    except KeywordLimit as exc:
        raise No(f"Too many keywords: {exc}", "LIMIT") from None
    s.log.info("append folder=%s uids=%s size=%d", info.name, _uid_set(uids),
               sum(map(len, raws)))
    raise Ok("APPEND completed", f"APPENDUID {uidvalidity} {_uid_set(uids)}")


def _uid_set(uids: list[int]) -> str:
    """UIDs of one transaction are consecutive: 'n' or 'first:last'."""
    return str(uids[0]) if len(uids) == 1 else f"{uids[0]}:{uids[-1]}"


# ------------------------------------------------------------------ NAMESPACE


@command("NAMESPACE", states=AUTH)
async def namespace(s: Session, cmd: Command) -> None:
    s.untagged(b'NAMESPACE (("INBOX." ".")) NIL NIL')
