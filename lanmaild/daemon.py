"""Process life cycle: lock the data_dir, open the store, start services, handle signals.

Services are modules with ``async def start(runtime) -> list`` returning things that have
``close()`` (asyncio servers, workers). They start in ``SERVICES`` order; the control
socket comes first so ``lanmailctl status`` answers as soon as anything runs. SIGTERM and
SIGINT stop listeners, let the store finish queued writes and close it cleanly; SIGHUP
reloads the configuration (like ``lanmailctl reload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import logging
import os
import signal
from pathlib import Path

from . import sysd
from .config import Config, ConfigError
from .errors import FatalError, StartupError  # noqa: F401 - re-exported
from .runtime import Runtime
from .store import Store

log = logging.getLogger("lanmaild")

SERVICES = (
    "lanmaild.control",
    "lanmaild.delivery",
    "lanmaild.transports",
    "lanmaild.sms",
    "lanmaild.fetch",
    "lanmaild.oauth",
    "lanmaild.http",
    "lanmaild.smtp",
    "lanmaild.imap",
    "lanmaild.pop3",
    "lanmaild.mdns",
    "lanmaild.indexer",
)
LOCK_FILE = "lanmaild.lock"


def lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on data_dir for the life of the process."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StartupError(f"data_dir {data_dir} is not writable: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StartupError(f"another lanmaild (pid {pid}) is already running on data_dir "
                           f"{data_dir}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def check_writable(data_dir: Path) -> None:
    probe = data_dir / ".write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"data_dir {data_dir} is not writable: {exc.strerror}") from None


async def _start_services(runtime: Runtime, started: list) -> None:
    """Start SERVICES in order, appending to ``started`` as they come up, so a later
    failure (a port in use) still closes the ones already running (and the socket)."""
    for name in SERVICES:
        module = importlib.import_module(name)
        start = getattr(module, "start", None)
        if start is None:
            continue
        started.extend(await start(runtime))


async def _close_all(started: list) -> None:
    for item in reversed(started):
        with contextlib.suppress(Exception):
            result = item.close()
            if asyncio.iscoroutine(result):
                await result
    for item in reversed(started):
        wait = getattr(item, "wait_closed", None)
        if wait is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(wait(), 5)


async def run(config: Config) -> None:
    data_dir = config.server.data_dir
    lock_fd = lock_data_dir(data_dir)
    check_writable(data_dir)
    try:
        store = Store(data_dir)
    except Exception as exc:  # sqlite3 errors, corrupt file, ...
        raise StartupError(f"cannot open the store in {data_dir}: {exc}") from None
    runtime = Runtime(config, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    fatal: list[BaseException] = []

    def on_fatal(exc: BaseException) -> None:  # runs on the writer thread
        fatal.append(exc)
        loop.call_soon_threadsafe(stop.set)

    store.db.on_fatal = on_fatal
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(_sighup(runtime)))
    started: list = []
    try:
        await runtime.sync_accounts()
        await _start_services(runtime, started)
        sysd.drop_privileges(runtime.config)  # the listeners are bound: no root from here
        log.info("lanmaild ready (pid %d, data_dir %s)", os.getpid(), data_dir)
        sysd.notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=serving")
        await stop.wait()
        sysd.notify("STOPPING=1")
        log.info("stopping")
    finally:
        await _close_all(started)
        store.close()
        os.close(lock_fd)
        log.info("stopped")
    if fatal:
        raise FatalError(f"the store writer failed ({fatal[0].__class__.__name__}: "
                         f"{fatal[0]}); exiting so that the service manager restarts lanmaild")


async def _sighup(runtime: Runtime) -> None:
    import time

    sysd.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
    try:
        await runtime.reload()
    except ConfigError as exc:
        log.error("reload refused, old config keeps serving: %s", exc)
    finally:
        sysd.notify("READY=1")
