"""aiosmtpd's SMTP protocol engine, adapted to lanmaild.

``LanSMTP`` is aiosmtpd's ``SMTP`` (1.4.6: it has the SMTP smuggling and STARTTLS
injection fixes) with what the daemon needs on top:

- runs on the daemon's main loop (``net.bind_factory``, no ``Controller`` thread);
- the per-IP connection budget (``runtime.limiter``): an over-limit client gets
  ``421 4.7.0`` and is closed before the greeting;
- AUTH is offered after TLS (STARTTLS or the implicit TLS of smtps), or before it only
  to networks the admin listed in ``server.plaintext_auth`` (decided per connection);
- ENHANCEDSTATUSCODES (RFC 2034/3463): aiosmtpd's own replies carry none, so ``push``
  adds the right X.Y.Z to every reply that lacks one (the greeting and EHLO lines
  excepted, as RFC 2034 says); the policy handler writes its replies with codes anyway;
- DATA is held in memory up to ``data_size_limit`` (= ``limits.message_size``); beyond
  that the rest is drained and answered 552 5.3.4, so an oversized message never costs
  more than the limit in memory. Line lengths and dot-unstuffing are handled chunk by
  chunk as the data arrives (``smtp.data``): no pass over the whole message on the loop;
- hardening: STARTTLS inside TLS is refused (554 5.5.1), a failed handshake is one INFO
  line, control characters in any argument get 501 5.5.4, junk commands are limited
  (``limits.smtp_junk_commands``, 421), and until AUTH or MAIL the idle timeout is
  ``limits.prelogin_timeout`` (421 4.4.2 on expiry, RFC 5321 4.5.3.2);

Speed (the SMTP ingest benchmark, issue 5): DATA is read in bulk, up to each ".<CRLF>",
instead of aiosmtpd's one await per line, with the same end-of-data rule (only
<CRLF>.<CRLF>: no SMTP smuggling), the same replies for long lines and oversized data and
the same dot-unstuffing (``tests/smtp/test_smtp_data_reader.py`` checks it against
aiosmtpd's algorithm); the stream reader may buffer 64 KB, so a message no longer makes
the transport pause and resume reading; plain ``<local@domain>`` arguments of MAIL/RCPT
skip the email package's RFC 5322 parser. None of this touches durability: the 250 after
DATA is still the policy handler's, sent after the store commit.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiosmtpd.smtp import MISSING, SMTP, TLSSetupException

from ..net import quickack, silence_timeout
from ..net.tls import handshake_failure
from .data import DataBuffer

log = logging.getLogger("lanmaild.smtp")

# C0 controls and DEL in a command argument (TAB too: no SMTP argument has one).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
JUNK_COMMANDS = frozenset({"NOOP", "RSET", "VRFY", "EXPN", "HELP"})

_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")

# Default enhanced code for aiosmtpd's built-in replies, by reply code.
_DEFAULT_ENHANCED = {
    "221": "2.0.0", "235": "2.7.0", "250": "2.0.0", "252": "2.5.0",
    "421": "4.7.0", "451": "4.3.0", "452": "4.3.1", "454": "4.7.0",
    "500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
    "530": "5.7.0", "535": "5.7.8", "538": "5.7.11", "550": "5.0.0", "552": "5.3.4",
    "553": "5.1.3", "554": "5.7.0", "555": "5.5.4",
}


class _DropDeprecation(logging.Filter):
    """aiosmtpd 1.4.6 logs a deprecation warning on every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_DropDeprecation())


def with_enhanced(status: str) -> str:
    if len(status) < 4 or _HAS_ENHANCED.match(status):
        return status
    code = status[:3]
    enhanced = _DEFAULT_ENHANCED.get(code)
    if enhanced is None:
        return status
    if status.startswith("552 Error: Too much mail data"):
        return "552 5.3.4 Message too big for system"
    if status.startswith("500 Line too long"):
        return "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6: at most 998 characters + CRLF)"
    return f"{status[:4]}{enhanced} {status[4:]}"


