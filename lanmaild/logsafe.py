"""One log formatter that no client can forge lines with.

Clients put text into our logs (IMAP ID values, user names, HELO names, addresses). A
client value with a line break would start a new log line of its choosing, e.g. a fake
``auth failed: service=imap ip=10.9.9.9`` that fail2ban then acts on. Escaping at every
call site is easy to forget, so the formatter does it once for every record:

- the message (after %-formatting) has every control character escaped: CR, LF, ESC,
  the other C0 and C1 characters, DEL and the Unicode line/paragraph separators become
  ``\\r``, ``\\n`` or ``\\xNN``/``\\uNNNN``; so one event is always exactly one line;
- a traceback (ours, but its exception text may quote client data) stays readable on
  several lines, each escaped the same way and indented with ``  | `` so that no line of
  it can look like the start of a record (records start with the timestamp).
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\r": "\\r", "\n": "\\n"}


def _escape_char(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with every control character (tab excepted) made visible."""
    return _CONTROL.sub(_escape_char, text)


class SafeFormatter(logging.Formatter):
    """A ``logging.Formatter`` that keeps each record's message on one line."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        extra = []
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            extra.append(record.exc_text)
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for block in extra:
            line += "".join("\n  | " + escape(part) for part in block.splitlines())
        return line
