"""A logged-in user may use as MAIL FROM only their own addresses or those the admin
allowed (``send_as``): 553 5.7.1 otherwise (hardening issue, item 10)."""

from __future__ import annotations

import pytest
from smtp_testlib import module_daemon, smtp

ACCOUNTS = {"meier": {}, "schulze": {},
            "chef": {"send_as": ["*@second.test", "info@other.example"]},
            "robot": {"send_as": ["*"]}}


@pytest.fixture(scope="module")
def d(tmp_path_factory, tls_files):
    daemon = module_daemon(tmp_path_factory, tls_files, ACCOUNTS)
    yield daemon
    daemon.stop()


def _mail_from(d, user: str, sender: str) -> tuple[int, str]:
    s = smtp(d, "submission")
    try:
        s.login(user, "secret")
        code, text = s.mail(sender)
        return code, text.decode()
    finally:
        s.quit()


@pytest.mark.parametrize("user,sender,code", [
    ("meier", "meier@lan.test", 250),
    ("meier", "MEIER@second.test", 250),  # own name at any local domain, any case
    ("meier", "", 250),  # the null sender
    ("meier", "schulze@lan.test", 553),
    ("meier", "ceo@other.example", 553),
    ("chef", "anyone@second.test", 250),
    ("chef", "info@other.example", 250),
    ("chef", "other@other.example", 553),
    ("robot", "alerts@monitoring.example", 250),
])
def test_sender_must_belong_to_the_login(d, user, sender, code) -> None:
    got, text = _mail_from(d, user, sender)
    assert got == code, (user, sender, got, text)
    if code == 553:
        assert text.startswith("5.7.1") and f"not owned by {user}" in text


def test_without_login_the_sender_is_not_checked_for_local_delivery(d) -> None:
    s = smtp(d, "smtp")
    try:
        assert s.mail("someone@ext.test")[0] == 250
        assert s.rcpt("meier@lan.test")[0] == 250
    finally:
        s.quit()
