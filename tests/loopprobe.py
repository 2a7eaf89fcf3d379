"""The loop-latency probe: does lanmaild still answer everyone while one client misbehaves?

lanmaild serves every protocol from one event loop, so anything a client controls that runs
long on the loop stalls every other client. ``LoopProbe`` measures exactly that from the
outside: while a test's hostile client does its thing, a background thread keeps asking
the daemon small questions over real sockets

- an SMTP greeting (connect, read the 220 line, QUIT),
- an IMAP NOOP on a connection opened before the test (not logged in),
- a control-socket ``status``,

and records how long each answer took. ``check()`` fails when any answer took longer than
``limit`` (250 ms), naming the probe and the time. The probes come from 127.0.0.1; hostile
clients should use another loopback address (``bind_ip``) so the per-IP limits do not mix.

    with LoopProbe(daemon) as probe:
        hostile_client()
    probe.check()
"""

from __future__ import annotations

import json
import socket
import threading
import time

LIMIT = 0.250
INTERVAL = 0.05


def connect_from(port: int, bind_ip: str = "127.0.0.1", timeout: float = 30) -> socket.socket:
    """A TCP connection to 127.0.0.1:port from ``bind_ip`` (another loopback address lets a
    hostile client have its own per-IP budget)."""
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((bind_ip, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def _read_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed after {buf!r}")
        buf += chunk
    return buf


class LoopProbe:
    """Probe SMTP, IMAP and the control socket every ``interval`` s in a thread."""

    def __init__(self, daemon, limit: float = LIMIT, interval: float = INTERVAL,
                 smtp: bool = True, imap: bool = True, control: bool = True) -> None:
        self.daemon = daemon
        self.limit = limit
        self.interval = interval
        self.kinds = [k for k, on in (("smtp", smtp), ("imap", imap), ("control", control))
                      if on]
        self.samples: list[tuple[str, float]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._imap: socket.socket | None = None
        self._tag = 0

    # ------------------------------------------------------------------ single probes

    def _smtp(self) -> None:
        with connect_from(self.daemon.ports["smtp"], timeout=10) as s:
            line = _read_line(s)
            if not line.startswith(b"220"):
                raise AssertionError(f"SMTP greeting {line!r}")
            s.sendall(b"QUIT\r\n")

    def _imap_noop(self) -> None:
        if self._imap is None:
            self._imap = connect_from(self.daemon.ports["imap"], timeout=10)
            _read_line(self._imap)  # greeting
        self._tag += 1
        tag = b"P%d" % self._tag
        self._imap.sendall(tag + b" NOOP\r\n")
        while True:
            line = _read_line(self._imap)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise AssertionError(f"IMAP NOOP answered {line!r}")
                return

    def _control(self) -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.daemon.socket))
            s.sendall(json.dumps({"op": "status", "args": {}}).encode() + b"\n")
            reply = json.loads(_read_line(s))
            if not reply.get("ok"):
                raise AssertionError(f"control status answered {reply}")

    def probe_once(self) -> None:
        for kind in self.kinds:
            started = time.monotonic()
            try:
                getattr(self, {"smtp": "_smtp", "imap": "_imap_noop",
                               "control": "_control"}[kind])()
            except Exception as exc:  # noqa: BLE001 - reported by check()
                self.errors.append(f"{kind}: {exc.__class__.__name__}: {exc}")
                if kind == "imap" and self._imap is not None:
                    self._imap.close()
                    self._imap = None
            self.samples.append((kind, time.monotonic() - started))

    # ------------------------------------------------------------------ life cycle

    def _run(self) -> None:
        while not self._stop.is_set():
            self.probe_once()
            self._stop.wait(self.interval)

    def __enter__(self) -> LoopProbe:
        self.probe_once()  # connections made, caches warm: the first sample is not counted
        self.samples.clear()
        self.errors.clear()
        self._thread = threading.Thread(target=self._run, name="loop-probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._imap is not None:
            self._imap.close()
            self._imap = None

    # ------------------------------------------------------------------ verdict

    def worst(self) -> tuple[str, float]:
        return max(self.samples, key=lambda s: s[1], default=("none", 0.0))

    def check(self, min_samples: int = 3) -> None:
        """Fail when a probe failed or any answer took longer than ``limit``."""
        assert not self.errors, f"probe failed while the hostile client ran: {self.errors[:3]}"
        assert len(self.samples) >= min_samples, \
            f"only {len(self.samples)} probe answers: the hostile client ran too briefly"
        kind, seconds = self.worst()
        assert seconds <= self.limit, (
            f"the {kind} probe waited {seconds * 1000:.0f} ms for an answer "
            f"(limit {self.limit * 1000:.0f} ms): the event loop was blocked")
