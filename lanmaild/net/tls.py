"""TLS server contexts from ``[tls]``, shared by every listener, renewable by a reload.

Every listener (implicit TLS on smtps/imaps/pop3s, STARTTLS/STLS upgrades) uses ONE
stable ``SSLContext``: the one ``TLSProvider.context`` returns. Its ``sni_callback`` runs
for every handshake (with or without SNI; Python's ``SSLContext.sni_callback``) and hands
the connection the *current* context, the one built from the certificate files as they
were at the last (re)load. So a renewed certificate (Let's Encrypt replaces the files)
takes effect on every service, listeners that are already bound included, at the next
reload; nothing needs a restart.

A reload rebuilds the current context only when the configured paths or the files'
contents changed. A certificate or key that does not load (missing, unreadable, not PEM,
key not matching the certificate) is a ``ConfigError`` naming the file: the reload is
refused and the old certificate keeps serving.
"""

from __future__ import annotations

import hashlib
import ssl

from ..config.errors import ConfigError
from ..config.model import TLSConfig


def _new_context(cfg: TLSConfig) -> ssl.SSLContext:
    """A modern server context (TLS 1.2+) with the configured chain, or ConfigError."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cfg.cert), str(cfg.key))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(cfg.cert, f"cannot load the certificate with key {cfg.key}: "
                          f"{reason}", key="tls.cert") from None
    return ctx


def _fingerprint(cfg: TLSConfig) -> bytes:
    """What identifies the loaded certificate: the paths and both files' contents."""
    digest = hashlib.sha256(f"{cfg.cert}\0{cfg.key}".encode())
    for path in (cfg.cert, cfg.key):
        try:
            digest.update(path.read_bytes())
        except OSError as exc:
            raise ConfigError(path, f"cannot read: {exc.strerror}", key="tls") from None
    return digest.digest()


def server_context(cfg: TLSConfig) -> ssl.SSLContext | None:
    """A one-off context (tools, tests); the daemon uses ``TLSProvider``."""
    return _new_context(cfg) if cfg.enabled else None


def client_context(ca_file: str = "", verify: bool = True) -> ssl.SSLContext:
    """For lanmaild as a client (a provider's IMAP/POP3, a token endpoint, a smarthost's
    OAuth2): the system CAs or ``ca_file``; ``verify = False`` only where the admin said so
    (a provider's self-signed certificate)."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def handshake_failure(exc: BaseException) -> str:
    """A failed STARTTLS/STLS handshake in a few words for one INFO line (the OpenSSL
    reason, e.g. WRONG_VERSION_NUMBER): a client mistake, never worth a traceback."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason
    return exc.__class__.__name__


class TLSProvider:
    """The stable listener context and the current certificate behind it."""

    def __init__(self, cfg: TLSConfig) -> None:
        self._current: ssl.SSLContext | None = None
        self._fingerprint = b""
        self._listener: ssl.SSLContext | None = None
        self.update(cfg)

    @property
    def context(self) -> ssl.SSLContext | None:
        """What listeners and STARTTLS use; None when no certificate is configured."""
        return self._listener if self._current is not None else None

    def update(self, cfg: TLSConfig) -> bool:
        """Load ``cfg`` if it differs from what serves now; True when it changed.
        Raises ConfigError (and keeps the old certificate) when it does not load."""
        if not cfg.enabled:
            changed = self._current is not None
            self._current, self._fingerprint = None, b""
            return changed
        fingerprint = _fingerprint(cfg)
        if fingerprint == self._fingerprint:
            return False
        current = _new_context(cfg)
        if self._listener is None:
            self._listener = _new_context(cfg)
            self._listener.sni_callback = self._pick
        self._current, self._fingerprint = current, fingerprint
        return True

    def _pick(self, sslobj: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        if self._current is not None:
            sslobj.context = self._current
