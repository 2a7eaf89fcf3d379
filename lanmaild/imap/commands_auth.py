"""Commands valid in any state and those that log in: CAPABILITY, NOOP, LOGOUT, STARTTLS,
LOGIN, AUTHENTICATE (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER; SASL-IR), ID (RFC 2971),
ENABLE (RFC 5161)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import __version__
from ..auth import sasl
from ..mime.render import nstring, quoted
from ..net.tls import handshake_failure
from .base import ANY, AUTH, NOT_AUTH, Bad, Done, No, Ok, State, command

if TYPE_CHECKING:
    from .parser import Command
    from .session import Session


@command("CAPABILITY", states=ANY)
async def capability(s: Session, cmd: Command) -> None:
    s.untagged("CAPABILITY " + s.capabilities())


@command("NOOP", "CHECK", states=ANY)
async def noop(s: Session, cmd: Command) -> None:
    if cmd.name == "CHECK" and s.selected is None:
        raise Bad("CHECK needs a selected mailbox")
    # RFC 3501 6.1.2: NOOP is the client's poll for updates. Every commit that changes a
    # folder wakes its sessions (store.notify), so the session already knows whether there
    # is anything to report; the poll after the command (Session.report_changes) reads the
    # store only then, and an idle mailbox costs no store read.


@command("LOGOUT", states=ANY)
async def logout(s: Session, cmd: Command) -> None:
    s.untagged("BYE lanmaild logging out")
    s.deselect()
    s.state = State.LOGOUT


@command("STARTTLS", states=NOT_AUTH)
async def starttls(s: Session, cmd: Command) -> None:
    ctx = s.runtime.tls_context
    if ctx is None or s.conn.is_tls:
        raise Bad("STARTTLS is not available" if ctx is None else "TLS is already active")
    s.tagged(cmd.tag, "OK", "Begin TLS negotiation now")
    await s.flush()
    # Anything pipelined after STARTTLS was sent in the clear: drop it (RFC 2595 3.1).
    buffer = getattr(s.conn.reader, "_buffer", None)
    if buffer:
        buffer.clear()
    try:
        await s.conn.starttls(ctx)
    except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
        # Plain text or garbage instead of a ClientHello: a client mistake, one INFO line.
        s.log.info("starttls: TLS handshake failed: %s", handshake_failure(exc))
        raise EOFError from None  # nothing more can be said on this connection
    s.log.info("tls started")
    raise Done()


def _logged_in(s: Session, account) -> None:
    if account is None or not s.logged_in(account):
        raise No("Authentication failed", "AUTHENTICATIONFAILED")
    s.log.info("login user=%s", account.name)
    raise Ok("Logged in", "CAPABILITY " + s.capabilities())


@command("LOGIN", states=NOT_AUTH)
async def login(s: Session, cmd: Command) -> None:
    if not s.plaintext_ok:
        raise No("Log in after STARTTLS (LOGINDISABLED)", "PRIVACYREQUIRED")
    user, password = cmd.args
    _logged_in(s, await s.runtime.auth.login(
        user.decode("utf-8", "replace"), password.decode("utf-8", "replace"),
        ip=s.conn.peer_ip, service="imap", session=s.conn.session_id))


@command("AUTHENTICATE", states=NOT_AUTH)
async def authenticate(s: Session, cmd: Command) -> None:
    name, initial = cmd.args
    if name.upper() not in sasl.available(s.runtime.auth):
        raise No(f"Unsupported authentication mechanism {name}", "CANNOT")
    if not s.plaintext_ok:
        raise No("Authenticate after STARTTLS", "PRIVACYREQUIRED")

    async def exchange(challenge: bytes) -> bytes:
        s.send(b"+ " + sasl.b64encode(challenge) + b"\r\n")
        await s.flush()
        s.conn.quickack()
        line = await s.read_line()
        if line.strip() == b"*":
            raise sasl.Cancelled
        return sasl.b64decode(line.strip())

    try:
        account = await sasl.authenticate(
            sasl.mechanism(name), None if initial is None else sasl.b64decode(initial),
            exchange, s.runtime.auth, ip=s.conn.peer_ip, service="imap",
            session=s.conn.session_id)
    except sasl.Cancelled:
        raise Bad("Authentication cancelled") from None
    except sasl.SaslError as exc:
        raise Bad(f"Bad SASL response: {exc}") from None
    _logged_in(s, account)


@command("ID", states=ANY)
async def id_(s: Session, cmd: Command) -> None:
    (params,) = cmd.args
    if params:
        s.client_id = params
        shown = " ".join(f"{k}={v}" for k, v in list(params.items())[:8])
        s.log.info("client id: %s", shown[:300])
    fields = {"name": "lanmaild", "version": __version__, "vendor": "LANMail"}
    s.untagged(b"ID (" + b" ".join(quoted(k) + b" " + nstring(v) for k, v in fields.items())
               + b")")


@command("ENABLE", states=AUTH)
async def enable(s: Session, cmd: Command) -> None:
    # CONDSTORE and QRESYNC can be switched on; unknown names are ignored (RFC 5161).
    (names,) = cmd.args
    enabled = []
    if "CONDSTORE" in names and not s.condstore:
        s.condstore = True
        enabled.append("CONDSTORE")
    if "QRESYNC" in names and not s.qresync:
        s.qresync = s.condstore = True  # QRESYNC implies CONDSTORE
        enabled.append("QRESYNC")
    s.untagged(" ".join(["ENABLED", *enabled]))
