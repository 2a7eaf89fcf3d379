"""aiohttp application, runner and sites (see the package doc)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time

from aiohttp import web

from ..errors import StartupError
from .settings import uses_tls

log = logging.getLogger("lanmaild.http")

MAX_BODY = 64 * 1024  # form posts and JSON requests are small


@web.middleware
async def _log_requests(request: web.Request, handler):
    t0 = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        log.info("http %s %s %s %d %.0f ms", request.remote, request.method, request.path,
                 status, (time.monotonic() - t0) * 1000)


class HttpService:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[_log_requests])
        self.app["runtime"] = runtime
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Task | None = None

    async def start(self, modules: tuple[str, ...]) -> None:
        for name in modules:
            importlib.import_module(name).routes(self.app, self.runtime)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        ssl_ctx = self.runtime.tls_context if uses_tls(self.runtime) else None
        for host, port in self.runtime.config.listen.http:
            site = web.TCPSite(self._runner, host, port, ssl_context=ssl_ctx,
                               reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                await self._runner.cleanup()
                raise StartupError(f"[listen] http {host}:{port}: {exc.strerror}") from None
        log.info("http listening on %s (%s)", ", ".join(
            f"{h}:{p}" for h, p in self.runtime.config.listen.http),
            "https" if ssl_ctx else "plain http")

    def close(self) -> None:
        if self._runner is not None and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._runner.cleanup())

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await self._closing
