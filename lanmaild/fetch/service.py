"""The fetch service: every external mailbox on its interval (see the package doc)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from . import settings
from .idle import IdleWatcher
from .run import FetchResult, fetch_one

log = logging.getLogger("lanmaild.fetch")

TICK = 5.0
MAX_BACKOFF = 6 * 3600


class Fetcher:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.state: dict[tuple[str, str], dict] = {}
        self._running: dict[tuple[str, str], asyncio.Task] = {}
        self._task: asyncio.Task | None = None
        self._slots: asyncio.Semaphore | None = None
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}  # one session per mailbox
        self._live: dict[tuple[str, str], FetchResult] = {}  # fetches under way
        self._watchers: dict[tuple[str, str], IdleWatcher] = {}  # idle = true mailboxes
        self._pushed: set[tuple[str, str]] = set()  # an IDLE wake-up waits for its fetch
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="fetch")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for t in [*self._running.values(), *self._tasks]:
            t.cancel()
        for w in self._watchers.values():
            w.close()

    async def wait_closed(self) -> None:
        for t in [self._task, *self._running.values(), *self._tasks]:
            if t is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        for w in self._watchers.values():
            await w.wait_closed()

    def status(self) -> dict:
        out = {f"{a}/{n}": dict(s) for (a, n), s in self.state.items()}
        for (a, n), live in self._live.items():
            out.setdefault(f"{a}/{n}", {"result": "never"})["progress"] = {
                "fetched": live.fetched, "todo": live.todo}
        for (a, n), w in self._watchers.items():
            out.setdefault(f"{a}/{n}", {"result": "never"})["idle"] = w.state
        return out

    def _state(self, key: tuple[str, str]) -> dict:
        return self.state.setdefault(key, {"last": 0, "result": "never", "fetched": 0,
                                           "total": 0, "error": "", "failures": 0,
                                           "next": 0})

    async def _loop(self) -> None:
        while True:
            try:
                self._schedule()
            except Exception:  # noqa: BLE001
                log.exception("fetch: scheduling failed")
            await asyncio.sleep(TICK)

    def _schedule(self) -> None:
        cfg = self.runtime.config
        g = settings.global_fetch(cfg)
        now = time.time()
        self._watch(cfg, g)
        for account, mb in settings.mailboxes(cfg):
            key = (account, mb.name)
            st = self._state(key)
            if not mb.enabled or key in self._running or now < st["next"]:
                continue
            if g.window is not None and not g.window.open():
                continue
            self._running[key] = asyncio.get_running_loop().create_task(
                self.fetch_now(account, mb.name, scheduled=True))

    def _watch(self, cfg, g: settings.FetchSettings) -> None:
        """One IDLE watcher per enabled ``idle = true`` mailbox while the window is open;
        a changed mailbox (config reload) gets a new one."""
        window_open = g.window is None or g.window.open()
        wanted = {(a, mb.name): mb for a, mb in settings.mailboxes(cfg)
                  if mb.enabled and mb.idle and window_open}
        for key, w in list(self._watchers.items()):
            if wanted.get(key) != w.mb:
                w.close()
                del self._watchers[key]
        for key, mb in wanted.items():
            if key not in self._watchers:
                self._watchers[key] = IdleWatcher(self, key[0], mb)

    def push(self, account: str, name: str) -> None:
        """New mail reported by IDLE: fetch now (after a fetch under way, never beside
        it; wake-ups while one waits add nothing)."""
        key = (account, name)
        if key in self._pushed:
            return
        self._pushed.add(key)
        task = asyncio.get_running_loop().create_task(self._pushed_fetch(account, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pushed_fetch(self, account: str, name: str) -> None:
        with contextlib.suppress(KeyError):  # removed from the config meanwhile
            await self.fetch_now(account, name)

    def _semaphore(self) -> asyncio.Semaphore:
        """The concurrency bound ([fetch] concurrency at the first fetch)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(
                settings.global_fetch(self.runtime.config).concurrency)
        return self._slots

    def _mailbox(self, account: str, name: str):
        for a, mb in settings.mailboxes(self.runtime.config):
            if a == account.lower() and mb.name.lower() == name.lower():
                return mb
        return None

    async def fetch_now(self, account: str, name: str, scheduled: bool = False
                        ) -> FetchResult:
        key = (account.lower(), name)
        mb = self._mailbox(account, name)
        if mb is None:
            raise KeyError(f"{account}/{name}")
        try:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock, self._semaphore():
                self._pushed.discard(key)  # mail that arrives from now on: a new fetch
                result = self._live[key] = FetchResult()
                try:
                    await fetch_one(self.runtime, key[0], mb, result)
                finally:
                    self._live.pop(key, None)
            self._record(key, mb, result)
            return result
        finally:
            if scheduled:
                self._running.pop(key, None)

    def _record(self, key: tuple[str, str], mb, result: FetchResult) -> None:
        st = self._state(key)
        interval = mb.interval or settings.global_fetch(self.runtime.config).interval
        previous = st["error"]
        st.update(last=int(result.started), fetched=result.fetched,
                  total=st["total"] + result.fetched, error=result.error,
                  result="error" if result.error else "ok")
        if result.error:
            st["failures"] += 1
            wait = interval
            if result.kind == "auth":  # never hammer a provider with a wrong password
                wait = min(MAX_BACKOFF, interval * 2 ** st["failures"])
            st["next"] = time.time() + wait
            if result.error != previous:
                log.warning("external %s/%s: %s (next try in %d s)", key[0], key[1],
                            result.error, wait)
        else:
            if previous:
                log.info("external %s/%s works again", key[0], key[1])
            st["failures"] = 0
            st["next"] = time.time() + interval
            if result.fetched:
                log.info("external %s/%s: %d fetched, %d deleted on the server", key[0],
                         key[1], result.fetched, result.deleted)
