"""One transport object per distinct settings (so a smarthost's connection pool is shared
by every account that uses it), rebuilt when a reload changes them."""

from __future__ import annotations

from .base import Transport
from .folder import FolderTransport
from .httppost import HttpPostTransport
from .mx import MxResolver
from .settings import global_settings
from .smtp import SmtpTransport
from .webspace import WebspaceTransport


class TransportCache:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self._items: dict[tuple, object] = {}

    def get(self, kind: str, settings) -> Transport:
        cfg = self.runtime.config
        g = global_settings(cfg)
        sub = {"smtp": settings.smtp, "mx": (g.mx_port, g.dns_servers),
               "folder": settings.folder, "http-post": settings.http_post,
               "webspace": settings.webspace}[kind]
        key = (kind, sub, g.connections, cfg.server.hostname)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = self._make(kind, settings, g, cfg.server.hostname)
        return item

    def _make(self, kind: str, settings, g, hostname: str):
        if kind == "smtp":
            from .xoauth2 import access_token

            smtp = settings.smtp
            return SmtpTransport(smtp, hostname, g.connections,
                                 token=lambda: access_token(self.runtime, smtp))
        if kind == "mx":
            return SmtpTransport(settings.smtp, hostname, g.connections,
                                 resolver=MxResolver(g.dns_servers), mx_port=g.mx_port)
        if kind == "folder":
            return FolderTransport(settings.folder)
        if kind == "http-post":
            return HttpPostTransport(settings.http_post)
        return WebspaceTransport(settings.webspace)

    async def expire(self) -> None:
        for item in list(self._items.values()):
            expire = getattr(item, "expire", None)
            if expire is not None:
                await expire()

    async def close(self) -> None:
        items, self._items = self._items, {}
        for item in items.values():
            await item.close()
