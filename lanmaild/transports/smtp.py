"""The ``smtp`` and ``mx`` transports: a smarthost (or an account's alternative server),
or the recipient domain's MX hosts, spoken to with aiosmtplib.

- Connection reuse: a connection that finished a transaction goes back to an idle pool
  per destination (host, port, login) and carries the next envelope; at most
  ``connections`` per destination are open at once; idle ones close after ``IDLE`` s.
- No PIPELINING (RFC 2920), on purpose: aiosmtplib 5.1 reads exactly one reply per
  command and drops reply bytes that arrive while no command is outstanding (its guard
  against mis-pairing), so replies to pipelined commands that arrive together are lost
  (seen against Postfix's smtp-sink). Commands go one by one; connection reuse saves the
  connect, TLS and AUTH round trips, which cost far more.
- One result per recipient: RCPT 550 fails that recipient alone; a 4xx/5xx at MAIL or at
  the end of DATA applies to every recipient the server had accepted.
- TLS: the smarthost's ``tls`` setting (certificate verified by default); MX delivery
  uses STARTTLS when offered without verifying (RFC 7435 opportunistic security: better
  than plain text, and MX hosts rarely have certificates for their names).
- SIZE (RFC 1870), 8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531) are declared when the peer
  offers them; a message needing SMTPUTF8 to a peer without it fails (RFC 6531 3.5: 5.6.7).
- Dot-stuffing of a big message runs in a thread, not on the loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import ssl
import time

import aiosmtplib

from .base import Envelope, Outcome, TransportError
from .mx import MxResolver

log = logging.getLogger("lanmaild.outgoing")

IDLE = 30.0
_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
_DOT = re.compile(rb"(?m)^\.")
_THREAD_BYTES = 256 * 1024


def enhanced(code: int, message: str) -> str:
    m = _ENHANCED.match(message or "")
    if m:
        return m.group(1)
    return f"{str(code)[0]}.0.0" if code >= 400 else "2.0.0"


def _reply(resp) -> str:
    text = " ".join((resp.message or "").split())
    return f"{resp.code} {text}"[:400]


def _outcome(resp) -> Outcome:
    status = "sent" if 200 <= resp.code < 300 else "perm" if resp.code >= 500 else "temp"
    return Outcome(status, _reply(resp), enhanced(resp.code, resp.message))


def _stuff(data: bytes) -> bytes:
    return _DOT.sub(b"..", data) + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n"


class SmtpTransport:
    def __init__(self, settings, hostname: str, connections: int = 4,
                 resolver: MxResolver | None = None, mx_port: int = 25,
                 token=None) -> None:
        self.settings = settings
        self.token = token  # async () -> access token, for auth = "xoauth2"
        self.hostname = hostname
        self.connections = connections
        self.resolver = resolver  # set: deliver to the recipient domain's MX hosts
        self.mx_port = mx_port
        self._idle: dict[tuple, list[tuple[float, aiosmtplib.SMTP]]] = {}
        self._slots: dict[tuple, asyncio.Semaphore] = {}
        self._ctx: ssl.SSLContext | None = None

    # ------------------------------------------------------------------ connections

    def _tls_context(self) -> ssl.SSLContext | None:
        """Made once per transport (loading the CA store costs milliseconds)."""
        if self._ctx is None:
            self._ctx = self._make_tls_context()
        return self._ctx

    def _make_tls_context(self) -> ssl.SSLContext:
        s = self.settings
        if self.resolver is not None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ctx = ssl.create_default_context(cafile=s.ca_file or None)
        if not s.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    async def _connect(self, host: str, port: int) -> aiosmtplib.SMTP:
        s = self.settings
        mx = self.resolver is not None
        client = aiosmtplib.SMTP(
            hostname=host, port=port, local_hostname=self.hostname,
            timeout=s.timeout if not mx else 60,
            use_tls=(not mx and s.tls == "implicit"),
            start_tls=None if mx else (s.tls == "starttls"),
            tls_context=None if (not mx and s.tls == "none") else self._tls_context())
        await client.connect()
        if client.is_ehlo_or_helo_needed:  # after STARTTLS (RFC 3207 4.2: EHLO again)
            await client.ehlo()
        if not mx and s.oauth is not None:
            await self._xoauth2(client)
        elif not mx and s.user:
            await client.login(s.user, s.password)
        return client

    async def _xoauth2(self, client: aiosmtplib.SMTP) -> None:
        """AUTH XOAUTH2 with the initial response; a refusal comes as a JSON challenge,
        answered with an empty line (RFC 7628 3.2.3), then 535."""
        from ..oauth.remote import KEEPER, RemoteAuthError, xoauth2
        from .xoauth2 import key

        try:
            token = await self.token()
        except RemoteAuthError as exc:
            raise aiosmtplib.SMTPAuthenticationError(535, f"OAuth2: {exc}") from None
        ir = base64.b64encode(xoauth2(self.settings.user, token))
        reply = await client.execute_command(b"AUTH", b"XOAUTH2", ir)
        if reply.code == 334:
            reply = await client.execute_command(b"")
        if reply.code != 235:
            KEEPER.forget(key(self.settings))
            raise aiosmtplib.SMTPAuthenticationError(reply.code, reply.message)

    async def _acquire(self, key: tuple, host: str, port: int
                       ) -> tuple[aiosmtplib.SMTP, bool]:
        """(connection, reused?)."""
        pool = self._idle.setdefault(key, [])
        while pool:
            _since, client = pool.pop()
            if client.is_connected:
                return client, True
        return await self._connect(host, port), False

    def _release(self, key: tuple, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._idle.setdefault(key, []).append((time.monotonic(), client))

    async def check(self) -> str | None:
        """Connect and log in to the smarthost once (``lanmailctl doctor``): None when
        that works, else what went wrong."""
        s = self.settings
        try:
            client = await self._connect(s.host, s.port)
        except aiosmtplib.SMTPAuthenticationError as exc:
            return f"login refused: {_reply(exc)}"
        except (OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
            return _describe(exc)
        try:
            await client.quit()
        except (OSError, aiosmtplib.SMTPException):
            pass
        return None

    async def expire(self) -> None:
        """Close connections idle for longer than ``IDLE``."""
        limit = time.monotonic() - IDLE
        for key, pool in list(self._idle.items()):
            old = [c for since, c in pool if since < limit]
            self._idle[key] = [(since, c) for since, c in pool if since >= limit]
            for c in old:
                await _quit(c)

    async def close(self) -> None:
        pools, self._idle = self._idle, {}
        for pool in pools.values():
            for _since, c in pool:
                await _quit(c)

    # ------------------------------------------------------------------ sending

    async def _destinations(self, env: Envelope) -> list[tuple[str, int, str]]:
        """(address to connect to, port, name for TLS/logs), in the order to try."""
        s = self.settings
        if self.resolver is None:
            return [(s.host, s.port, s.host)]
        domain = env.recipients[0].rpartition("@")[2]
        return [(ip, self.mx_port, name) for name, ip in await self.resolver.hosts(domain)]

    async def send(self, env: Envelope) -> dict[str, Outcome]:
        errors = []
        for host, port, name in await self._destinations(env):
            key = (host, port, self.settings.user if self.resolver is None else "")
            slot = self._slots.setdefault(key, asyncio.Semaphore(self.connections))
            async with slot:
                for _attempt in range(2):
                    try:
                        client, reused = await self._acquire(key, host, port)
                    except aiosmtplib.SMTPAuthenticationError as exc:
                        raise TransportError(f"{name}: login refused: {_reply(exc)}; check "
                                             "[outgoing.smtp] user and password (with "
                                             "XOAUTH2: lanmailctl outgoing oauth2-login)"
                                             ) from None
                    except (OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
                        errors.append(f"{name}:{port}: {_describe(exc)}")
                        break
                    try:
                        result = await self._transaction(client, env)
                    except _Stale:
                        await _quit(client)
                        if reused:
                            continue  # the peer closed an idle connection: take a new one
                        errors.append(f"{name}:{port}: connection lost")
                        break
                    except (OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
                        await _quit(client)
                        raise TransportError(f"{name}:{port}: {_describe(exc)}") from None
                    self._release(key, client)
                    if self.resolver is not None and _all_temp(result):
                        errors.append(f"{name}: {next(iter(result.values())).reply}")
                        break  # RFC 5321 5.1: try the next MX host
                    return result
        raise TransportError("; ".join(errors)[:500] or "no host to deliver to")

    async def _transaction(self, client: aiosmtplib.SMTP, env: Envelope) -> dict[str, Outcome]:
        """One MAIL/RCPT.../DATA; raises _Stale when the connection died before anything
        was accepted (safe to redo on a new connection)."""
        if env.smtputf8 and not client.supports_extension("smtputf8"):
            return {r: Outcome("perm", "553 5.6.7 the receiving server does not support "
                               "SMTPUTF8, needed for this address", "5.6.7")
                    for r in env.recipients}
        params = ""
        if client.supports_extension("size"):
            params += f" SIZE={len(env.data)}"
        if client.supports_extension("8bitmime") and not env.data.isascii():
            params += " BODY=8BITMIME"
        if env.smtputf8:
            params += " SMTPUTF8"
        commands = [f"MAIL FROM:<{env.sender}>{params}\r\n".encode()]
        commands += [f"RCPT TO:<{r}>\r\n".encode() for r in env.recipients]
        replies = await self._commands(client, commands)
        mail_reply, rcpt_replies = replies[0], replies[1:]
        if mail_reply.code != 250:
            await _rset(client)
            o = _outcome(mail_reply)
            return {r: o for r in env.recipients}
        result: dict[str, Outcome] = {}
        accepted = []
        for rcpt, resp in zip(env.recipients, rcpt_replies, strict=True):
            if resp.code in (250, 251):
                accepted.append(rcpt)
            else:
                result[rcpt] = _outcome(resp)
        if not accepted:
            await _rset(client)
            return result
        final = await self._data(client, env.data)
        o = _outcome(final)
        for rcpt in accepted:
            result[rcpt] = o
        if final.code != 250:
            await _rset(client)
        return result

    async def _commands(self, client: aiosmtplib.SMTP, commands: list[bytes]) -> list:
        """Each command and its reply in turn; raises _Stale when the connection is gone
        before the first reply (nothing was accepted yet)."""
        out = []
        for command in commands:
            try:
                out.append(await _exchange(client, command, client.timeout))
            except aiosmtplib.SMTPServerDisconnected:
                if out:
                    raise
                raise _Stale() from None
        return out

    async def _data(self, client: aiosmtplib.SMTP, data: bytes):
        start = await _exchange(client, b"DATA\r\n", client.timeout)
        if start.code != 354:
            return start
        if len(data) > _THREAD_BYTES:
            stuffed = await asyncio.to_thread(_stuff, data)
        else:
            stuffed = _stuff(data)
        return await _exchange(client, stuffed, max(client.timeout or 60, 600))


class _Stale(Exception):
    pass


async def _exchange(client: aiosmtplib.SMTP, data: bytes, timeout):
    """Write ``data`` (a command line, or the dot-stuffed message ending in CRLF.CRLF) and
    read its one reply. The command is built here (addresses checked by the SMTP server
    that accepted them), so aiosmtplib's per-argument encoding is not needed."""
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("connection lost")
    protocol._response_pending = True  # noqa: SLF001 - a reply is expected (see its guard)
    protocol.write(data)
    return await protocol.read_response(timeout=timeout)


def _all_temp(result: dict[str, Outcome]) -> bool:
    return bool(result) and all(o.status == "temp" for o in result.values())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _reply(exc)
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())[:300]


async def _rset(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        await client.rset()


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(client.quit(), 5)
    except Exception:  # noqa: BLE001 - closing anyway
        client.close()
