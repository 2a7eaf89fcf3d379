"""The ``folder`` transport (the seed's "Save in a Folder"): each envelope becomes one
``.eml`` file for the admin's own software.

The file is written to a hidden temp name in the same folder, fsynced, renamed to its
final unique name and the folder fsynced, so a reader never sees half a file and a crash
leaves either no file or the whole one. The envelope is kept in two header fields at the
top (``X-LANMail-Envelope-From``, ``X-LANMail-Envelope-To``), since Bcc recipients appear
nowhere else. A failure (disk full, no permission, missing folder) keeps the mail queued.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path

from .base import Envelope, Outcome, TransportError, all_sent


def envelope_header(env: Envelope) -> bytes:
    return (f"X-LANMail-Envelope-From: <{env.sender}>\r\n"
            f"X-LANMail-Envelope-To: {', '.join(f'<{r}>' for r in env.recipients)}\r\n"
            ).encode()


def unique_name(env: Envelope) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{env.name}-{secrets.token_hex(4)}.eml"


def _write(folder: Path, name: str, data: bytes) -> None:
    tmp = folder / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, folder / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FolderTransport:
    def __init__(self, settings) -> None:
        self.folder = Path(settings.path)

    async def send(self, env: Envelope) -> dict[str, Outcome]:
        name = unique_name(env)
        try:
            await asyncio.to_thread(_write, self.folder, name, envelope_header(env) + env.data)
        except OSError as exc:
            raise TransportError(f"cannot save to {self.folder}: {exc.strerror or exc}") \
                from None
        return all_sent(env, f"saved as {self.folder / name}")

    async def close(self) -> None:
        pass
