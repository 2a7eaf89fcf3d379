"""Unix-socket JSON control API: one JSON object per line in, one per line out.

Request ``{"op": "account.add", "args": {...}}``; reply ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": {"code": "...", "message": "..."}}``. Ops are in ``registry.OPS``
and documented in lanmail-api(7). The socket is mode 0660 in a 0750 folder: whoever may
talk to it is an administrator (there is no further authentication on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from pathlib import Path

from .. import sysd
from ..config import ConfigError
from ..errors import StartupError
from ..net import new_session_id
from .registry import OPS, OpError

log = logging.getLogger("lanmaild.control")
MAX_REQUEST = 1024 * 1024


def _prepare_socket_path(path: Path) -> None:
    """Make the folder (0750 when we create it) and replace a stale socket from a crash."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o750)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):  # a file, folder or symlink: never ours to delete
        raise OSError(f"control socket path {path} exists and is not a socket; move it away "
                      "or set another [server] control_socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody answers: left over from a crash
    else:
        raise OSError(f"control socket {path} is in use by another process")
    finally:
        probe.close()


async def handle_request(runtime, line: bytes) -> dict:
    try:
        request = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error("bad_request", f"not a JSON object: {exc}")
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        return _error("bad_request", 'expected {"op": "...", "args": {...}}')
    args = request.get("args", {})
    if not isinstance(args, dict):
        return _error("bad_request", "'args' must be an object")
    return await run_op(runtime, request["op"], args)


async def run_op(runtime, name: str, args: dict) -> dict:
    """One op, its reply object (also the HTTP JSON API's, ``lanmaild.http.api``)."""
    entry = OPS.get(name)
    if entry is None:
        return _error("bad_request", f"unknown op '{name}' (see op 'help')")
    try:
        result = await entry.handler(runtime, args)
    except OpError as exc:
        return _error(exc.code, exc.message)
    except ConfigError as exc:
        return _error("config", str(exc))
    except Exception as exc:  # noqa: BLE001 - the caller gets a line, the log the traceback
        log.exception("control op %s failed", name)
        return _error("internal", f"{exc.__class__.__name__}: {exc}")
    return {"ok": True, "result": result}


def _error(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


async def start(runtime) -> list:
    from . import ops  # noqa: F401 - registers the operations

    path = runtime.config.server.control_socket
    try:
        _prepare_socket_path(path)
    except OSError as exc:
        raise StartupError(str(exc)) from None

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sid = new_session_id()
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    writer.write(json.dumps(_error("bad_request", "request too large"))
                                 .encode() + b"\n")
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                reply = await handle_request(runtime, line)
                op_name = _peek_op(line)
                log.info("control[%s] %s -> %s", sid, op_name,
                         "ok" if reply["ok"] else reply["error"]["code"])
                writer.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    old_umask = os.umask(0o117)
    try:
        server = await asyncio.start_unix_server(on_client, str(path), limit=MAX_REQUEST)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o660)
    sysd.admin_socket(path, runtime.config.server.admin_group)
    log.info("control socket %s", path)
    return [_UnlinkOnClose(server, path)]


def _peek_op(line: bytes) -> str:
    with contextlib.suppress(Exception):
        return str(json.loads(line).get("op"))[:64]
    return "?"


class _UnlinkOnClose:
    def __init__(self, server: asyncio.AbstractServer, path: Path) -> None:
        self.server, self.path = server, path

    def close(self) -> None:
        self.server.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def wait_closed(self) -> None:
        await self.server.wait_closed()
