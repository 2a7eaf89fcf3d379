"""Per-account rules whatever the transport: sender overwrite, size limit (552 5.3.4 at SMTP
time, never above the global one), deny_internet; and the settings CLI (secrets never shown)."""

from __future__ import annotations

import json
import smtplib
import sys
from pathlib import Path

import pytest
from sinks import PASSWORD

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import (  # noqa: E402
    addr,
    mail_list,
    message,
    queue,
    raw_messages,
    send,
    smtp,
    wait_for,
)

LOGIN = ("meier", "secret")


def with_account_outgoing(daemon_factory, tls_files, sh, text: str, extra: str = ""):
    d = daemon_factory(accounts={"meier": {}, "pm": {"postmaster": True}}, start=False,
                       extra_toml=sh.toml(tls_files["ca"], extra))
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + text)
    d.start()
    return d


def test_sender_overwrite_with_localpart(daemon_factory, tls_files, smarthost):
    sh = smarthost()
    d = with_account_outgoing(daemon_factory, tls_files, sh,
                              '[outgoing]\nsender = "%localpart%@firma.example"\n')
    raw = message("rewritten", sender=f"Hans Meier <{addr('meier')}>", to="x@remote.example")
    send(d, addr("meier"), ["x@remote.example"], "", service="submission", login=LOGIN,
         raw=raw)
    t = sh.handler.wait(1)[0]
    assert t.sender == "meier@firma.example"
    assert b"\r\nFrom: Hans Meier <meier@firma.example>\r\n" in b"\r\n" + t.data
    assert addr("meier").encode() not in t.data.split(b"\r\n\r\n")[0].split(b"Received")[0]


def test_global_sender_rewrite_and_local_mail_untouched(daemon_factory, tls_files, smarthost):
    sh = smarthost()
    d = daemon_factory(accounts={"meier": {}, "schulze": {}},
                       extra_toml=sh.toml(tls_files["ca"],
                                          'sender_rewrite = "%localpart%@out.example"\n'))
    send(d, addr("meier"), ["x@remote.example", addr("schulze")], "both",
         service="submission", login=LOGIN)
    t = sh.handler.wait(1)[0]
    assert t.sender == "meier@out.example"
    assert b"From: meier@out.example\r\n" in t.data
    # the local copy keeps the original From:
    wait_for(lambda: mail_list(d, "schulze"), what="the local copy")
    assert f"From: {addr('meier')}\r\n".encode() in raw_messages(d, "schulze")[0]


def test_account_size_limit_552_at_smtp_time(daemon_factory, tls_files, smarthost):
    sh = smarthost()
    d = with_account_outgoing(daemon_factory, tls_files, sh,
                              '[outgoing]\nmessage_size = "2K"\n')
    s = smtp(d, "submission")
    s.login(*LOGIN)
    big = message("big", ("x" * 100 + "\r\n") * 30, addr("meier"), "x@remote.example")
    with pytest.raises(smtplib.SMTPDataError) as exc:
        s.sendmail(addr("meier"), ["x@remote.example"], big)
    assert exc.value.smtp_code == 552 and b"5.3.4" in exc.value.smtp_error
    # the same mail to a local account is no mail "to the internet": accepted
    s.sendmail(addr("meier"), [addr("pm")], big)
    s.quit()
    wait_for(lambda: mail_list(d, "pm"), what="the local copy")
    assert sh.handler.transactions == []


def test_account_size_limit_above_global_is_refused(daemon_factory, tls_files, smarthost):
    sh = smarthost()
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml=sh.toml(tls_files["ca"], 'message_size = "1M"\n'))
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + '[outgoing]\nmessage_size = "2M"\n')
    out = d.ctl("config", "check")
    assert out.returncode != 0
    assert "meier.toml" in out.stderr and "outgoing.message_size" in out.stderr
    assert "global limit" in out.stderr


def test_deny_internet_holds_for_queued_mail(daemon_factory, tls_files, smarthost):
    """Mail queued before deny_internet was set never leaves: it bounces 5.7.1."""
    sh = smarthost(start=False)
    d = daemon_factory(accounts={"meier": {}},
                       extra_toml=sh.toml(tls_files["ca"]).replace('["1s"]', '["1h"]'))
    send(d, addr("meier"), ["x@remote.example"], "queued", service="submission", login=LOGIN)
    wait_for(lambda: any(r["attempts"] for m in queue(d) for r in m["recipients"]),
             what="a first attempt")
    sh.start()
    out = d.ctl("account", "modify", "meier", "--deny-internet")
    assert out.returncode == 0, out.stderr
    assert d.ctl("queue", "flush").returncode == 0
    wait_for(lambda: mail_list(d, "meier"), what="the DSN")
    assert queue(d) == []
    assert sh.handler.transactions == []


def test_settings_cli_masks_secrets_and_validates(daemon_factory, tls_files, smarthost):
    sh = smarthost()
    d = daemon_factory(accounts={"meier": {}}, extra_toml=sh.toml(tls_files["ca"]))
    shown = d.ctl("outgoing", "show")
    assert shown.returncode == 0 and "password = ***" in shown.stdout
    assert PASSWORD not in shown.stdout
    # a password on the command line is refused; from stdin it is taken
    out = d.ctl("account", "outgoing", "meier", "set", "smtp.password=x")
    assert out.returncode == 2 and "--secret-stdin" in out.stderr
    out = d.ctl("account", "outgoing", "meier", "set", "transport=smtp",
                "smtp.host=relay.example", "smtp.user=u", "--secret-stdin", "smtp.password",
                input="Very-Secret-77\n")
    assert out.returncode == 0, out.stderr
    assert "Very-Secret-77" not in out.stdout and "***" in out.stdout
    data = json.loads(d.ctl("--json", "account", "outgoing", "meier", "show").stdout)
    assert data["transport"] == "smtp" and data["smtp"]["host"] == "relay.example"
    assert data["smtp"]["password"] == "***"
    acct = d.conf / "accounts" / "meier.toml"
    assert acct.stat().st_mode & 0o077 == 0
    assert "Very-Secret-77" not in d.log() and PASSWORD not in d.log()
    # a typo gets file, line and key
    out = d.ctl("outgoing", "set", "smtp.hots=x")
    assert out.returncode == 1
    assert "lanmaild.toml" in out.stderr and "outgoing.smtp.hots" in out.stderr
    out = d.ctl("outgoing", "set", "transport=carrier-pigeon")
    assert out.returncode == 1 and "must be one of" in out.stderr


def test_password_in_world_readable_file_is_refused(daemon_factory, tls_files, smarthost):
    sh = smarthost()
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml=sh.toml(tls_files["ca"]))
    (d.conf / "lanmaild.toml").chmod(0o644)
    out = d.ctl("config", "check")
    assert out.returncode != 0 and "chmod 600" in out.stderr
