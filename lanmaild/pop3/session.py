"""One POP3 session: the AUTHORIZATION -> TRANSACTION -> UPDATE state machine (RFC 1939).

Syntax lives in ``parser``, the maildrop (snapshot, deletion marks, store access) in
``maildrop``; this module decides what each command does in each state and does the I/O.

- Log-in: USER/PASS and AUTH (RFC 5034; PLAIN and LOGIN from ``lanmaild.auth.sasl``, with
  initial response, ``*`` cancels). Passwords are accepted only over TLS or from networks
  in ``server.plaintext_auth``; otherwise ``-ERR [AUTH]`` tells the client to use STLS.
  Every check goes through ``runtime.auth`` (delay, per-IP/per-account limits, fail2ban line).
- STLS (RFC 2595) drops whatever the client pipelined after it.
- Deletions happen only at QUIT in TRANSACTION state, in one store transaction; ``+OK`` is
  sent after that commit returned. A dropped connection or autologout deletes nothing.
- Silence: ``limits.prelogin_timeout`` before log-in, ``pop3_autologout`` after it.
- Deleting the account (``lanmaild.sessions``) closes the connection without UPDATE: the
  DELE marks are dropped, as on a dropped connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .. import __version__
from ..auth import sasl
from ..net import silence_timeout
from ..net.tls import handshake_failure
from ..sessions import LiveSessions
from ..store import StoreError
from . import parser
from .maildrop import (
    Maildrop,
    MaildropLocks,
    MaildropUnavailable,
    MessageDeleted,
    MessageGone,
    NoSuchMessage,
)
from .parser import CRLF, CommandError, err, ok

if TYPE_CHECKING:
    from ..config.model import Account
    from ..net import Connection
    from ..runtime import Runtime

SEND_BUFFER = 256 * 1024  # bytes of a multi-line reply gathered before a drain
AUTHORIZATION, TRANSACTION, UPDATE = "AUTHORIZATION", "TRANSACTION", "UPDATE"
MAX_AUTH_FAILURES = 3  # per connection; runtime.auth limits per IP and account on top
MAX_BAD_COMMANDS = 20  # before log-in
LIST_BATCH = 2000  # lines per write of a long LIST/UIDL


def _states(*states: str):
    """The states in which a ``cmd_*`` handler may run."""

    def mark(fn):
        fn.states = states
        return fn

    return mark


class CloseSession(Exception):
    """End the session now (QUIT done, line too long, too many errors)."""


class Session:
    def __init__(self, conn: Connection, runtime: Runtime, locks: MaildropLocks) -> None:
        self.conn = conn
        self.runtime = runtime
        self.locks = locks
        self.log = conn.log
        self.state = AUTHORIZATION
        self.user: str | None = None  # from USER, waiting for PASS
        self.account: Account | None = None
        self.maildrop: Maildrop | None = None
        self.auth_failures = 0
        self.bad_commands = 0
        self.live = LiveSessions.of(runtime)
        self.ended: str | None = None  # set by end(): close before the next command
        self._waiting = False  # waiting for the next command: end() may interrupt it
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ I/O

    async def send(self, data: bytes) -> None:
        self.conn.writer.write(data)
        await self.conn.writer.drain()

    async def read_line(self) -> bytes | None:
        """The next line without CRLF; None on EOF or autologout (both end the session
        without UPDATE). A line over MAX_LINE gets -ERR and ends the session."""
        timeout = self.idle_timeout
        try:
            line = await asyncio.wait_for(self.conn.reader.readuntil(b"\n"), timeout)
        except TimeoutError:
            self.log.info("autologout after %s s idle (%s state, nothing deleted)", timeout,
                          self.state)
            return None
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError:
            await self._too_long()
        if len(line) > parser.MAX_LINE:
            await self._too_long()
        return line.rstrip(b"\r\n")

    @property
    def idle_timeout(self) -> float | None:
        """``pop3_autologout`` (RFC 1939 3: at least 10 minutes), and until log-in at most
        ``limits.prelogin_timeout``: an anonymous client should not hold a connection for
        ten minutes. 0 means no limit."""
        limits = self.runtime.config.limits
        return silence_timeout(limits.pop3_autologout, limits.prelogin_timeout,
                            self.state != AUTHORIZATION)

    async def _too_long(self) -> None:
        self.log.warning("line too long, closing")
        await self.send(err(f"line too long (max {parser.MAX_LINE} octets)"))
        raise CloseSession

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        self._task = asyncio.current_task()
        host = self.runtime.config.server.hostname
        await self.send(ok(f"{host} LANMail POP3 server ready"))
        try:
            while self.ended is None:
                line = await self._next_line()
                if line is None:
                    break
                await self.dispatch(line)
        except CloseSession:
            pass
        except asyncio.CancelledError:
            if self.ended is None or self._task.uncancel():
                raise  # the daemon is stopping
        finally:
            if self.ended is not None:
                self.log.info("closing: %s", self.ended)
            if self.account is not None and self.maildrop is not None:
                self.live.discard(self.account.key, self)
                self.locks.release(self.account.key)
            if self.state == TRANSACTION and self.maildrop and self.maildrop.deleted:
                self.log.info("session ended without QUIT: %d marked messages kept",
                              len(self.maildrop.deleted))

    async def _next_line(self) -> bytes | None:
        """The next command line; ``end`` may interrupt this wait (and only this one, so
        a reply is never cut off)."""
        self._waiting = True
        try:
            return await self.read_line()
        finally:
            self._waiting = False

    def end(self, reason: str) -> None:
        """Close the session without UPDATE (its account was deleted): at once while it
        waits for a command, else after the current one. POP3 has no unsolicited
        responses (RFC 1939 3), so the connection is just closed."""
        self.ended = self.ended or reason
        if self._waiting and self._task is not None and not self._task.done():
            self._task.cancel()

    async def dispatch(self, line: bytes) -> None:
        try:
            cmd = parser.parse_command(line)
            handler = self._handler(cmd.name)
            if handler is None:
                raise CommandError("unknown command")
            states = getattr(handler, "states", ())
            if self.state not in states:
                raise CommandError(f"{cmd.name} not allowed in {self.state} state")
            await handler(cmd)
        except CommandError as exc:
            await self.send(err(str(exc)))
            if self.state == AUTHORIZATION:  # junk before log-in: scanners, wrong protocol
                self.bad_commands += 1
            if self.bad_commands >= MAX_BAD_COMMANDS:
                self.log.warning("too many bad commands, closing")
                await self.send(err("too many errors, closing connection"))
                raise CloseSession from None

    def _handler(self, name: str):
        return getattr(self, f"cmd_{name.lower()}", None)

    # ------------------------------------------------------------------ any state

    @_states(AUTHORIZATION, TRANSACTION)
    async def cmd_capa(self, cmd: parser.Command) -> None:
        self._no_args(cmd)
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
        if self.state == AUTHORIZATION:
            if self._plaintext_ok():
                caps.append("USER")
                caps.append("SASL " + " ".join(sasl.available(self.runtime.auth)))
            if self.runtime.tls_context is not None and not self.conn.is_tls:
                caps.append("STLS")
        caps.append(f"IMPLEMENTATION LANMail-{__version__}")
        await self.send(parser.multiline(ok("Capability list follows"), caps))

    @_states(AUTHORIZATION, TRANSACTION)
    async def cmd_quit(self, cmd: parser.Command) -> None:
        self._no_args(cmd)
        if self.state == TRANSACTION and self.maildrop is not None:
            marked = len(self.maildrop.deleted)
            self.state = UPDATE
            try:
                removed = await self.maildrop.commit()  # UPDATE state: durable on return
            except StoreError as exc:
                self.log.error("update failed, nothing deleted: %s", exc)
                await self.send(err("some deleted messages not removed", "SYS/TEMP"))
                raise CloseSession from None
            if removed != marked:
                self.log.info("quit: %d messages deleted (%d of the %d marked were already"
                              " removed by another session)", removed, marked - removed, marked)
            else:
                self.log.info("quit: %d messages deleted", removed)
            count = len(self.maildrop) - marked
            await self.send(ok(f"LANMail POP3 server signing off ({removed} messages deleted,"
                               f" {count} left)"))
        else:
            self.log.info("quit")
            await self.send(ok("LANMail POP3 server signing off"))
        raise CloseSession

    # ------------------------------------------------------------------ AUTHORIZATION

    def _plaintext_ok(self) -> bool:
        return self.runtime.auth.plaintext_allowed(self.conn.peer_ip, self.conn.is_tls)

    async def _refuse_plaintext(self) -> None:
        self.log.info("refused clear-text log-in before TLS")
        hint = "use STLS first" if self.runtime.tls_context is not None else \
            "TLS is not configured on this server"
        await self.send(err(f"clear-text log-in not allowed here: {hint}", "AUTH"))

    @_states(AUTHORIZATION)
    async def cmd_stls(self, cmd: parser.Command) -> None:
        self._no_args(cmd)
        ctx = self.runtime.tls_context
        if self.conn.is_tls:
            raise CommandError("TLS is already active")
        if ctx is None:
            raise CommandError("TLS is not configured on this server")
        await self.send(ok("Begin TLS negotiation"))
        # RFC 2595 / CVE-2011-0411: nothing the client sent before the handshake may be
        # taken as a command afterwards.
        _discard_buffered(self.conn.reader)
        try:
            await self.conn.starttls(ctx)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            # A client mistake (plain text, a port scanner): one line, no traceback.
            self.log.info("stls: TLS handshake failed: %s", handshake_failure(exc))
            raise CloseSession from None
        self.user = None
        self.log.info("stls: TLS active")

    @_states(AUTHORIZATION)
    async def cmd_user(self, cmd: parser.Command) -> None:
        if not self._plaintext_ok():
            await self._refuse_plaintext()
            return
        if not cmd.rest.strip():
            raise CommandError("USER needs a name")
        self.user = cmd.rest.strip()
        await self.send(ok("send PASS"))

    @_states(AUTHORIZATION)
    async def cmd_pass(self, cmd: parser.Command) -> None:
        if self.user is None:
            raise CommandError("USER first")
        user, self.user = self.user, None
        if not self._plaintext_ok():
            await self._refuse_plaintext()
            return
        await self._logged_in(await self.runtime.auth.login(
            user, cmd.rest, ip=self.conn.peer_ip, service="pop3",
            session=self.conn.session_id), "USER/PASS")

    @_states(AUTHORIZATION)
    async def cmd_auth(self, cmd: parser.Command) -> None:
        self.user = None
        mechanisms = sasl.available(self.runtime.auth)
        if not cmd.args:
            # Pre-RFC 5034 clients ask "AUTH" for the mechanism list.
            await self.send(parser.multiline(ok("mechanisms follow"),
                                             mechanisms if self._plaintext_ok() else ()))
            return
        if len(cmd.args) > 2:
            raise CommandError("AUTH mechanism [initial-response]")
        if cmd.args[0].upper() not in mechanisms:
            raise CommandError(f"unsupported mechanism; use one of {' '.join(mechanisms)}")
        if not self._plaintext_ok():
            await self._refuse_plaintext()
            return

        async def exchange(challenge: bytes) -> bytes:
            await self.send(b"+ " + sasl.b64encode(challenge) + CRLF)
            self.conn.quickack()
            line = await self.read_line()
            if line is None:
                raise CloseSession
            if line.strip() == b"*":
                raise sasl.Cancelled
            return sasl.b64decode(line.strip())

        mech = sasl.mechanism(cmd.args[0])
        try:
            # RFC 5034: an initial response of "=" is an empty one.
            initial = None if len(cmd.args) == 1 else \
                b"" if cmd.args[1] == "=" else sasl.b64decode(cmd.args[1])
            account = await sasl.authenticate(
                mech, initial, exchange, self.runtime.auth, ip=self.conn.peer_ip,
                service="pop3", session=self.conn.session_id)
        except sasl.Cancelled:
            await self.send(err("authentication cancelled"))
            return
        except sasl.SaslError as exc:
            self.bad_commands += 1
            await self.send(err(f"malformed SASL response: {exc}"))
            return
        await self._logged_in(account, f"AUTH {mech.name}")

    async def _logged_in(self, account, how: str) -> None:
        if account is None:
            self.auth_failures += 1
            await self.send(err("authentication failed", "AUTH"))
            if self.auth_failures >= MAX_AUTH_FAILURES:
                self.log.warning("%d failed log-ins, closing", self.auth_failures)
                raise CloseSession
            return
        if not self.locks.acquire(account.key):
            self.log.info("login %s refused: maildrop in use by another POP3 session",
                          account.name)
            await self.send(err("maildrop already locked by another POP3 session", "IN-USE"))
            return
        try:
            maildrop = await Maildrop.open(self.runtime.store.mail, account.key)
        except (StoreError, MaildropUnavailable) as exc:
            self.locks.release(account.key)
            self.log.error("cannot open maildrop of %s: %s", account.name, exc)
            await self.send(err("maildrop temporarily unavailable, try again later",
                                "SYS/TEMP"))
            return
        if not self.live.add(account.key, self):  # deleted while the password was checked
            self.locks.release(account.key)
            await self.send(err("authentication failed", "AUTH"))
            return
        self.account, self.maildrop, self.state = account, maildrop, TRANSACTION
        count, octets = maildrop.stat()
        self.log.info("login %s via %s%s: %d messages, %d octets", account.name, how,
                      " (tls)" if self.conn.is_tls else "", count, octets)
        await self.send(ok(f"maildrop has {count} messages ({octets} octets)"))

    # ------------------------------------------------------------------ TRANSACTION

    def _msg(self, arg: str) -> int:
        """Parse and check a message number against the snapshot."""
        number = parser.msg_number(arg)
        try:
            self.maildrop.index(number)
        except NoSuchMessage:
            raise CommandError(f"no such message: {number}") from None
        except MessageDeleted:
            raise CommandError(f"message {number} already deleted") from None
        return number

    @staticmethod
    def _no_args(cmd: parser.Command) -> None:
        if cmd.args:
            raise CommandError(f"{cmd.name} takes no arguments")

    @staticmethod
    def _nargs(cmd: parser.Command, low: int, high: int) -> None:
        if not low <= len(cmd.args) <= high:
            raise CommandError(f"wrong number of arguments for {cmd.name}")

    @_states(TRANSACTION)
    async def cmd_stat(self, cmd: parser.Command) -> None:
        self._no_args(cmd)
        count, octets = self.maildrop.stat()
        await self.send(ok(f"{count} {octets}"))

    @_states(TRANSACTION)
    async def cmd_list(self, cmd: parser.Command) -> None:
        await self._listing(cmd, lambda n: str(self.maildrop.size(n)), "scan")

    @_states(TRANSACTION)
    async def cmd_uidl(self, cmd: parser.Command) -> None:
        await self._listing(cmd, self.maildrop.unique_id, "unique-id")

    async def _listing(self, cmd: parser.Command, value, what: str) -> None:
        self._nargs(cmd, 0, 1)
        if cmd.args:
            n = self._msg(cmd.args[0])
            await self.send(ok(f"{n} {value(n)}"))
            return
        count, octets = self.maildrop.stat()
        head = f"{count} messages ({octets} octets)" if what == "scan" else \
            f"{what} listing follows"
        self.conn.writer.write(ok(head))
        batch: list[bytes] = []
        for n in self.maildrop.live():
            batch.append(f"{n} {value(n)}\r\n".encode())
            if len(batch) >= LIST_BATCH:
                await self.send(b"".join(batch))
                batch.clear()
        await self.send(b"".join(batch) + b"." + CRLF)

    @_states(TRANSACTION)
    async def cmd_retr(self, cmd: parser.Command) -> None:
        self._nargs(cmd, 1, 1)
        n = self._msg(cmd.args[0])
        size = self.maildrop.size(n)
        sent = await self._send_message(n, f"{size} octets", parser.DotStuffer(), None)
        if sent:
            self.maildrop.mark_retrieved(n)
            self.log.info("retr %d uid=%d %d octets", n, self.maildrop.uid(n), size)

    @_states(TRANSACTION)
    async def cmd_top(self, cmd: parser.Command) -> None:
        self._nargs(cmd, 2, 2)
        n = self._msg(cmd.args[0])
        lines = parser.line_count(cmd.args[1])
        await self._send_message(n, "top of message follows", parser.DotStuffer(),
                                 parser.TopFilter(lines))

    async def _send_message(self, n: int, head: str, stuffer: parser.DotStuffer,
                            top: parser.TopFilter | None) -> bool:
        """Stream message ``n`` as a multi-line reply, chunk by chunk with drain. False
        (after -ERR) when another session removed it since the snapshot."""
        chunks = self.maildrop.chunks(n, 64 * 1024 if top else 256 * 1024)
        try:
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                first = b""
        except MessageGone:
            self.log.info("message %d (uid %d) was removed by another session", n,
                          self.maildrop.uid(n))
            await self.send(err(f"message {n} was removed by another session"))
            return False
        except StoreError as exc:
            self.log.error("reading message %d failed: %s", n, exc)
            await self.send(err("cannot read the message now, try again later", "SYS/TEMP"))
            return False
        # Pieces are gathered and written together (one send for a message that fits in
        # a chunk, as most do), flushing with drain once SEND_BUFFER bytes are pending.
        pending, size = [ok(head)], 0
        chunk: bytes | None = first
        try:
            while chunk is not None:
                if top is not None:
                    chunk = top.feed(chunk)
                piece = stuffer.feed(chunk)
                pending.append(piece)
                size += len(piece)
                if top is not None and top.done:
                    break
                if size >= SEND_BUFFER:
                    await self.send(b"".join(pending))
                    pending, size = [], 0
                chunk = await anext(chunks, None)
        except (MessageGone, StoreError) as exc:
            # The reply has started: the only honest way out is to drop the connection.
            self.log.error("message %d vanished while being sent (%s), closing", n,
                           exc.__class__.__name__)
            raise CloseSession from None
        finally:
            await chunks.aclose()
        tail = top.finish() if top is not None else b""
        pending.append(stuffer.feed(tail) + stuffer.finish())
        await self.send(b"".join(pending))
        return True

    @_states(TRANSACTION)
    async def cmd_dele(self, cmd: parser.Command) -> None:
        self._nargs(cmd, 1, 1)
        n = self._msg(cmd.args[0])
        self.maildrop.mark_deleted(n)
        self.log.info("dele %d uid=%d (applied at QUIT)", n, self.maildrop.uids[n - 1])
        await self.send(ok(f"message {n} deleted"))

    @_states(TRANSACTION)
    async def cmd_rset(self, cmd: parser.Command) -> None:
        self._no_args(cmd)
        unmarked = self.maildrop.reset()
        if unmarked:
            self.log.info("rset: %d deletion marks removed", unmarked)
        count, octets = self.maildrop.stat()
        await self.send(ok(f"maildrop has {count} messages ({octets} octets)"))

    @_states(TRANSACTION)
    async def cmd_noop(self, cmd: parser.Command) -> None:
        self._no_args(cmd)
        await self.send(ok())


def _discard_buffered(reader: asyncio.StreamReader) -> None:
    """Drop bytes already read from the socket but not yet consumed (pipelined after STLS).
    StreamReader has no public API for this; its buffer is a bytearray."""
    buffer = getattr(reader, "_buffer", None)
    if isinstance(buffer, bytearray):
        buffer.clear()
