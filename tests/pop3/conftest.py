"""Fixtures for the POP3 tests (helpers are in pop3_helpers.py)."""

from __future__ import annotations

import pytest
from pop3_helpers import USERS, make_message, put_mail


@pytest.fixture
def pop_daemon(daemon_factory):
    """A running daemon whose meier has three messages in INBOX (schulze has none)."""
    d = daemon_factory(accounts=USERS, start=False)
    put_mail(d, "meier", [make_message(i) for i in (1, 2, 3)])
    d.start()
    return d
