"""TLS server context from ``[tls]`` (shared by every listener)."""

from __future__ import annotations

import ssl

from ..config.model import TLSConfig


def server_context(cfg: TLSConfig) -> ssl.SSLContext | None:
    """A modern server context (TLS 1.2+), or None when no certificate is configured."""
    if not cfg.enabled:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cfg.cert), str(cfg.key))
    return ctx
