"""Messages lanmaild writes itself (confirmations, DSNs), built with the stdlib ``email``
package (``EmailMessage``, ``policy.SMTP``: CRLF line ends, folded headers, MIME done
right) instead of by hand.

- Header text that is not ASCII is encoded as RFC 2047 encoded words, unless an address
  itself needs SMTPUTF8 (RFC 6532): then the message is written with UTF-8 headers, since
  it can only travel over SMTPUTF8 anyway.
- Header injection is impossible: every header value goes through ``_value`` (control
  characters dropped, length capped), and the email package refuses CR/LF in values;
  anything a user wrote goes into the body.
- ``Auto-Submitted: auto-replied`` (RFC 3834 5): these messages answer another message
  (a DSN, the confirmation of an email command). RFC 3834 5 says "auto-generated" MUST NOT
  label DSNs or direct responses; it is for periodic reports, which pass ``auto``.
"""

from __future__ import annotations

import email.utils
import re
import secrets
import time
from email import policy
from email.message import EmailMessage

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
AUTO_REPLIED = "auto-replied"
AUTO_GENERATED = "auto-generated"


def _value(text: str) -> str:
    return _CONTROL.sub("", text)[:900]


def message_id(hostname: str) -> str:
    return f"<{time.time_ns()}.{secrets.token_hex(6)}@{hostname}>"


def new_message(hostname: str, from_: str, to: str, subject: str,
                auto: str = AUTO_REPLIED) -> EmailMessage:
    """A message with the header every generated mail carries."""
    utf8 = not (from_ + to).isascii()
    msg = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
    msg["From"] = _value(from_)
    msg["To"] = _value(to)
    msg["Subject"] = _value(subject)
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = message_id(hostname)
    msg["Auto-Submitted"] = auto
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=msg.policy)


def text_mail(hostname: str, from_: str, to: str, subject: str, body: str,
              auto: str = AUTO_REPLIED) -> bytes:
    """A plain text/plain UTF-8 mail."""
    msg = new_message(hostname, from_, to, subject, auto)
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    msg.set_content("\n".join(ln[:990] for ln in text.split("\n")).rstrip("\n") + "\n",
                    charset="utf-8")
    return to_bytes(msg)


def system_from(cfg) -> str:
    return f"LANMail <postmaster@{cfg.primary_domain}>"
