"""Edit conf.d files the way an admin would, keeping their comments and layout.

tomlkit round-trips the file (comments and hand formatting survive); the new text is
written to a temp file in the same folder, fsynced, then renamed over the old one, so a
crash leaves either the old or the new file, never half of one. Files holding secrets
(account files carry a password hash) are created 0600.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.toml_document import TOMLDocument


def atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        # Keep the admin's mode, but a file meant to be private never stays world-readable.
        mode = path.stat().st_mode & 0o777 & ~(0o007 if not mode & 0o007 else 0)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_document(path: Path) -> TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    return tomlkit.parse(path.read_text(encoding="utf-8"))


def remove(path: Path) -> None:
    path.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def inside(directory: Path, path: Path) -> bool:
    """Is ``path`` (resolved, symlinks followed) within ``directory``?"""
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def find_item_file(directory: Path, name: str) -> Path | None:
    """The file of account/group ``name`` in ``directory`` (names are case-insensitive).
    A name that is not a plain file name (a path, "..") never finds anything, whatever
    the caller checked before: no conf.d edit may reach outside conf.d."""
    if not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        return None
    exact = directory / f"{name}.toml"
    if not inside(directory, exact):
        return None
    if exact.exists():
        return exact
    key = name.lower()
    if directory.is_dir():
        for path in directory.glob("*.toml"):
            if path.stem.lower() == key and not path.name.startswith("."):
                return path
    return None


class Change:
    """A set of conf.d edits that is validated as a whole before any file is touched.

    ``doc()`` gives a tomlkit document (the staged version when this change already
    edited that file), ``put()``/``delete()`` stage new content. ``validate()`` runs the
    real loader over conf.d with the staged files in place of the disk ones (the full
    cross-file checks included), and only then does ``commit()`` write each file
    atomically, in the order they were staged. A refused change leaves the disk untouched.
    """

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = Path(config_dir).resolve()
        self.files: dict[Path, str | None] = {}
        self.modes: dict[Path, int] = {}

    def doc(self, path: Path) -> TOMLDocument:
        if path in self.files:
            return tomlkit.parse(self.files[path] or "")
        return load_document(path)

    def put(self, path: Path, doc: TOMLDocument | str, mode: int = 0o600) -> None:
        self._check(path)
        self.files[path] = doc if isinstance(doc, str) else tomlkit.dumps(doc)
        self.modes[path] = mode

    def delete(self, path: Path) -> None:
        self._check(path)
        self.files[path] = None

    def _check(self, path: Path) -> None:
        if not inside(self.config_dir, path):
            raise ValueError(f"refusing to write {path}: outside {self.config_dir}")

    def validate(self):
        from .loader import load_config

        return load_config(self.config_dir, overlay=self.files)

    def commit(self) -> None:
        for path, text in self.files.items():
            if text is None:
                if path.exists():
                    remove(path)
            else:
                atomic_write(path, text, self.modes.get(path, 0o600))
