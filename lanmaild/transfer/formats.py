"""Maildir, mbox and .eml (see the package doc). Blocking: called in threads."""

from __future__ import annotations

import calendar
import mailbox
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..mime import normalize_crlf
from ..store.mailtypes import FLAG_BITS

SEEN, ANSWERED, FLAGGED, DELETED, DRAFT = (FLAG_BITS[f] for f in (
    "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"))
MAILDIR_LETTERS = (("D", DRAFT), ("F", FLAGGED), ("R", ANSWERED), ("S", SEEN),
                   ("T", DELETED))  # Maildir wants them in ASCII order
KINDS_IN = ("maildir", "mbox", "eml")
KINDS_OUT = ("maildir", "mbox")


@dataclass(frozen=True)
class Item:
    folder: str
    raw: bytes
    flags: int
    date: int


# --------------------------------------------------------------------------- listing


def _maildir_folders(root: Path) -> list[tuple[str, Path]]:
    out = []
    if (root / "cur").is_dir() or (root / "new").is_dir():
        out.append(("INBOX", root))
    for sub in sorted(root.iterdir()):
        if sub.name.startswith(".") and sub.name not in (".", "..") and \
                ((sub / "cur").is_dir() or (sub / "new").is_dir()):
            out.append(("INBOX" + sub.name, sub))
    return out


def _mbox_files(path: Path, target: str) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(target, path)]
    out = []
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        name = f.name[:-5] if f.name.endswith(".mbox") else f.name
        out.append(("INBOX" if name.upper() == "INBOX" else
                    name if name.startswith("INBOX.") else f"INBOX.{name}", f))
    return out


_OPEN: dict[tuple, mailbox.mbox] = {}  # an mbox is scanned once per file and change
_LOCK = threading.Lock()  # the open boxes are shared by the import threads


def _mbox(f: Path) -> mailbox.mbox:
    """The open mbox (its table of contents made once: opening it anew for every message
    would scan the whole file each time)."""
    st = f.stat()
    key = (str(f), st.st_mtime_ns, st.st_size)
    box = _OPEN.get(key)
    if box is None:
        if len(_OPEN) >= 8:
            for old in _OPEN.values():
                old.close()
            _OPEN.clear()
        box = _OPEN[key] = mailbox.mbox(f, create=False)
    return box


def _mbox_keys(f: Path) -> list:
    with _LOCK:
        return list(_mbox(f).keys())


def listing(kind: str, path: Path, target: str) -> list[tuple]:
    """Every message of the source as a locator, in a stable order."""
    if not path.exists():
        raise ValueError("no such file or folder")
    if kind == "maildir":
        if not _maildir_folders(path):
            raise ValueError("not a Maildir (no cur/ or new/ in it or in .Folder/)")
        return [(folder, str(f)) for folder, d in _maildir_folders(path)
                for sub in ("cur", "new") if (d / sub).is_dir()
                for f in sorted((d / sub).iterdir()) if f.is_file()]
    if kind == "mbox":
        return [(folder, str(f), k) for folder, f in _mbox_files(path, target)
                for k in _mbox_keys(f)]
    files = [path] if path.is_file() else sorted(path.rglob("*.eml"))
    return [(target, str(f)) for f in files if f.is_file()]


# --------------------------------------------------------------------------- reading


def _maildir_flags(name: str, new: bool) -> int:
    if new or ":2," not in name:
        return 0
    letters = name.rsplit(":2,", 1)[1]
    return sum(bit for letter, bit in MAILDIR_LETTERS if letter in letters)


_MBOX_META = re.compile(rb"^(status|x-status|x-keywords|x-uid|content-length):[^\n]*\n"
                        rb"(?:[ \t][^\n]*\n)*", re.I | re.M)
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.M)


def _mbox_item(folder: str, f: Path, key) -> Item:
    with _LOCK:
        box = _mbox(f)
        msg = box.get_message(key)
        raw = box.get_bytes(key)
    head, sep, body = raw.partition(b"\n\n")
    status = (msg.get("Status", "") or "") + (msg.get("X-Status", "") or "")
    flags = ((SEEN if "R" in status else 0) | (ANSWERED if "A" in status else 0) |
             (FLAGGED if "F" in status else 0) | (DELETED if "D" in status else 0) |
             (DRAFT if "T" in status else 0))
    raw = _MBOX_META.sub(b"", head + b"\n") + (sep[1:] if sep else b"") + body
    raw = _QUOTED_FROM.sub(rb"\1", raw)  # mboxrd: ">From " lines lose one ">"
    date = int(f.stat().st_mtime)
    from_line = msg.get_from() or ""
    m = re.search(r"\w{3} (\w{3}) +(\d+) (\d+:\d+:\d+) (\d{4})", from_line)
    if m:
        try:
            date = calendar.timegm(time.strptime(" ".join(m.groups()), "%b %d %H:%M:%S %Y"))
        except ValueError:
            pass
    return Item(folder, normalize_crlf(raw), flags, date)


def read(kind: str, locator: tuple) -> Item:
    if kind == "mbox":
        folder, f, key = locator
        return _mbox_item(folder, Path(f), key)
    folder, f = locator
    path = Path(f)
    raw = normalize_crlf(path.read_bytes())
    flags = _maildir_flags(path.name, path.parent.name == "new") if kind == "maildir" else 0
    return Item(folder, raw, flags, int(path.stat().st_mtime))


# --------------------------------------------------------------------------- writing


def maildir_folder(root: Path, folder: str) -> Path:
    """INBOX -> root, INBOX.X.Y -> root/.X.Y (Maildir++), made with cur/new/tmp."""
    d = root if folder.upper() == "INBOX" else root / ("." + folder.removeprefix("INBOX."))
    for sub in ("cur", "new", "tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def write_maildir(root: Path, folder: str, uid: int, raw: bytes, flags: int,
                  date: int, uidvalidity: int) -> None:
    d = maildir_folder(root, folder)
    letters = "".join(letter for letter, bit in MAILDIR_LETTERS if flags & bit)
    name = f"{date}.U{uidvalidity}_{uid}.lanmail:2,{letters}"
    tmp = d / "tmp" / name
    tmp.write_bytes(raw)
    os.utime(tmp, (date, date))
    os.replace(tmp, d / "cur" / name)


def mbox_path(root: Path, folder: str) -> Path:
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root / (re.sub(r"[/\\\\\0]", "_", folder) + ".mbox")


def mbox_entry(raw: bytes, flags: int, date: int) -> bytes:
    """One mboxrd entry: From_ line, LF line ends, quoted From lines, Status headers."""
    text = raw.replace(b"\r\n", b"\n")
    head, sep, body = text.partition(b"\n\n")
    status = b"RO" if flags & SEEN else b"O"
    xstatus = b"".join(letter for letter, bit in ((b"A", ANSWERED), (b"F", FLAGGED),
                                                    (b"D", DELETED), (b"T", DRAFT))
                       if flags & bit)
    head += b"\nStatus: " + status + (b"\nX-Status: " + xstatus if xstatus else b"")
    text = head + b"\n\n" + (body if sep else b"")
    text = re.sub(rb"^(>*From )", rb">\1", text, flags=re.M)
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(date)).encode()
    return b"From MAILER-DAEMON " + stamp + b"\n" + text.rstrip(b"\n") + b"\n\n"
