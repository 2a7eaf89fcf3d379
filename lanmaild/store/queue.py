"""The mail queue: accepted messages and their recipients until delivered (SMTP issue)."""

from __future__ import annotations

SCHEMA = ""
