"""Postmaster and bounces: RFC 3464 delivery status notifications.

For the recipients that failed, one DSN (multipart/report; report-type=delivery-status:
a human-readable part, the message/delivery-status part, the original header as
text/rfc822-headers) goes to the envelope sender, and a copy to the postmaster account.
Never bounce a bounce: mail with a null sender (DSNs and our own confirmations are sent
that way) is not answered with a DSN; the failed mail itself goes to the postmaster's
INBOX instead, so a DSN that cannot be delivered ends up with the postmaster too.
"""

from __future__ import annotations

import email.utils
import logging
import re
from email import policy
from email.message import EmailMessage, Message

from .compose import new_message, to_bytes
from .mail import NewMail

log = logging.getLogger("lanmaild.delivery")

_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:400]


def _ascii(text: str) -> str:
    return _UNSAFE.sub("?", text)[:400]


def postmaster_address(cfg) -> str | None:
    pm = cfg.postmaster
    return f"{pm.key}@{cfg.primary_domain}" if pm else None


def bounce(ctx, mail) -> None:
    cfg = ctx.config
    failed = ", ".join(f"{f.rcpt} ({f.status} {f.reason})" for f in mail.failures)
    log.warning("queue %d: undeliverable for %s", mail.queue_id, _ascii(failed))
    pm = cfg.postmaster
    if not mail.sender:
        if pm is None:
            log.error("queue %d: bounce of a bounce and no postmaster account: dropped",
                      mail.queue_id)
        elif (pm.key, "INBOX", 0) not in mail.deliveries:
            mail.deliveries.append((pm.key, "INBOX", 0))
        return
    raw = build_dsn(cfg, mail)
    rcpts = [(mail.sender, "incoming")]
    pm_addr = postmaster_address(cfg)
    if pm_addr and pm_addr != mail.sender.lower():
        rcpts.append((pm_addr, "incoming"))
    mail.new_mail.append(NewMail(raw, "", rcpts, "dsn"))


def build_dsn(cfg, mail, action: str = "failed") -> bytes:
    """RFC 3464: multipart/report; report-type=delivery-status with a human-readable
    part, the machine-readable message/delivery-status part (one per-message block, one
    block per recipient in ``mail.failures``) and the original header as
    text/rfc822-headers. ``action`` is ``failed`` (a bounce) or ``delayed`` (a warning:
    the mail is still being retried, RFC 3464 2.3.3)."""
    host = cfg.server.hostname
    subject = ("Undelivered Mail Returned to Sender" if action == "failed" else
               "Delayed Mail (still being retried)")
    msg = new_message(host, f"Mail Delivery System <MAILER-DAEMON@{host}>", mail.sender,
                      subject)
    msg.make_mixed()
    msg.set_type("multipart/report")
    msg.set_param("report-type", "delivery-status")
    msg.preamble = "This is a MIME-encapsulated message.\r\n"
    msg.attach(_notification(host, mail, action))
    msg.attach(_delivery_status(host, mail, action))
    msg.attach(_original_header(mail))
    return to_bytes(msg)


def _notification(host: str, mail, action: str) -> EmailMessage:
    if action == "failed":
        what = ["Your message could not be delivered to one or more recipients.",
                "It is attached below (header only)."]
    else:
        what = ["Your message could not be delivered yet to the recipients below.",
                "It is still being retried; you do not need to send it again.",
                "You will be told if it finally cannot be delivered."]
    lines = [f"This is the mail system at {host}.", "", *what, ""]
    lines += [f"<{_printable(f.rcpt)}>: {_printable(f.reason)}" for f in mail.failures]
    part = EmailMessage(policy=policy.SMTP)
    part.set_content("\n".join(lines) + "\n", charset="utf-8")
    return _subpart(part, "Notification")


def _subpart(part: EmailMessage, description: str) -> EmailMessage:
    del part["MIME-Version"]  # set_content adds it; only the top level carries it
    part["Content-Description"] = description
    return part


def _fields(pairs: list[tuple[str, str]]) -> Message:
    block = Message(policy=policy.SMTP)
    for name, value in pairs:
        block[name] = value
    return block


def _delivery_status(host: str, mail, action: str) -> EmailMessage:
    blocks = [_fields([("Reporting-MTA", f"dns; {host}"),
                       ("Arrival-Date", email.utils.formatdate(localtime=True))])]
    seen: set[tuple[str, str]] = set()
    for f in mail.failures:
        key = (f.rcpt.lower(), f.status)
        if key in seen:
            continue
        seen.add(key)
        rcpt = f.rcpt if f.rcpt.isascii() else f.rcpt.encode("utf-8", "replace").decode(
            "ascii", "replace")
        fields = [("Original-Recipient", f"rfc822; {_ascii(rcpt)}"),
                  ("Final-Recipient", f"rfc822; {_ascii(rcpt)}"),
                  ("Action", action),
                  ("Status", f.status)]
        if f.remote:
            fields.append(("Remote-MTA", f"dns; {_ascii(f.remote)}"))
        diagnostic = f.diagnostic or f"{f.status[0]}50 {f.status} {f.reason}"
        fields.append(("Diagnostic-Code", f"smtp; {_ascii(diagnostic)}"))
        blocks.append(_fields(fields))
    part = EmailMessage(policy=policy.SMTP)
    part["Content-Type"] = "message/delivery-status"
    part.set_payload(blocks)
    return _subpart(part, "Delivery report")


def _original_header(mail) -> EmailMessage:
    size = getattr(mail.parsed, "header_size", 0) or len(mail.raw)
    header = mail.raw[:size].rstrip(b"\r\n") + b"\r\n"
    part = EmailMessage(policy=policy.SMTP)
    part.set_content(header.decode("utf-8", "replace").replace("\r\n", "\n"),
                     subtype="rfc822-headers", charset="utf-8" if not header.isascii()
                     else "us-ascii")
    return _subpart(part, "Undelivered Message Headers")
