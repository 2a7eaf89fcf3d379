"""One IMAP connection: the RFC 3501 state machine, response writing, change reporting.

Commands are framed and parsed by ``parser``; handlers live in one module per family
(``commands_auth``, ``commands_mailbox``, ``commands_selected``) and register themselves in
``base.HANDLERS`` with the states they are valid in. A handler writes untagged responses
with ``untagged()`` and completes by returning (tagged OK) or raising ``No``/``Bad``/``Ok``
(with a response code). Before every tagged response the session reports what other
sessions changed in the selected folder, within what RFC 3501 7.4.1 allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import __version__
from ..auth import sasl
from ..net import silence_timeout
from ..sessions import ACCOUNT_DELETED, LiveSessions
from ..store import QueryTimeout, StoreError
from ..store.mailbox import AccountGone
from . import commands_auth, commands_mailbox, commands_selected  # noqa: F401 - registration
from .base import HANDLERS, Bad, Bye, Done, No, Ok, Reply, State
from .parser import CommandReader, FramingError, ParseError, parse_command, parse_tag
from .selected import SelectedMailbox, flag_lists, flags_bytes, uid_set_text

if TYPE_CHECKING:
    from ..config.model import Account
    from ..net import Connection
    from ..runtime import Runtime

CRLF = b"\r\n"
# Commands during which EXPUNGE responses must not be sent (RFC 3501 7.4.1).
NO_EXPUNGE = frozenset({"FETCH", "STORE", "SEARCH"})
BASE_CAPS = ("IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE",
             "UIDPLUS", "MULTIAPPEND", "MOVE", "UNSELECT", "CHILDREN", "SPECIAL-USE",
             "CONDSTORE", "QRESYNC")
SMALL_LITERAL = 64 * 1024
FLUSH_AT = 256 * 1024


class Session:
    def __init__(self, runtime: Runtime, conn: Connection) -> None:
        self.runtime = runtime
        self.conn = conn
        self.log = conn.log
        self.store = runtime.store.mail
        self.hub = runtime.store.notify
        self.state = State.NOT_AUTHENTICATED
        self.account: Account | None = None
        self.user = ""  # the account's store key
        self.selected: SelectedMailbox | None = None
        self.client_id: dict | None = None
        self.current: str = ""  # name of the command being run
        self.condstore = False  # RFC 7162: MODSEQ in unsolicited FETCH once enabled
        self.qresync = False  # RFC 7162: VANISHED instead of EXPUNGE once enabled
        limits = runtime.config.limits
        self.reader = CommandReader(conn.reader, self._continuation,
                                    line_limit=limits.line_length,
                                    literal_limit=self._literal_limit)
        self._pending = 0
        self._out: list[bytes] = []
        self.live = LiveSessions.of(runtime)
        self.ended: str | None = None  # set by end(): finish with BYE at the next chance
        self._waiting = False  # waiting for the client: end() may interrupt at once
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ output

    @property
    def writer(self) -> asyncio.StreamWriter:
        return self.conn.writer

    def send(self, data: bytes) -> None:
        """Queue output; ``flush`` writes it in one system call (a command's untagged and
        tagged responses are one segment, not one write each)."""
        self._out.append(data)
        self._pending += len(data)

    def untagged(self, text: bytes | str) -> None:
        if isinstance(text, str):
            text = text.encode("utf-8")
        self.send(b"* " + text + CRLF)

    async def flush(self) -> None:
        if self._out:
            self.writer.write(self._out[0] if len(self._out) == 1 else b"".join(self._out))
            self._out.clear()
        self._pending = 0
        await self.writer.drain()

    async def maybe_flush(self) -> None:
        if self._pending >= FLUSH_AT:
            await self.flush()

    @property
    def idle_timeout(self) -> float | None:
        """Seconds of client silence allowed now: ``imap_autologout`` (RFC 3501 5.4: at
        least 30 minutes), and until log-in at most ``limits.prelogin_timeout``: an
        anonymous client should not hold a connection for half an hour. None = no limit."""
        limits = self.runtime.config.limits
        return silence_timeout(limits.imap_autologout, limits.prelogin_timeout,
                            self.state is not State.NOT_AUTHENTICATED)

    async def read_line(self) -> bytes:
        """A client line inside a command (AUTHENTICATE responses), with autologout."""
        try:
            return await asyncio.wait_for(self.reader.readline(), self.idle_timeout)
        except TimeoutError:
            raise Bye("Autologout; idle for too long") from None

    async def _continuation(self, line: bytes) -> None:
        self.send(line)
        await self.flush()
        self.conn.quickack()  # the literal often comes in two writes (see net.quickack)

    def _literal_limit(self, first_line: bytes) -> int:
        """Octets of literal data the command may carry, checked before a "+" is sent.

        Before log-in only ``limits.prelogin_literal`` (enough for LOGIN/AUTHENTICATE): an
        anonymous client must not make the server buffer a message-sized APPEND. After it,
        APPEND may carry ``message_size`` and other commands ``SMALL_LITERAL``."""
        limits = self.runtime.config.limits
        if self.state is State.NOT_AUTHENTICATED:
            return limits.prelogin_literal
        limit = limits.message_size
        parts = first_line.split(b" ", 3)
        if len(parts) > 1 and parts[1].upper() == b"APPEND":
            return limit
        return min(limit, SMALL_LITERAL)

    def tagged(self, tag: bytes, status: str, text: str, code: str | None = None) -> None:
        code_part = f"[{code}] " if code else ""
        self.send(tag + f" {status} {code_part}{text}".encode("utf-8", "replace") + CRLF)

    # ------------------------------------------------------------------ capabilities

    @property
    def plaintext_ok(self) -> bool:
        return self.runtime.auth.plaintext_allowed(self.conn.peer_ip, self.conn.is_tls)

    def capabilities(self) -> str:
        caps = list(BASE_CAPS)
        if self.state is State.NOT_AUTHENTICATED:
            if self.runtime.tls_context is not None and not self.conn.is_tls:
                caps.append("STARTTLS")
            if self.plaintext_ok:
                caps.extend(f"AUTH={m}" for m in sasl.available(self.runtime.auth))
            else:
                caps.append("LOGINDISABLED")
        return " ".join(caps)

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        self._task = asyncio.current_task()
        self.untagged(f"OK [CAPABILITY {self.capabilities()}] lanmaild {__version__} "
                      "IMAP4rev1 ready")
        await self.flush()
        try:
            try:
                while self.state is not State.LOGOUT:
                    if not await self.one_command():
                        break
            except asyncio.CancelledError:
                if self.ended is None or self._task.uncancel():
                    raise
                raise self._ended_bye() from None  # end() interrupted a wait
        except Bye as bye:
            code = f"[{bye.code}] " if bye.code else ""
            self.untagged(f"BYE {code}{bye.text}")
            self.log.info("closing: %s", bye.text)
        except EOFError:
            pass
        except asyncio.CancelledError:  # the daemon is stopping
            self.untagged("BYE Server shutting down")
        finally:
            if self.account is not None:
                self.live.discard(self.account.key, self)
            self.deselect()
            try:
                await asyncio.wait_for(self.flush(), 5)  # a stalled client cannot hold us
            except (ConnectionError, OSError, TimeoutError):
                pass

    # ------------------------------------------------------------------ ending early

    def logged_in(self, account: Account) -> bool:
        """Enter the authenticated state; False if the account was deleted meanwhile."""
        if not self.live.add(account.key, self):
            return False
        self.account = account
        self.user = account.key
        self.state = State.AUTHENTICATED
        return True

    def end(self, reason: str) -> None:
        """Close the session with ``* BYE [CONTACTADMIN] reason`` (its account was
        deleted): at once while it waits for the client, else after the current command,
        so no response is cut in half."""
        self.ended = self.ended or reason
        if self._waiting and self._task is not None and not self._task.done():
            self._task.cancel()

    def _ended_bye(self) -> Bye:
        return Bye(self.ended or "", "CONTACTADMIN")

    @contextlib.contextmanager
    def waiting_for_client(self) -> Iterator[None]:
        """Mark a wait for client input (next command, IDLE's DONE) that ``end`` may
        cancel; nothing is half-written while the session waits."""
        if self.ended is not None:
            raise self._ended_bye()
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False

    # ------------------------------------------------------------------ commands

    async def one_command(self) -> bool:
        try:
            # asyncio.timeout, not wait_for: wait_for (3.11) wraps the read in a new task,
            # which costs extra loop iterations on every command.
            with self.waiting_for_client():
                async with asyncio.timeout(self.idle_timeout):
                    raw = await self.reader.read_command()
        except TimeoutError:
            raise Bye("Autologout; idle for too long") from None
        except FramingError as exc:
            if exc.tag is not None:
                code = "TOOBIG" if exc.toobig else None
                if exc.toobig and not exc.fatal and exc.command == b"APPEND":
                    self.tagged(exc.tag, "NO", str(exc), code)
                else:
                    self.tagged(exc.tag, "BAD", str(exc), code)
            if exc.fatal:
                self.log.warning("protocol error: %s", exc)
                raise Bye(str(exc), "TOOBIG" if exc.toobig else None) from None
            await self.flush()
            return True
        started = time.monotonic()
        try:
            cmd = parse_command(raw)
        except ParseError as exc:
            tag = exc.tag or parse_tag(raw)
            if tag is None:
                self.untagged(f"BAD {exc}")
            else:
                self.tagged(tag, "BAD", str(exc))
            await self.flush()
            return True
        await self.dispatch(cmd)
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("%s %s in %.1f ms", cmd.tag.decode(errors="replace"), cmd.name,
                           (time.monotonic() - started) * 1000)
        await self.flush()
        return True

    async def dispatch(self, cmd) -> None:
        entry = HANDLERS.get(cmd.name)
        if entry is None:
            self.tagged(cmd.tag, "BAD", f"{cmd.name} is not supported")
            return
        handler, states = entry
        if self.state not in states:
            self.tagged(cmd.tag, "BAD", f"{cmd.name} is not valid in the "
                        f"{self.state.value} state")
            return
        self.current = cmd.base
        try:
            await handler(self, cmd)
        except Done:
            return
        except Reply as reply:
            await self.report_changes(cmd)
            if isinstance(reply, Ok):
                self.tagged(cmd.tag, "OK", reply.text, reply.code)
            else:
                self.tagged(cmd.tag, reply.status, reply.text, reply.code)
            return
        except (Bye, EOFError, ConnectionError, asyncio.CancelledError):
            raise
        except FramingError as exc:  # inside AUTHENTICATE or IDLE
            raise Bye(str(exc)) from None
        except AccountGone:  # deleted while this session ran (reload hook not yet run)
            self.ended = self.ended or ACCOUNT_DELETED
            raise self._ended_bye() from None
        except QueryTimeout as exc:  # limits.query_timeout (a client-chosen heavy SEARCH)
            self.log.info("%s stopped: %s", cmd.name, exc)
            self.tagged(cmd.tag, "NO", f"Command stopped: {exc}; narrow it down", "LIMIT")
            return
        except StoreError as exc:
            self.log.error("%s failed: %s", cmd.name, exc)
            self.tagged(cmd.tag, "NO", "The mail store is unavailable, try again later",
                        "UNAVAILABLE")
            return
        except Exception:  # noqa: BLE001 - one broken command must not end the session
            self.log.exception("%s failed", cmd.name)
            self.tagged(cmd.tag, "NO", "Internal server error", "SERVERBUG")
            return
        finally:
            self.current = ""
        if self.state is State.LOGOUT:
            self.tagged(cmd.tag, "OK", f"{cmd.name} completed")
            return
        await self.report_changes(cmd)
        self.tagged(cmd.tag, "OK", f"{cmd.name} completed")

    async def report_changes(self, cmd) -> None:
        if self.selected is not None and cmd.name not in ("SELECT", "EXAMINE"):
            await self.poll(expunges=cmd.name not in NO_EXPUNGE)

    # ------------------------------------------------------------------ selected folder

    def select(self, mailbox: SelectedMailbox) -> None:
        self.deselect()
        self.selected = mailbox
        self.state = State.SELECTED

    def deselect(self) -> None:
        if self.selected is not None:
            self.hub.unwatch(self.selected.folder_id, self.selected.event)
            self.selected = None
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

    async def poll(self, expunges: bool = True, force: bool = False) -> None:
        """Report other sessions' changes to the selected folder as untagged responses."""
        box = self.selected
        if box is None:
            return
        if not (box.event.is_set() or force or (expunges and box.exp_pending)):
            return
        box.event.clear()
        changes = await self.store.folder_changes(box.folder_id, box.known_uid,
                                                  box.flag_modseq, box.exp_modseq, expunges)
        if changes.gone:
            self.deselect()
            raise Bye("The selected folder was deleted or renamed by another session")
        if expunges:
            self.report_expunged({uid for uid, _ in changes.expunged})
            box.exp_modseq = changes.highestmodseq
            box.exp_pending = False
        elif changes.highestmodseq > box.exp_modseq:
            box.exp_pending = True
        for uid, flags, keywords, modseq in changes.flags:
            if modseq in box.own_modseqs:
                continue
            seq = box.seq_of(uid)
            if seq:
                self.see_keywords(keywords)
                mod = b" MODSEQ (%d)" % modseq if self.condstore else b""
                self.untagged(b"%d FETCH (UID %d FLAGS %s%s)" % (
                    seq, uid, flags_bytes(flags, keywords, uid in box.recent), mod))
        box.flag_modseq = max(box.flag_modseq, changes.highestmodseq)
        box.own_modseqs = {m for m in box.own_modseqs if m > box.flag_modseq}
        if changes.new_uids:
            new = changes.new_uids
            box.uids.extend(new)
            if not box.readonly:
                previous = await self.store.claim_recent(box.folder_id, new[-1])
                box.recent.update(u for u in new if u > previous)
            self.untagged(b"%d EXISTS" % len(box.uids))
            self.untagged(b"%d RECENT" % len(box.recent))
        box.known_uid = max(box.known_uid, changes.uidnext - 1)

    def report_expunged(self, gone: set[int]) -> None:
        """Drop expunged UIDs from the view and tell the client: EXPUNGE responses, or one
        VANISHED response once QRESYNC is enabled."""
        box = self.selected
        if box is None or not gone:
            return
        removed = box.remove(gone)
        if not removed:
            return
        if self.qresync:
            self.untagged("VANISHED " + uid_set_text(sorted(uid for _, uid in removed)))
        else:
            for seq, _uid in removed:
                self.untagged(b"%d EXPUNGE" % seq)

    def announce_flags(self, readonly: bool | None = None) -> None:
        """FLAGS and PERMANENTFLAGS for the selected folder: at SELECT, and again when a
        keyword the client has not been told about turns up (RFC 3501 7.2.6)."""
        box = self.selected
        if box is None:
            return
        flags, permanent = flag_lists(box.keywords, box.readonly if readonly is None
                                      else readonly)
        self.untagged(flags)
        self.untagged(permanent)

    def see_keywords(self, keywords: str | None) -> None:
        if self.selected is not None and self.selected.new_keywords(keywords):
            self.announce_flags()

    # ------------------------------------------------------------------ helpers

    def require_selected(self) -> SelectedMailbox:
        if self.selected is None:
            raise Bad("No mailbox selected")
        return self.selected

    def require_writable(self) -> SelectedMailbox:
        box = self.require_selected()
        if box.readonly:
            raise No("The mailbox is read-only (EXAMINE)", "READ-ONLY")
        return box


async def handle(runtime: Runtime, conn: Connection) -> None:
    """The per-connection entry point handed to ``lanmaild.net.bind``."""
    await Session(runtime, conn).run()


__all__ = ["Bad", "Bye", "No", "Ok", "Session", "handle"]
