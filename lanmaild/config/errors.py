"""ConfigError: one line an admin can act on (file, line, key, reason)."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    def __init__(
        self, path: Path | str, reason: str, *, key: str | None = None, line: int | None = None
    ) -> None:
        self.path = str(path)
        self.reason = reason
        self.key = key
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        what = f" key '{self.key}':" if self.key else ""
        return f"{where}:{what} {self.reason}"
