"""Messages lanmaild writes itself (confirmations, DSNs): fixed ASCII header text only.

Header injection is impossible by construction: every header value goes through
``_value``, which drops CR, LF and other control characters, and callers put only fixed
text and validated addresses into headers; anything a user wrote goes into the body.
"""

from __future__ import annotations

import email.utils
import re
import secrets
import time

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _value(text: str) -> str:
    return _CONTROL.sub("", text)[:900]


def message_id(hostname: str) -> str:
    return f"<{time.time_ns()}.{secrets.token_hex(6)}@{hostname}>"


def headers(hostname: str, from_: str, to: str, subject: str, extra: dict | None = None
            ) -> list[str]:
    lines = [
        f"From: {_value(from_)}",
        f"To: {_value(to)}",
        f"Subject: {_value(subject)}",
        f"Date: {email.utils.formatdate(localtime=True)}",
        f"Message-ID: {message_id(hostname)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
    ]
    for name, value in (extra or {}).items():
        lines.append(f"{name}: {_value(value)}")
    return lines


def text_mail(hostname: str, from_: str, to: str, subject: str, body: str) -> bytes:
    """A plain text/plain UTF-8 mail (CRLF line ends)."""
    head = headers(hostname, from_, to, subject, {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit"})
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln[:990] for ln in text.split("\n")]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines).rstrip("\r\n") + "\r\n") \
        .encode("utf-8", "replace")


def system_from(cfg) -> str:
    return f"LANMail <postmaster@{cfg.primary_domain}>"
