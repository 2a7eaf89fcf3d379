"""Email commands for the autoresponder (seed): the owner mails their own address with

    LMS Autoresponder off
    LMS Autoresponder on [reply subject]      (plain text; the body is the reply text)

Same trust rule and path as "LMS Forwarding" (``delivery.stages.commands``, which calls
``command`` here): the change goes through the control API's ``autoresponder.set``;
activation by mail is permanent (no from/until); a confirmation or an error mail goes to
the owner; the command mail is not stored.
"""

from __future__ import annotations

import logging
import re
from email import message_from_bytes, policy

log = logging.getLogger("lanmaild.autoresponder")

PATTERN = re.compile(r"^LMS[ \t]+(?i:autoresponder)\b[ \t]*(.*)$", re.S)
_OFF = re.compile(r"^(?i:off)$")
_ON = re.compile(r"^(?i:on)(?:[ \t]+(.*))?$", re.S)
MAX_TEXT = 20_000


def plain_text(raw: bytes) -> str | None:
    """The mail's text/plain body (also the plain part of multipart/alternative), or None
    for a mail without one (HTML only)."""
    msg = message_from_bytes(raw, policy=policy.default)
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        return None
    try:
        text = part.get_content()
    except (LookupError, UnicodeError):
        data = part.get_payload(decode=True) or b""
        text = data.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").strip()[:MAX_TEXT]


def command(ctx, mail, account, own: str, rest: str, reply, change) -> None:
    """``reply(subject, body)`` mails the owner; ``change(op_args, subject, body)`` runs
    the control op as the mail's action and confirms (or reports the refusal)."""
    if _OFF.match(rest):
        change({"name": account.name, "enabled": False}, "LMS Autoresponder off: done",
               "Your autoresponder is now switched off.")
        return
    on = _ON.match(rest)
    if not on:
        reply("LMS Autoresponder: command not understood",
              "Use the subject 'LMS Autoresponder off', or 'LMS Autoresponder on' followed "
              "by the reply's subject if you want one, in a plain-text mail whose text "
              "becomes the reply.")
        return
    text = plain_text(mail.raw)
    if not text:
        reply("LMS Autoresponder on: plain text needed",
              "The autoresponder was not changed: send the command as a plain-text mail "
              "(not HTML only); its text becomes the reply.")
        return
    subject = " ".join((on.group(1) or "").split())
    change({"name": account.name, "enabled": True, "permanent": True, "text": text,
            "subject": subject},
           "LMS Autoresponder on: done",
           "Your autoresponder is now switched on until you switch it off.\n\n"
           f"Subject: {subject or 'Auto: <subject of the mail answered>'}\n\n{text}\n")
