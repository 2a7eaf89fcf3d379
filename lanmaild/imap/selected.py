"""The selected mailbox of one session: its own sequence-number -> UID map and what it has
told the client so far (RFC 3501 5.2, 7.4.1; RFC 2180).

Every session on a folder keeps its own view, loaded once at SELECT as a compact
``array('I')`` of UIDs (4 bytes per message). Other sessions' changes reach it through the
store's ``ChangeHub`` (an Event set after each commit) and ``folder_changes`` (new UIDs
above the highest known one, flag changes by modseq, expunges from tombstones). They are
reported only at the moments the RFC allows: ``poll(expunges=False)`` during FETCH, STORE
and SEARCH by sequence number, so numbers never shift under a client mid-command.
"""

from __future__ import annotations

import asyncio
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from ..store.mailbox import FLAG_BITS, MAX_FOLDER_KEYWORDS, FolderView
from .base import Bad
from .parser import SeqSet

FLAG_NAMES = tuple((bit, name) for name, bit in FLAG_BITS.items())
SYSTEM_FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
_SETTABLE = {name.lower() for name in FLAG_BITS}


def check_flags(flags: list[str]) -> list[str]:
    """Flags a client may set (STORE, APPEND): the system flags of RFC 3501 2.3.2 and
    keywords. An unknown system flag (or \\Recent, which only the server sets) is a
    client error: BAD, never a silent drop."""
    for flag in flags:
        if flag.startswith("\\") and flag.lower() not in _SETTABLE:
            raise Bad(f"{flag} is not a flag a client can set")
    return flags


def flag_lists(keywords: set[str], readonly: bool) -> tuple[bytes, bytes]:
    """The untagged FLAGS and PERMANENTFLAGS lines for the folder's keywords (RFC 3501
    7.2.6, 7.1): ``\\*`` (new keywords allowed) until the folder holds the most it may."""
    names = " ".join([SYSTEM_FLAGS, *sorted(keywords)])
    flags = b"FLAGS (" + names.encode() + b")"
    if readonly:
        return flags, b"OK [PERMANENTFLAGS ()] No permanent flags in read-only mode"
    star = " \\*" if len(keywords) < MAX_FOLDER_KEYWORDS else ""
    return flags, b"OK [PERMANENTFLAGS (" + names.encode() + star.encode() + b")] Flags permitted"


def flags_bytes(flags: int, keywords: str | None, recent: bool = False) -> bytes:
    """The parenthesised flag list of a FETCH FLAGS response."""
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    if recent:
        names.append("\\Recent")
    if keywords:
        names.extend(keywords.split())
    return ("(" + " ".join(names) + ")").encode("ascii", "replace")


def uid_set_text(uids: list[int]) -> str:
    """Compact "1:3,5,9:10" form of ascending UIDs (for COPYUID/APPENDUID)."""
    out: list[str] = []
    i, n = 0, len(uids)
    while i < n:
        j = i
        while j + 1 < n and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(str(uids[i]) if i == j else f"{uids[i]}:{uids[j]}")
        i = j + 1
    return ",".join(out)


class SelectedMailbox:
    def __init__(self, view: FolderView, readonly: bool, recent_from: int,
                 event: asyncio.Event) -> None:
        info = view.folder
        self.folder_id = info.id
        self.name = info.name
        self.readonly = readonly
        self.uidvalidity = info.uidvalidity
        self.uids: array = view.uids
        self.known_uid = info.uidnext - 1
        self.flag_modseq = info.highestmodseq
        self.exp_modseq = info.highestmodseq
        self.recent: set[int] = {u for u in view.uids[bisect_right(view.uids, recent_from):]}
        self.event = event
        self.own_modseqs: set[int] = set()
        self.keywords: set[str] = set(view.keywords)  # announced in FLAGS (RFC 3501 7.2.6)
        self.exp_pending = False  # expunges seen by the hub but not yet reported

    def new_keywords(self, keywords: str | None) -> bool:
        """Remember keywords seen in a response; True if one is new to the client, which
        must then get a fresh FLAGS list before it sees the keyword used."""
        if not keywords:
            return False
        fresh = [k for k in keywords.split() if k not in self.keywords]
        self.keywords.update(fresh)
        return bool(fresh)

    def own_change(self, modseq: int) -> None:
        """This session changed flags at ``modseq`` (its own event was not woken). If
        nothing else happened since the last poll, the view is simply current at
        ``modseq``: no store read and no list to keep. Otherwise remember it, so the next
        poll does not report the session's own change back to it."""
        if modseq == self.flag_modseq + 1 and not self.event.is_set():
            self.flag_modseq = modseq
        else:
            self.own_modseqs.add(modseq)

    # ------------------------------------------------------------ numbering

    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int:
        """1-based sequence number of ``uid``, 0 if not in this view."""
        i = bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return 0

    def resolve(self, seqs: SeqSet, by_uid: bool) -> list[int] | None:
        """The UIDs a sequence set names, ascending; None if a sequence number is out of
        range (the caller answers BAD). UID ranges are intersected with the view by
        bisection, so "1:4294967295" costs nothing."""
        uids = self.uids
        if by_uid:
            star = uids[-1] if uids else self.known_uid
            out: list[int] = []
            for lo, hi in seqs.ranges(star):
                out.extend(uids[bisect_left(uids, lo):bisect_right(uids, hi)])
            return out
        n = len(uids)
        if n == 0 or seqs.max_value(n) > n:
            return None
        out = []
        for lo, hi in seqs.ranges(n):
            out.extend(uids[lo - 1:hi])
        return out

    def uid_ranges_for_seqs(self, seqs: SeqSet) -> list[tuple[int, int]]:
        """SEARCH by sequence numbers: the matching UID ranges (out-of-range ones dropped)."""
        n = len(self.uids)
        out = []
        for lo, hi in seqs.ranges(n):
            hi = min(hi, n)
            if lo <= hi:
                out.append((self.uids[lo - 1], self.uids[hi - 1]))
        return out

    def uid_ranges_for_uids(self, seqs: SeqSet) -> list[tuple[int, int]]:
        star = self.uids[-1] if self.uids else self.known_uid
        return seqs.ranges(star)

    def remove(self, gone: set[int]) -> list[tuple[int, int]]:
        """Drop expunged UIDs; returns (sequence number, UID) of those that were in the
        view, highest first (so each EXPUNGE response is valid when it is sent)."""
        pairs = [(s, u) for s, u in ((self.seq_of(u), u) for u in gone) if s]
        if not pairs:
            return []
        pairs.sort(reverse=True)
        if len(pairs) <= 64:  # the usual case: delete in place (memmove in C), highest first
            for seq, _uid in pairs:
                del self.uids[seq - 1]
        else:
            self.uids = array("I", (u for u in self.uids if u not in gone))
        self.recent.difference_update(gone)
        return pairs

    @staticmethod
    def chunks(uids: list[int], size: int) -> Iterator[list[int]]:
        for i in range(0, len(uids), size):
            yield uids[i:i + size]
