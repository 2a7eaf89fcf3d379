"""Talk to lanmaild's control socket (one JSON object per line), and find that socket.

The socket path comes from ``--socket``, else from ``[server] control_socket`` of the
config dir's lanmaild.toml (read leniently: only that key matters here, so a broken
account file elsewhere does not stop the admin from reaching the daemon to fix it).
"""

from __future__ import annotations

import json
import socket
import tomllib
from pathlib import Path
from typing import Any


class CtlError(Exception):
    """A refused or failed request: ``code`` from the API, message for stderr."""

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.code = code


def socket_path_from_config(config_dir: Path) -> Path:
    main = config_dir / "lanmaild.toml"
    try:
        data = tomllib.loads(main.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CtlError(f"{main} not found: pass --config-dir DIR or --socket PATH") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CtlError(f"{main}: {exc}") from None
    server = data.get("server", {}) if isinstance(data.get("server"), dict) else {}
    base = config_dir.resolve()
    data_dir = Path(str(server.get("data_dir", "data"))).expanduser()
    data_dir = data_dir if data_dir.is_absolute() else base / data_dir
    sock = server.get("control_socket")
    if not sock:
        return (data_dir / "lanmaild.sock").resolve()
    p = Path(str(sock)).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


class Client:
    def __init__(self, path: Path, timeout: float = 120) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(str(self.path))
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                raise CtlError(f"lanmaild is not running (no answer on {self.path})",
                               "not_running") from None
            except PermissionError:
                s.close()
                raise CtlError(f"permission denied on {self.path}: run as root or as a member "
                               "of the admin group ([server] admin_group, e.g. "
                               "lanmail-admin)", "permission") from None
            self._sock = s
        return self._sock

    def call(self, op: str, **args: Any) -> Any:
        """Send one request; returns ``result`` or raises CtlError with the API's message."""
        s = self._connect()
        payload = {"op": op, "args": {k: v for k, v in args.items() if v is not None}}
        s.sendall(json.dumps(payload).encode() + b"\n")
        while b"\n" not in self._buf:
            chunk = s.recv(1 << 16)
            if not chunk:
                raise CtlError("lanmaild closed the connection", "disconnected")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            err = reply.get("error", {})
            raise CtlError(err.get("message", "request failed"), err.get("code", "error"))
        return reply.get("result")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
