"""Listeners: ``listen.imap`` (plain, STARTTLS when a certificate is configured) and
``listen.imaps`` (implicit TLS, RFC 8314), bound through the shared ``lanmaild.net``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..net import bind
from .session import handle

if TYPE_CHECKING:
    import asyncio

    from ..runtime import Runtime

log = logging.getLogger("lanmaild.imap")
REFUSE = b"* BYE [UNAVAILABLE] "


async def start(runtime: Runtime) -> list[asyncio.AbstractServer]:
    cfg = runtime.config
    line_limit = max(cfg.limits.line_length + 2, 65536)

    async def on_client(conn) -> None:
        await handle(runtime, conn)

    servers: list[asyncio.AbstractServer] = []
    if cfg.listen.imap:
        servers += await bind("imap", cfg.listen.imap, on_client, limiter=runtime.limiter,
                              refuse_prefix=REFUSE, line_limit=line_limit)
    if cfg.listen.imaps:
        if runtime.tls_context is None:
            log.error("imaps listeners need [tls] cert and key; not listening on %s",
                      ", ".join(f"{h}:{p}" for h, p in cfg.listen.imaps))
        else:
            servers += await bind("imaps", cfg.listen.imaps, on_client,
                                  limiter=runtime.limiter, refuse_prefix=REFUSE,
                                  ssl_ctx=runtime.tls_context, line_limit=line_limit)
    return servers
