"""The SMS service: queue, rate limit, retries, counters (see the package doc)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from . import gateway, settings

log = logging.getLogger("lanmaild.sms")

QUEUE_MAX = 1000
BACKOFF = (5, 30, 120, 300)


class SmsNotifier:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self._queue: asyncio.Queue = asyncio.Queue(QUEUE_MAX)
        self._last: dict[str, float] = {}
        self._task: asyncio.Task | None = None
        self._failing = False
        self.counts = {"sent": 0, "failed": 0, "suppressed": 0, "dropped": 0}
        self.last_error = ""

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="sms")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def wait_closed(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def status(self) -> dict:
        return {**self.counts, "queued": self._queue.qsize(), "last_error": self.last_error,
                "gateway": bool(settings.of(self.runtime.config).enabled)}

    def notify(self, account: str, number: str, sender: str, subject: str) -> None:
        """Queue an SMS for ``account`` (never blocks; rate-limited per account)."""
        if not settings.of(self.runtime.config).enabled:
            return
        now = time.monotonic()
        interval = settings.of(self.runtime.config).interval
        if now - self._last.get(account, -1e9) < interval:
            self.counts["suppressed"] += 1
            return
        self._last[account] = now
        try:
            self._queue.put_nowait((account, number, sender, subject))
        except asyncio.QueueFull:
            self.counts["dropped"] += 1

    async def send_now(self, number: str, sender: str, subject: str) -> tuple[int, str]:
        """``lanmailctl sms test``: one request, the gateway's answer (GatewayError)."""
        return await gateway.send(settings.of(self.runtime.config), number, sender, subject)

    async def _loop(self) -> None:
        while True:
            item = await self._queue.get()
            await self._deliver(*item)

    async def _deliver(self, account: str, number: str, sender: str, subject: str) -> None:
        s = settings.of(self.runtime.config)
        for attempt in range(s.retries + 1):
            try:
                await gateway.send(s, number, sender, subject)
            except gateway.GatewayError as exc:
                self.last_error = f"{account}: {exc}"
                if attempt < s.retries:
                    await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                    continue
                self.counts["failed"] += 1
                if not self._failing:  # once per failing streak, not per retry
                    log.warning("SMS for %s not sent after %d tries: %s", account,
                                attempt + 1, exc)
                self._failing = True
                return
            self.counts["sent"] += 1
            if self._failing:
                log.info("SMS gateway works again")
            self._failing = False
            return