# DATA is read in bulk (see ``LanSMTP.smtp_DATA``), so the stream reader may buffer more
# than one line: with aiosmtpd's limit (one line, 1001 bytes) a 10 KB message made the
# transport pause and resume reading (two epoll_ctl calls) and cost ~150 line reads.
READ_LIMIT = 64 * 1024
_DOT_CRLF = b".\r\n"

# Simple "<local@domain> params" arguments, the overwhelming majority, are split without
# the email package's full RFC 5322 parser; anything else (quoted local parts, comments,
# source routes, odd dots) still goes through aiosmtpd's ``_getaddr``.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ADDR = re.compile(
    "<(" + _ATOM + r"(?:\." + _ATOM + r")*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
    r"(?: +([^\s(].*)| *)\Z", re.S)


class LanSMTP(SMTP):
    def __init__(self, handler, *, runtime, service: str, implicit_tls: bool, **kwargs) -> None:
        super().__init__(handler, **kwargs)
        self._stream_reader._limit = max(READ_LIMIT, self.line_length_limit)
        self.runtime = runtime
        self.service = service
        self.implicit_tls = implicit_tls
        self.peer_ip = "?"
        self._refused = False
        self._counted = False
        self._ehlo_lines = False
        self._junk = 0  # junk commands since the last delivered message
        self._engaged = False  # AUTH succeeded or a MAIL transaction began
        self._smtp_methods = {name: self._checked(name, method)
                              for name, method in self._smtp_methods.items()}

    # ------------------------------------------------------------------ connection

    def connection_made(self, transport) -> None:
        if self.transport is None:  # the TCP connection itself, not the STARTTLS upgrade
            peer = transport.get_extra_info("peername") or ("?", 0)
            self.peer_ip = peer[0]
            refusal = self.runtime.limiter.acquire(self.peer_ip, self.service)
            if refusal is not None:
                log.warning("%s: refused %s: %s", self.service, self.peer_ip, refusal.lower())
                self._refused = True
                transport.write(b"421 4.7.0 %s\r\n" % refusal.encode())
                transport.close()
                return
            self._counted = True
            plaintext = self.runtime.auth.plaintext_allowed(self.peer_ip, self.implicit_tls)
            self._auth_require_tls = not plaintext
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        if self._refused:
            return
        if self._counted:
            self._counted = False
            self.runtime.limiter.release(self.peer_ip, self.service)
        super().connection_lost(error)

    @property
    def is_tls(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    # ------------------------------------------------------------------ commands

    def _checked(self, name: str, method):
        """Every command goes through here: arguments with control characters get 501
        (RFC 5321 4.1.1: commands are printable text; a NUL or ESC in a HELO or MAIL FROM
        would reach logs and Received headers), and junk commands are counted."""

        async def run(arg: str | None) -> None:
            if arg and _CONTROL.search(arg):
                await self.push("501 5.5.4 Syntax error: control characters in the argument")
                return
            if name in JUNK_COMMANDS and await self._over_junk_limit():
                return
            await method(arg)
            if not self._engaged and name in ("AUTH", "MAIL") and (
                    self.session.authenticated or self.envelope.mail_from is not None):
                self._engaged = True
                self._reset_timeout()  # from now on the normal idle timeout

        return run

    async def _over_junk_limit(self) -> bool:
        """Postfix's smtpd_junk_command_limit: NOOP, RSET, VRFY, EXPN and HELP are cheap
        to send and answer without end; after ``limits.smtp_junk_commands`` of them
        without a delivered message in between, the session is closed with 421."""
        limit = self.runtime.config.limits.smtp_junk_commands
        self._junk += 1
        if not limit or self._junk <= limit:
            return False
        log.info("%s[%s]: too many junk commands, closing", self.service, self.peer_ip)
        await self.push("421 4.7.0 Too many junk commands, closing connection")
        self.transport.close()
        return True

    # ------------------------------------------------------------------ timeouts

    def _reset_timeout(self, duration: float | None = None) -> None:
        """Until the client logged in or began a mail transaction, the idle timeout is
        ``limits.prelogin_timeout`` (or the normal one, if shorter): an anonymous
        connection should not hold a slot for minutes."""
        if duration is None and not self._engaged:
            duration = silence_timeout(self._timeout_duration,
                                    self.runtime.config.limits.prelogin_timeout, False)
        super()._reset_timeout(duration)

    def _timeout_cb(self) -> None:
        """RFC 5321 4.5.3.2: a server that times out a client should tell it (421)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"421 4.4.2 %s Error: timeout exceeded\r\n"
                                 % self.hostname.encode())
        super()._timeout_cb()

    # ------------------------------------------------------------------ STARTTLS

    async def smtp_STARTTLS(self, arg: str) -> None:
        """No TLS inside TLS (aiosmtpd 1.4.6 would nest a second layer; Postfix's reply),
        and a failed handshake is a client mistake: one INFO line, no traceback, and no
        reply written into the broken TLS layer."""
        if self.is_tls:
            await self.push("554 5.5.1 TLS already active")
            return
        try:
            await super().smtp_STARTTLS(arg)
        except TLSSetupException as exc:
            log.info("%s[%s]: starttls: TLS handshake failed: %s", self.service,
                     self.peer_ip, handshake_failure(exc.__cause__ or exc))
            if self.transport is not None:
                self.transport.close()
            self._handler_coroutine.cancel()

    # ------------------------------------------------------------------ replies

    async def push(self, status) -> None:
        if isinstance(status, str) and not self._ehlo_lines and not status.startswith(
                f"220 {self.hostname} "):
            status = with_enhanced(status)
        await super().push(status)

    async def smtp_EHLO(self, hostname: str) -> None:
        self._ehlo_lines = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._ehlo_lines = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._ehlo_lines = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._ehlo_lines = False

    async def smtp_EXPN(self, arg: str) -> None:
        await self.push("502 5.5.1 EXPN not available")

    async def smtp_VRFY(self, arg: str) -> None:
        # Never confirm or deny addresses to an unauthenticated prober (RFC 5321 3.5.3).
        await self.push("252 2.5.0 Cannot VRFY user, but will accept message and attempt "
                        "delivery")

    # ------------------------------------------------------------------ fast paths

    def _getaddr(self, arg: str):
        m = _SIMPLE_ADDR.match(arg)
        if m is None:
            return super()._getaddr(arg)
        addr = m.group(1)
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, m.group(2) or ""

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA (same replies, same checks) with the content read in bulk.

        aiosmtpd reads one line per await; here the reader is asked for everything up to
        the next ".<CRLF>" and the line rules are applied to the whole: the data ends only
        at <CRLF>.<CRLF> (a "." line after a bare LF or CR does not end it: SMTP smuggling),
        a line longer than ``line_length_limit`` (with its CRLF) gets 500, more than
        ``data_size_limit`` bytes get 552 (the excess is drained, not kept), and a leading
        dot is removed from each line (RFC 5321 4.5.2).
        """
        if self._decode_data:
            return await super().smtp_DATA(arg)
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        quickack(self.transport)  # the message often comes in several writes (net.quickack)
        try:
            content, error = await self._read_data()
        except asyncio.CancelledError:
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        if error is not None:
            await self.push(error)
            self._set_post_data_state()
            return
        self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        if isinstance(status, str) and status.startswith("250"):
            self._junk = 0  # a delivered message: the client is not just stalling
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[bytes, str | None]:
        """The DATA content (dot-unstuffed, terminator removed) or an error reply; the
        line rules are applied chunk by chunk as the data arrives (``smtp.data``)."""
        reader = self._reader
        buffer = DataBuffer(self.data_size_limit, self.line_length_limit)
        tail = b"\r\n"  # the last two bytes read (the DATA command ended with CRLF)
        while True:
            try:
                chunk = await reader.readuntil(_DOT_CRLF)
                end = True
            except asyncio.LimitOverrunError as exc:
                chunk = await reader.readexactly(exc.consumed)
                end = False
            if end:
                body = chunk[:-3]
                # the ".<CRLF>" ends the data only as a line of its own
                end = (tail + body).endswith(b"\r\n") if len(body) < 2 \
                    else body.endswith(b"\r\n")
                if end:
                    chunk = body
            buffer.feed(chunk)
            if end:
                return buffer.finish()
            tail = chunk[-2:] if len(chunk) >= 2 else (tail + chunk)[-2:]
