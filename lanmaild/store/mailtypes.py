"""Values the mailbox store takes and hands out: flags, folder facts, change reports and
the store's exceptions. No SQL here."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_FOLDER_KEYWORDS = 256


FLAG_BITS = {"\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Deleted": 8, "\\Draft": 16}
SEEN = 1
DELETED = 8

DEFAULT_FOLDERS: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("INBOX.SENT", "\\Sent"),
    ("INBOX.Drafts", "\\Drafts"),
    ("INBOX.Trash", "\\Trash"),
    ("INBOX.Junk", "\\Junk"),
)


@dataclass(frozen=True)
class FolderInfo:
    id: int
    account: str
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    special_use: str | None
    subscribed: bool
    messages: int
    size: int
    unseen: int


@dataclass(frozen=True)
class Delivery:
    """One copy of a message to put into a folder (the pipeline's final stage)."""

    account: str
    folder: str
    flags: int = 0
    keywords: str | None = None


def flags_to_bits(flags: Iterable[str]) -> tuple[int, str | None]:
    """Split IMAP flags into the system-flag mask and the keyword text."""
    bits, keywords = 0, []
    for flag in flags:
        bit = next((b for name, b in FLAG_BITS.items() if name.lower() == flag.lower()), None)
        if bit is not None:
            bits |= bit
        elif flag and not flag.startswith("\\") and flag not in keywords:
            keywords.append(flag)
    return bits, (" ".join(keywords) or None)


def bits_to_flags(bits: int, keywords: str | None) -> list[str]:
    flags = [name for name, bit in FLAG_BITS.items() if bits & bit]
    if keywords:
        flags.extend(keywords.split())
    return flags


class AccountGone(Exception):
    """The account is not (or no longer) in the store: it was deleted. Only the
    configuration makes accounts (``ensure_accounts``); a session or a queued delivery of
    a deleted account must not bring it back with an empty mailbox that the next account
    of that name would inherit."""


class KeywordLimit(Exception):
    """A new keyword would exceed ``MAX_FOLDER_KEYWORDS`` in the folder."""


@dataclass
class FlagChange:
    """What ``set_flags`` did: the new modseq (0: nothing changed), (uid, flags, keywords,
    modseq) of every message it looked at, the UIDs it changed and those it skipped
    because of UNCHANGEDSINCE."""

    modseq: int = 0
    rows: list = field(default_factory=list)
    changed: set = field(default_factory=set)
    modified: list = field(default_factory=list)


class FolderExists(Exception):
    """CREATE/RENAME onto a name that is taken."""


@dataclass
class FolderView:
    """A folder as SELECT sees it: UIDs in order (array('I'), 4 bytes each)."""

    folder: FolderInfo
    uids: array
    first_unseen_uid: int | None
    recent_uid: int
    keywords: list = field(default_factory=list)  # in use in the folder (FLAGS)


@dataclass
class FolderChanges:
    highestmodseq: int = 0
    uidnext: int = 0
    new_uids: array = field(default_factory=lambda: array("I"))
    flags: list = field(default_factory=list)  # (uid, flags, keywords, modseq)
    expunged: list = field(default_factory=list)  # (uid, modseq)
    gone: bool = False  # the folder was deleted or renamed away
