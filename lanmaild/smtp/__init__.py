"""SMTP service: aiosmtpd engine (``server``) + our policy handler (``handler``).

Listeners (``[listen]``): ``smtp`` (port 25 in production: LAN clients and incoming mail),
``submission`` (587: AUTH required before MAIL) and ``smtps`` (465: implicit TLS). All run
on the daemon's main loop. STARTTLS is offered on smtp and submission when ``[tls]`` has a
certificate. Extensions: SIZE (= ``limits.message_size``), 8BITMIME, SMTPUTF8, PIPELINING,
ENHANCEDSTATUSCODES, STARTTLS, AUTH PLAIN LOGIN.
"""

from __future__ import annotations

import logging

from ..auth import sasl
from ..errors import StartupError
from ..net import bind_factory
from .handler import PolicyHandler
from .server import LanSMTP

log = logging.getLogger("lanmaild.smtp")

IDENT = "LANMail ESMTP ready"


def make_factory(runtime, service: str):
    handler = PolicyHandler(runtime, service)
    implicit = service == "smtps"

    def factory() -> LanSMTP:
        cfg = runtime.config
        return LanSMTP(
            handler, runtime=runtime, service=service, implicit_tls=implicit,
            hostname=cfg.server.hostname, ident=IDENT,
            data_size_limit=cfg.limits.message_size,
            enable_SMTPUTF8=True, decode_data=False,
            tls_context=None if implicit else runtime.tls_context,
            require_starttls=False,
            timeout=cfg.limits.smtp_timeout,
            auth_required=service == "submission",
            auth_require_tls=True,
            # the OAuth2 mechanisms only while an OAuth2 server can check tokens
            auth_exclude_mechanism=[m for m in sasl.BEARER
                                    if m not in sasl.available(runtime.auth)],
        )

    return factory


async def start(runtime) -> list:
    cfg = runtime.config
    servers: list = []
    for service in ("smtp", "submission", "smtps"):
        addrs = getattr(cfg.listen, service)
        if not addrs:
            continue
        ssl_ctx = None
        if service == "smtps":
            if runtime.tls_context is None:
                raise StartupError("[listen] smtps needs a certificate: set [tls] cert and key")
            ssl_ctx = runtime.tls_context
        try:
            servers += await bind_factory(service, addrs, make_factory(runtime, service),
                                          ssl_ctx=ssl_ctx)
        except Exception:
            for s in servers:
                s.close()
            raise
    return servers
