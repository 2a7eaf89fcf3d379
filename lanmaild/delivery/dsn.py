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
import secrets

from .compose import headers
from .pipeline import NewMail

log = logging.getLogger("lanmaild.delivery")

_UNSAFE = re.compile(r"[^\x20-\x7e]")


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


def build_dsn(cfg, mail) -> bytes:
    host = cfg.server.hostname
    boundary = f"=_lanmail_dsn_{secrets.token_hex(8)}"
    head = headers(host, f"Mail Delivery System <MAILER-DAEMON@{host}>", mail.sender,
                   "Undelivered Mail Returned to Sender",
                   {"Content-Type": f'multipart/report; report-type=delivery-status; '
                                    f'boundary="{boundary}"'})
    human = [
        f"This is the mail system at {host}.",
        "",
        "Your message could not be delivered to one or more recipients.",
        "It is attached below (header only).",
        "",
    ]
    for f in mail.failures:
        human.append(f"<{_ascii(f.rcpt)}>: {_ascii(f.reason)}")
    status = [f"Reporting-MTA: dns; {host}",
              f"Arrival-Date: {email.utils.formatdate(localtime=True)}", ""]
    seen: set[tuple[str, str]] = set()
    for f in mail.failures:
        key = (f.rcpt.lower(), f.status)
        if key in seen:
            continue
        seen.add(key)
        status += [f"Original-Recipient: rfc822; {_ascii(f.rcpt)}",
                   f"Final-Recipient: rfc822; {_ascii(f.rcpt)}",
                   "Action: failed",
                   f"Status: {f.status}",
                   f"Diagnostic-Code: smtp; 550 {f.status} {_ascii(f.reason)}", ""]
    size = getattr(mail.parsed, "header_size", 0) or len(mail.raw)
    original_header = mail.raw[:size].rstrip(b"\r\n") + b"\r\n"
    parts = [
        "\r\n".join(head), "",
        "This is a MIME-encapsulated message.", "",
        f"--{boundary}",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=us-ascii", "",
        *human, "",
        f"--{boundary}",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status", "",
        *status,
        f"--{boundary}",
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers", "",
    ]
    return ("\r\n".join(parts) + "\r\n").encode() + original_header + \
        f"\r\n--{boundary}--\r\n".encode()
