"""Binding listeners and the per-connection object every stream protocol gets.

``bind()`` starts asyncio stream servers for one service on its configured addresses
(implicit TLS when ``ssl_ctx`` is given), enforces ``limits.connections_per_ip`` through the
shared ``ConnectionLimiter`` and hands each accepted client to the protocol's handler as a
``Connection``. Protocols built on asyncio.Protocol (aiosmtpd) use ``bind_factory()`` and
call the limiter themselves. A port that cannot be bound raises ``ListenError`` naming
the service and address, which the daemon prints as its one-line start-up error.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import secrets
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("lanmaild.net")

IPV6_PREFIX = 64  # IPv6 clients share one per-client budget per /64


class ListenError(Exception):
    pass


def new_session_id() -> str:
    return secrets.token_hex(4)


class ConnectionLimiter:
    """Open connections: per client (all services together) and per service (all clients).

    One LAN host is one budget (``limits.connections_per_ip``) whatever it connects to. An
    IPv6 client counts by its /64 network: a single host usually owns a whole /64 and could
    otherwise open the per-IP budget once per address (RFC 6177 assigns /64 and larger to
    end sites). Each service also has a cap for all clients together
    (``limits.connections_per_service``), so a crowd of addresses cannot exhaust file
    descriptors and memory either. Both limits are read at every accept, so a reload
    takes effect for new connections.
    """

    def __init__(self, limits: Callable[[], Any]) -> None:
        self._limits = limits
        self._by_client: Counter[str] = Counter()
        self._by_service: Counter[str] = Counter()

    @staticmethod
    def client_key(ip: str) -> str:
        """The budget an address counts against: itself (IPv4) or its /64 (IPv6)."""
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return ip
        if isinstance(addr, ipaddress.IPv6Address):
            if addr.ipv4_mapped is not None:
                return str(addr.ipv4_mapped)
            return str(ipaddress.ip_network(f"{addr}/{IPV6_PREFIX}", strict=False))
        return str(addr)

    def acquire(self, ip: str, service: str) -> str | None:
        """Count a new connection; None when admitted, else why it is refused."""
        limits = self._limits()
        if self._by_service[service] >= limits.connections_per_service:
            return "Too many connections to this service, try again later"
        key = self.client_key(ip)
        if self._by_client[key] >= limits.connections_per_ip:
            return "Too many connections from your address"
        self._by_client[key] += 1
        self._by_service[service] += 1
        return None

    def release(self, ip: str, service: str) -> None:
        for counter, key in ((self._by_client, self.client_key(ip)),
                             (self._by_service, service)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    def snapshot(self, top: int = 10) -> dict[str, Any]:
        """What ``lanmailctl status`` shows: open connections and the busiest clients."""
        limits = self._limits()
        return {
            "per_service": dict(sorted(self._by_service.items())),
            "top_clients": [{"client": k, "connections": n}
                            for k, n in self._by_client.most_common(top)],
            "limit_per_service": limits.connections_per_service,
            "limit_per_client": limits.connections_per_ip,
        }


class SessionLog(logging.LoggerAdapter):
    """Prefixes every line with ``service[session-id]`` so one session's lines can be grepped."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"{self.extra['tag']} {msg}", kwargs


def silence_timeout(normal: float, prelogin: float, logged_in: bool) -> float | None:
    """Seconds of client silence allowed, the same rule for SMTP, IMAP and POP3: the
    service's ``normal`` idle timeout, and until log-in at most ``limits.prelogin_timeout``
    (an anonymous client should not hold a connection for minutes). 0 = not set; None
    when neither is."""
    return min((t for t in (normal, 0 if logged_in else prelogin) if t), default=None)


