"""POP3 server (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595) and AUTH (RFC 5034).

- ``parser``    syntax: command lines, arguments, replies, dot-stuffing, TOP cutting.
- ``session``   the per-connection state machine (AUTHORIZATION, TRANSACTION, UPDATE).
- ``maildrop``  the session's snapshot of INBOX and its deletion marks (calls the store).

Listeners: ``listen.pop3`` (STLS when ``[tls]`` is set) and ``listen.pop3s`` (implicit TLS,
port 995 by convention). POP3 sees INBOX only; a message's UIDL is
``<INBOX UIDVALIDITY>.<UID>`` and never changes. One POP3 session per account at a time
(``-ERR [IN-USE]`` for the next one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StartupError
from ..net import bind
from .maildrop import MaildropLocks
from .session import Session

if TYPE_CHECKING:
    from ..net import Connection
    from ..runtime import Runtime

REFUSE_PREFIX = b"-ERR [SYS/TEMP] "
STREAM_LIMIT = 8192  # bytes buffered for one line; session.MAX_LINE is what is accepted


async def start(runtime: Runtime) -> list:
    listen = runtime.config.listen
    locks = MaildropLocks()
    runtime.services["pop3"] = locks

    async def handle(conn: Connection) -> None:
        await Session(conn, runtime, locks).run()

    if listen.pop3s and runtime.tls_context is None:

        raise StartupError("[listen] pop3s needs a certificate: set [tls] cert and key")
    servers: list = []
    if listen.pop3:
        servers += await bind("pop3", listen.pop3, handle, limiter=runtime.limiter,
                              refuse_prefix=REFUSE_PREFIX, line_limit=STREAM_LIMIT)
    if listen.pop3s:
        servers += await bind("pop3s", listen.pop3s, handle, limiter=runtime.limiter,
                              refuse_prefix=REFUSE_PREFIX, ssl_ctx=runtime.tls_context,
                              line_limit=STREAM_LIMIT)
    return servers
