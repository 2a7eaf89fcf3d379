"""The SMTP policy handler: who may send what to whom, and durable acceptance.

Relay rule (RFC 5321 "never an open relay"): mail to local addresses (accounts, groups,
postmaster@ every local domain; domains case-insensitive) is taken from anyone; mail to
any other address only from an authenticated session or a ``server.trusted_networks``
client. An account with ``deny_internet`` (authenticated, or the envelope sender of a
trusted-network session) gets the seed's exact ``521 5.7.1 User <address> not local; no
forwarding address`` for a non-local recipient.

DATA: the content is checked (NUL, bare CR/LF, 8-bit header without SMTPUTF8, hop count),
a Received: header is prepended (plus Message-ID and Date on submission when missing),
the message is parsed once and handed to the delivery worker's ``accept``: ONE store write
stores the blob and either delivers it at once (the pipeline result is purely local: the
mailbox copies are in that same commit, see ``delivery.worker``) or queues it with its
recipients for the worker. 250 is sent only after that write returned: committed and
fsynced (group commit batches concurrent sessions into one fsync). A crash before that
leaves nothing; the reply names ``D<blob id>`` for a message delivered at once, else the
queue id.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import re
import secrets
import time

from aiosmtpd.smtp import AuthResult

from ..auth import sasl
from ..delivery.address import may_send_as, resolve, sender_account
from ..mime import parse_message
from ..store import StoreError

log = logging.getLogger("lanmaild.smtp")

_HOPS = re.compile(rb"^(?:received|delivered-to)[ \t]*:", re.I | re.M)
_MESSAGE_ID = re.compile(rb"^message-id[ \t]*:", re.I | re.M)
_DATE = re.compile(rb"^date[ \t]*:", re.I | re.M)
_HELO_SAFE = re.compile(r"[^A-Za-z0-9.\-\[\]:_]")


def header_block(content: bytes) -> bytes:
    """The header section (without the blank line); the whole content when none."""
    if content.startswith(b"\r\n"):
        return b""
    end = content.find(b"\r\n\r\n")
    return content if end < 0 else content[: end + 2]


def count_hops(header: bytes) -> int:
    return len(_HOPS.findall(header))


PARSE_INLINE = 1 << 20  # bytes: bigger messages are parsed in a worker thread


def rcpt_refusal(address: str, target, may_relay: bool, sending_account) -> str | None:
    """The RCPT TO policy (no open relay): the refusal for ``address`` (resolved to
    ``target``), or None when it is accepted; ``may_relay``: logged in, or a trusted
    network. Also what ``lanmailctl route test`` reports."""
    if target.kind == "invalid":
        return f"553 5.1.3 <{_printable(address)}>: {target.reason}"
    if target.kind == "unknown":
        return f"550 5.1.1 <{_printable(address)}>: Recipient address rejected: " \
               f"{target.reason}"
    if target.kind == "remote":
        if not may_relay:
            return f"554 5.7.1 <{_printable(address)}>: Relay access denied"
        if sending_account is not None and sending_account.deny_internet:
            return f"521 5.7.1 User <{address}> not local; no forwarding address"
    return None


class PolicyHandler:
    def __init__(self, runtime, service: str) -> None:
        self.runtime = runtime
        self.service = service  # smtp | submission | smtps

    # ------------------------------------------------------------------ helpers

    def _trusted(self, server) -> bool:
        try:
            addr = ipaddress.ip_address(server.peer_ip)
        except ValueError:
            return False
        return any(addr in net for net in self.runtime.config.server.trusted_networks)

    def _sending_account(self, server, session, envelope):
        """The account that sends this mail: the logged-in one, or on a trusted network
        the local account named by the envelope sender."""
        cfg = self.runtime.config
        if session.authenticated and session.auth_data is not None:
            return cfg.account(session.auth_data.name)
        if self._trusted(server):
            name = sender_account(cfg, _sender(envelope))
            return cfg.account(name) if name else None
        return None

    # ------------------------------------------------------------------ EHLO / AUTH

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        last = responses.pop()  # "250 HELP"
        responses += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", last]
        return responses

    async def auth_PLAIN(self, server, args):
        return await self._auth(server, "PLAIN", args)

    async def auth_LOGIN(self, server, args):
        return await self._auth(server, "LOGIN", args)

    async def auth_XOAUTH2(self, server, args):
        return await self._auth(server, "XOAUTH2", args)

    async def auth_OAUTHBEARER(self, server, args):
        return await self._auth(server, "OAUTHBEARER", args)

    async def _auth(self, server, name: str, args: list[str]):
        async def exchange(challenge: bytes) -> bytes:
            answer = await server.challenge_auth(challenge)
            if not isinstance(answer, bytes):  # "*" or bad base64: aiosmtpd replied 501
                raise sasl.Cancelled
            return answer

        try:
            initial = None
            if len(args) > 1:
                initial = b"" if args[1] == "=" else sasl.b64decode(args[1])
            account = await sasl.authenticate(sasl.mechanism(name), initial, exchange,
                                              self.runtime.auth, ip=server.peer_ip,
                                              service=self.service)
        except sasl.Cancelled:
            return AuthResult(success=False, handled=True)
        except sasl.SaslError as exc:
            await server.push(f"501 5.5.2 {exc}")
            return AuthResult(success=False, handled=True)
        if account is None:
            return AuthResult(success=False, handled=False,
                              message="535 5.7.8 Authentication credentials invalid")
        return AuthResult(success=True, auth_data=account,
                          message="235 2.7.0 Authentication successful")

    # ------------------------------------------------------------------ envelope

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        sender = "" if address == "<>" else address
        if sender and not sender.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"
        if sender and "@" not in sender:
            return "553 5.1.7 Sender address must be a full address (user@domain)"
        if session.authenticated and session.auth_data is not None:
            cfg = self.runtime.config
            account = cfg.account(session.auth_data.name)
            if account is None or not may_send_as(cfg, account, sender):
                user = session.auth_data.name
                log.info("%s[%s] sender refused: %s may not send as <%s>", self.service,
                         server.peer_ip, user, _printable(sender))
                return f"553 5.7.1 <{_printable(sender)}>: Sender address not owned by {user}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        cfg = self.runtime.config
        duplicate = address.lower() in (r.lower() for r in envelope.rcpt_tos)
        if not duplicate and len(envelope.rcpt_tos) >= cfg.limits.recipients:
            return f"452 4.5.3 Too many recipients (at most {cfg.limits.recipients})"
        if not address.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"
        target = resolve(cfg, address)
        may_relay = session.authenticated or self._trusted(server)
        refusal = rcpt_refusal(address, target, may_relay,
                               self._sending_account(server, session, envelope)
                               if target.kind == "remote" and may_relay else None)
        if refusal is not None:
            if refusal.startswith("554"):
                log.info("%s[%s] relay denied: %s -> %s", self.service, server.peer_ip,
                         _printable(_sender(envelope)), _printable(address))
            return refusal
        if target.kind == "account" and await self._over_quota(target.name):
            # RFC 3463 4.2.2: temporary, so the sender retries once mail was cleaned up.
            return f"452 4.2.2 <{_printable(address)}>: Mailbox full, try again later"
        if not duplicate:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def _over_quota(self, name: str) -> bool:
        account = self.runtime.config.account(name)
        if account is None or not account.quota:
            return False
        folders = await self.runtime.store.mail.list_folders(account.key)
        return sum(f.size for f in folders) >= account.quota

    # ------------------------------------------------------------------ DATA

    async def handle_DATA(self, server, session, envelope):
        content: bytes = envelope.original_content or b""
        if b"\0" in content:
            return "554 5.6.0 Message refused: it contains NUL bytes"
        crlf = content.count(b"\r\n")
        if content.count(b"\n") != crlf or content.count(b"\r") != crlf:
            return "554 5.6.0 Message refused: bare CR or LF (RFC 5321 2.3.8: lines end in CRLF)"
        header = header_block(content)
        if not envelope.smtp_utf8 and not header.isascii():
            return "554 5.6.7 Message refused: 8-bit header data needs SMTPUTF8 (RFC 6532)"
        cfg = self.runtime.config
        if count_hops(header) >= cfg.limits.forward_hops:
            return "554 5.4.6 Too many hops: mail loop?"
        account = self._sending_account(server, session, envelope)
        remote = any(resolve(cfg, r).kind == "remote" for r in envelope.rcpt_tos)
        for check in self.runtime.submission_checks:
            refusal = check(account.key if account else None, remote, len(content))
            if refusal:
                return refusal
        prefix = self._trace(server, session, envelope)
        if self.service in ("submission", "smtps") or session.authenticated:
            if not _MESSAGE_ID.search(header):
                prefix += b"Message-ID: <%d.%s@%s>\r\n" % (
                    time.time_ns(), secrets.token_hex(6).encode(), cfg.server.hostname.encode())
            if not _DATE.search(header):
                prefix += b"Date: " + email.utils.formatdate(localtime=True).encode() + b"\r\n"
        raw = prefix + content
        # parse once (IMAP needs it later); a big message is parsed off the loop
        parsed = await asyncio.to_thread(parse_message, raw) if len(raw) > PARSE_INLINE \
            else parse_message(raw)
        sender = _sender(envelope)
        auth_account = account.key if account is not None and session.authenticated else None
        trusted = self._trusted(server)
        try:
            worker = self.runtime.services.get("delivery")
            if worker is not None:
                qid = await worker.accept(raw, parsed, sender, envelope.rcpt_tos,
                                          self.service, auth_account=auth_account,
                                          client_ip=server.peer_ip, trusted=trusted)
            else:
                qid = await self.runtime.store.queue.enqueue(
                    raw, parsed, sender, [(r, "incoming") for r in envelope.rcpt_tos],
                    self.service, auth_account=auth_account, client_ip=server.peer_ip,
                    trusted=trusted)
        except StoreError as exc:
            log.error("%s[%s] could not store a message: %s", self.service, server.peer_ip, exc)
            return "451 4.3.0 Temporary failure storing the message, try again later"
        log.info("%s[%s] %s %s: from=<%s> rcpts=%d size=%d", self.service, server.peer_ip,
                 "delivered" if str(qid).startswith("D") else "queued", qid,
                 _printable(sender), len(envelope.rcpt_tos), len(raw))
        return f"250 2.0.0 Ok: queued as {qid}"

    def _trace(self, server, session, envelope) -> bytes:
        """The Received: header (RFC 5321 4.4; protocol names RFC 3848 / RFC 6531)."""
        proto = "UTF8SMTP" if envelope.smtp_utf8 else "ESMTP"
        if not session.extended_smtp:
            proto = "SMTP"
        else:
            if server.is_tls:
                proto += "S"
            if session.authenticated:
                proto += "A"
        helo = _HELO_SAFE.sub("", session.host_name or "unknown")[:80]
        rcpt = ""
        if len(envelope.rcpt_tos) == 1 and envelope.rcpt_tos[0].isascii():
            rcpt = f"\r\n\tfor <{_printable(envelope.rcpt_tos[0])}>"
        return (f"Received: from {helo} ([{server.peer_ip}])\r\n"
                f"\tby {self.runtime.config.server.hostname} (LANMail) with {proto}"
                f"{rcpt};\r\n\t{email.utils.formatdate(localtime=True)}\r\n").encode()

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp session error: %s: %s", error.__class__.__name__, error,
                  exc_info=error)
        return "451 4.3.0 Internal error, try again later"


def _sender(envelope) -> str:
    sender = envelope.mail_from or ""
    return "" if sender == "<>" else sender


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:256])