def quickack(transport: asyncio.BaseTransport | None) -> None:
    """Acknowledge the client's next segments at once (Linux ``TCP_QUICKACK``).

    Call it after sending a reply the client answers with data (an IMAP continuation, SMTP
    354, POP3 "+ "). Many clients write that data in pieces (imaplib: the literal,
    then the CRLF) with Nagle's algorithm on: the second piece waits for the ACK of the
    first, and a server in delayed-ACK ("interactive") mode sends it only after ~40 ms,
    unless it has something to say. TCP_QUICKACK is not permanent (the kernel drops back to
    delayed ACKs on its own), so it is set at every such point; if an ACK is already
    pending, setting it sends that ACK right away. A no-op on other sockets (Unix: no
    Nagle, no delayed ACK) and systems without the option.
    """
    if transport is None or _QUICKACK is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    except OSError:
        pass


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class Connection:
    """One client connection of a stream protocol (IMAP, POP3)."""

    def __init__(self, service: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, is_tls: bool) -> None:
        self.service = service
        self.reader = reader
        self.writer = writer
        self.is_tls = is_tls
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer_ip: str = peer[0]
        self.peer_port: int = peer[1]
        self.session_id = new_session_id()
        self.log = SessionLog(logging.getLogger(f"lanmaild.{service}"),
                              {"tag": f"{service}[{self.session_id}]"})

    async def starttls(self, ctx: ssl.SSLContext) -> None:
        """Upgrade in place (STARTTLS/STLS); anything the client pipelined before is dropped
        by the caller, as RFC 2595/3207 require."""
        await self.writer.start_tls(ctx)
        self.is_tls = True

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def quickack(self) -> None:
        """The client answers our last reply with data: ACK it at once (see ``quickack``)."""
        quickack(self.writer.transport)

    async def close(self) -> None:
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except (TimeoutError, OSError, ssl.SSLError):
            pass


Handler = Callable[[Connection], Awaitable[None]]


def _listen_error(service: str, host: str, port: int, exc: OSError) -> ListenError:
    reason = "address already in use" if exc.errno == errno.EADDRINUSE else \
        "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)" \
        if exc.errno == errno.EACCES else (exc.strerror or str(exc))
    return ListenError(f"cannot listen on {host}:{port} for {service}: {reason}")


async def bind(service: str, addrs: tuple[tuple[str, int], ...], handler: Handler, *,
               limiter: ConnectionLimiter, refuse_prefix: bytes,
               ssl_ctx: ssl.SSLContext | None = None, line_limit: int = 65536
               ) -> list[asyncio.AbstractServer]:
    """Start stream servers for ``service``; an over-limit client gets ``refuse_prefix``
    followed by the reason (e.g. ``b"* BYE [UNAVAILABLE] "`` for IMAP) and is closed."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(service, reader, writer, is_tls=ssl_ctx is not None)
        refusal = limiter.acquire(conn.peer_ip, service)
        if refusal is not None:
            conn.log.warning("refused %s: %s", conn.peer_ip, refusal.lower())
            try:
                await asyncio.wait_for(conn.write(refuse_prefix + refusal.encode() + b"\r\n"),
                                       5)
            except (OSError, TimeoutError, ssl.SSLError):
                pass
            await conn.close()
            return
        conn.log.info("connect from %s:%s%s", conn.peer_ip, conn.peer_port,
                      " (tls)" if conn.is_tls else "")
        try:
            await handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            conn.log.info("connection lost: %s", exc.__class__.__name__)
        except Exception:  # noqa: BLE001 - one broken session must not stop the listener
            conn.log.exception("session failed")
        finally:
            limiter.release(conn.peer_ip, service)
            await conn.close()
            conn.log.info("disconnect")

    def start(host: str, port: int) -> Awaitable[asyncio.AbstractServer]:
        return asyncio.start_server(on_client, host, port, ssl=ssl_ctx, limit=line_limit,
                                    reuse_address=True)

    return await _bind_all(service, addrs, start, tls=ssl_ctx is not None)


async def bind_factory(service: str, addrs: tuple[tuple[str, int], ...],
                       factory: Callable[[], asyncio.BaseProtocol], *,
                       ssl_ctx: ssl.SSLContext | None = None) -> list[asyncio.AbstractServer]:
    """Start servers for an asyncio.Protocol based service (aiosmtpd's SMTP)."""
    loop = asyncio.get_running_loop()

    def start(host: str, port: int) -> Awaitable[asyncio.AbstractServer]:
        return loop.create_server(factory, host, port, ssl=ssl_ctx, reuse_address=True)

    return await _bind_all(service, addrs, start, tls=ssl_ctx is not None)


async def _bind_all(service: str, addrs: tuple[tuple[str, int], ...],
                    start: Callable[[str, int], Awaitable[asyncio.AbstractServer]], *,
                    tls: bool) -> list[asyncio.AbstractServer]:
    """Bind every address or none: on a failure the ones already bound are closed."""
    servers = []
    for host, port in addrs:
        try:
            servers.append(await start(host, port))
        except OSError as exc:
            for s in servers:
                s.close()
            raise _listen_error(service, host, port, exc) from None
        log.info("%s listening on %s:%s%s", service, host, port, " (tls)" if tls else "")
    return servers
