"""Store in the folder: what is left of the targets becomes mailbox copies (INBOX) and
outbound recipients; ``save_sent`` adds the sender's copy to INBOX.SENT, flagged \\Seen.

- local account -> one copy per account (an account reached twice, e.g. directly and
  through a group, gets the mail once);
- internet address given as envelope recipient -> the recipient row goes to state
  ``outbound`` (waits for the outgoing transport);
- internet address reached through forwarding or a group -> a new queue entry in state
  ``outbound`` (with ``Delivered-To:`` of the forwarding account, for loop detection);
  refused when the sending account has ``deny_internet``;
- anything else fails and is bounced.
"""

from __future__ import annotations

from ...store.mailbox import SEEN
from ..mail import NewMail

SMTP_SOURCES = ("smtp", "submission", "smtps")


def run(ctx, mail) -> None:
    cfg = ctx.config
    delivered: set[str] = set()
    outbound_ids: set[int] = set()
    forwards: dict[str | None, list[str]] = {}
    sender = cfg.account(mail.sender_account) if mail.sender_account else None
    for t in mail.targets:
        if t.kind == "account":
            if cfg.account(t.name) is None:
                mail.fail(t, "5.1.1", f"account '{t.name}' does not exist (any more)")
            elif t.name not in delivered:
                delivered.add(t.name)
                mail.deliveries.append((t.name, "INBOX", 0))
                mail.reach(t.name)
        elif t.kind == "remote":
            if t.direct:
                if t.rcpt_id not in outbound_ids:
                    outbound_ids.add(t.rcpt_id)
                    mail.outbound.append(t.rcpt_id)
            elif t.forwarded_by is None and sender is not None and sender.deny_internet:
                mail.fail(t, "5.7.1", f"User <{t.address}> not local; no forwarding address")
            else:
                addrs = forwards.setdefault(t.forwarded_by, [])
                if t.address.lower() not in (a.lower() for a in addrs):
                    addrs.append(t.address)
        else:
            mail.fail(t, "5.1.1", f"<{t.address}>: no such user here")
    for by, addrs in forwards.items():
        prefix = b""
        if by is not None:
            prefix = f"Delivered-To: {by}@{cfg.primary_domain}\r\n".encode()
        mail.new_mail.append(NewMail(prefix + mail.raw, mail.sender,
                                     [(a, "outbound") for a in addrs], "forward",
                                     account=by or mail.sender_account))
    if sender is not None and sender.save_sent and mail.source in SMTP_SOURCES \
            and not mail.is_command:
        mail.deliveries.append((sender.key, "INBOX.SENT", SEEN))
