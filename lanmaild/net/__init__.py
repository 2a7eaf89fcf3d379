"""Listeners, TLS and per-IP limits shared by all protocols (SMTP, IMAP, POP3, HTTP)."""

from .listen import (
    Connection,
    ConnectionLimiter,
    ListenError,
    SessionLog,
    bind,
    bind_factory,
    new_session_id,
    quickack,
    silence_timeout,
)
from .tls import TLSProvider, server_context

__all__ = ["Connection", "ConnectionLimiter", "ListenError", "SessionLog", "TLSProvider", "bind",
           "bind_factory", "new_session_id", "quickack", "server_context", "silence_timeout"]
