"""The real-daemon test harness: a lanmaild subprocess on free loopback ports.

``Daemon`` writes a temp conf.d, starts ``lanmaild`` as a subprocess and gives tests its
ports, a raw control-API client (``api``), the real CLI (``ctl``) and kill/restart for the
crash tests. Nothing is mocked: tests talk to it through real sockets. A plain module (not
a conftest) so every test folder can import it by name; the fixtures are in conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lanmaild.auth.passwords import hash_password as _hash_password

_HASHES: dict[str, str] = {}


def hash_password(password: str) -> str:
    """One scrypt hash per test password (each costs ~70 ms and the salt is irrelevant
    to what the tests check)."""
    if password not in _HASHES:
        _HASHES[password] = _hash_password(password)
    return _HASHES[password]

SHARED = Path(__file__).resolve().parents[2] / "shared"
SERVICES = ("smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps")
IMPLICIT_TLS = ("smtps", "pop3s", "imaps")
DOMAIN = "lan.test"


def shared_dir(*parts: str) -> Path:
    """A folder of ../shared; fails (not skips) with a clear message when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the project checkout")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


class Daemon:
    """A lanmaild subprocess and the conf.d it runs on."""

    def __init__(self, root: Path, tls: dict[str, Path] | None, extra_toml: str = "",
                 limits_toml: str = "") -> None:
        self.root = root
        self.conf = root / "conf.d"
        self.data = root / "data"
        self.socket = root / "data" / "lanmaild.sock"
        self.log_path = root / "lanmaild.log"
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        self.wrapper: list[str] = []  # runs lanmaild under this command (e.g. strace)
        self.limits_toml = limits_toml  # extra lines for [limits], e.g. "pop3_autologout = 1"
        (self.conf / "accounts").mkdir(parents=True)
        (self.conf / "groups").mkdir()
        self.write_main(extra_toml)

    # ------------------------------------------------------------------ config

    def main_toml(self, extra: str = "") -> str:
        # Implicit-TLS services need a certificate: without one they stay off.
        listen = "\n".join(f'{name} = ["127.0.0.1:{port}"]' for name, port in self.ports.items()
                           if self.tls or name not in IMPLICIT_TLS)
        tls = (f'[tls]\ncert = "{self.tls["cert"]}"\nkey = "{self.tls["key"]}"\n'
               if self.tls else "")
        return (
            "# test config\n[server]\n"
            'hostname = "mail.lan.test"\n'
            f'domains = ["{DOMAIN}", "second.test"]\n'
            f'data_dir = "{self.data}"\n'
            f'control_socket = "{self.socket}"\n'
            # extra_toml may set its own plaintext_auth (e.g. [] to test "STLS first")
            + ('plaintext_auth = ["127.0.0.0/8"]\n' if "plaintext_auth" not in extra else "")
            + f"{extra}\n"
            f"[listen]\n{listen}\n{tls}"
            "[limits]\n"
            + ("" if "message_size" in self.limits_toml else "message_size = 1048576\n")
            + ("" if "connections_per_ip" in self.limits_toml else "connections_per_ip = 50\n")
            + f"{self.limits_toml}\n"
        )

    def write_main(self, extra: str = "") -> None:
        path = self.conf / "lanmaild.toml"
        path.write_text(self.main_toml(extra))
        path.chmod(0o600)  # it may hold the smarthost password

    def add_account_file(self, name: str, password: str = "secret", **keys) -> None:
        """Write an account file directly (fast set-up; the CLI path has its own tests)."""
        lines = [f'password = "{hash_password(password)}"']
        for key, value in keys.items():
            lines.append(f"{key} = {json.dumps(value)}")
        path = self.conf / "accounts" / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    # ------------------------------------------------------------------ process

    def start(self, wait: bool = True) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._log = open(self.log_path, "ab")
        self._log_start = self.log_path.stat().st_size  # a restart waits for ITS ready line
        self.proc = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "lanmaild.main", "--config-dir",
             str(self.conf)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lanmaild exited {self.proc.returncode}:\n{self.log()}")
            if b"lanmaild ready" in self.log_path.read_bytes()[self._log_start:]:
                return
            time.sleep(0.05)
        raise RuntimeError(f"lanmaild did not become ready:\n{self.log()}")

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        """kill -9: the crash the never-lose-mail tests need."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close_log()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _close_log(self) -> None:
        with contextlib.suppress(Exception):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ------------------------------------------------------------------ control API

    def api(self, op: str, **args) -> dict:
        """One raw JSON request over the control socket; returns the whole reply object."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(str(self.socket))
            s.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return json.loads(buf)

    def ctl(self, *argv: str, input: str | None = None) -> subprocess.CompletedProcess:
        """Run the real lanmailctl against this daemon."""
        return subprocess.run(
            [sys.executable, "-m", "lanmailctl.cli", "--config-dir", str(self.conf), *argv],
            input=input, capture_output=True, text=True, timeout=60)

    def address(self, name: str) -> str:
        return f"{name}@{DOMAIN}"
