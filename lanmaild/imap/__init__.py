"""IMAP4rev1 server (RFC 3501) with IDLE, UIDPLUS, MULTIAPPEND, MOVE, SPECIAL-USE, NAMESPACE,
ID, UNSELECT, ENABLE, SASL-IR, CHILDREN, LITERAL+, CONDSTORE, QRESYNC, STARTTLS and implicit
TLS.

Listens on ``[listen] imap`` (STARTTLS when ``[tls]`` is set; LOGIN and AUTHENTICATE only
after TLS unless the client's address is in ``server.plaintext_auth``) and ``imaps``
(implicit TLS). Folders live under INBOX with "." as separator; NAMESPACE is
``(("INBOX." "."))`` so clients create new folders there (see ``commands_mailbox``).

Modules: ``parser`` (framing and syntax only), ``utf7`` (mailbox names), ``session`` (state
machine, change reporting), ``selected`` (a session's view of its folder), ``fetch`` and
``search`` (FETCH rendering, SEARCH translation) and one module per command family:
``commands_auth``, ``commands_mailbox``, ``commands_selected``. ``start(runtime)`` binds
the listeners.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from ..runtime import Runtime


async def start(runtime: Runtime) -> list[asyncio.AbstractServer]:
    from .server import start as _start

    return await _start(runtime)
