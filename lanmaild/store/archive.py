"""The mail archive's tables (SMTP issue)."""

from __future__ import annotations

SCHEMA = ""
