"""Whether to answer a mail (RFC 3834) and the answer itself.

RFC 3834 2 and 3.1: never answer mail that is itself automatic or addressed to many:
``Auto-Submitted`` other than ``no`` (3.1.1 of RFC 3834 / RFC 3834 5), ``Precedence:
bulk|list|junk`` (the traditional marks), list header fields (``List-Id``,
``List-Unsubscribe``, ... RFC 2369/2919), a null envelope sender (2: the reply goes to the
envelope sender, and there is none), senders that are programs (MAILER-DAEMON,
postmaster, noreply, owner-/-request/bounces addresses), the account itself, and mail
the server made (DSNs and confirmations: ``source`` dsn/local). At most one reply per
sender per period (2: "SHOULD NOT ... more than once") is checked in the store, in the
same transaction that queues the reply.

The reply (3.1): From the account (or its ``domain`` alternative), To the envelope
sender, ``In-Reply-To``/``References`` to the message, ``Auto-Submitted: auto-replied``,
sent with a null envelope sender (3.3). Subject: the configured one, else ``Auto: `` and
the original subject (3.1.5: the subject SHOULD say it is an automatic response; the
issue asked for "Re:", which a reader takes for a human answer).
"""

from __future__ import annotations

import email.utils
import re

from ..delivery.compose import new_message, to_bytes

_LIST_HEADERS = (b"list-id", b"list-unsubscribe", b"list-post", b"list-help",
                 b"list-subscribe", b"list-owner", b"list-archive")
_ROBOT = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|donotreply|"
                    r"bounces?|owner-.*|.*-request|.*-bounces?|.*-owner|listserv|majordomo)"
                    r"(\+.*)?$", re.I)


def _fields(header: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    name = None
    for line in header.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and name is not None:
            out[name] += b" " + line.strip()
            continue
        key, colon, value = line.partition(b":")
        if colon:
            name = key.strip().lower()
            out.setdefault(name, value.strip())
    return out


def refusal(mail, account_address: str) -> str | None:
    """Why this mail gets no automatic reply, or None."""
    if not mail.sender:
        return "null envelope sender"
    if mail.source in ("dsn", "local"):
        return "made by this server"
    sender = mail.sender.lower()
    if sender == account_address.lower():
        return "sent by the account itself"
    if _ROBOT.match(sender.rpartition("@")[0]):
        return "sender is a program"
    header = mail.raw[: mail.parsed.header_size] if mail.parsed else mail.raw
    fields = _fields(header)
    auto = fields.get(b"auto-submitted", b"no").split(b";")[0].strip().lower()
    if auto != b"no":
        return f"Auto-Submitted: {auto.decode('latin-1')}"
    if fields.get(b"precedence", b"").strip().lower() in (b"bulk", b"list", b"junk"):
        return "Precedence bulk/list/junk"
    if any(h in fields for h in _LIST_HEADERS):
        return "a mailing list"
    return None


def _expand(text: str, mail, to: str) -> str:
    parsed = mail.parsed
    date = getattr(parsed, "date", None)
    values = {"[SUBJECT]": getattr(parsed, "subject", "") or "",
              "[FROM]": mail.sender, "[TO]": to,
              "[DATE]": email.utils.formatdate(date, localtime=True) if date else ""}
    for key, value in values.items():
        text = text.replace(key, str(value))
    return text


def build(cfg, mail, account: str, settings) -> bytes:
    """The reply to ``mail`` for ``account``."""
    domain = settings.domain or cfg.primary_domain
    own = f"{account}@{domain}"
    a = cfg.account(account)
    from_ = f"{a.display_name} <{own}>" if a is not None and a.display_name else own
    original = getattr(mail.parsed, "subject", "") or ""
    subject = _expand(settings.subject, mail, own) if settings.subject else \
        f"Auto: {original}".rstrip()
    msg = new_message(cfg.server.hostname, from_, mail.sender, subject)
    message_id = (getattr(mail.parsed, "message_id", "") or "").strip()
    if message_id:
        msg["In-Reply-To"] = message_id
        refs = _fields(mail.raw[: mail.parsed.header_size]).get(b"references", b"")
        chain = (refs.decode("utf-8", "replace") + " " + message_id).strip()
        msg["References"] = " ".join(chain.split()[-20:])
    body = _expand(settings.text or "I am away and will answer your mail later.", mail, own)
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    msg.set_content("\n".join(ln[:990] for ln in body.split("\n")).rstrip("\n") + "\n",
                    charset="utf-8")
    return to_bytes(msg)
