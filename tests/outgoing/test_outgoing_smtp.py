"""The smtp transport against a real smarthost (aiosmtpd with STARTTLS + AUTH): per-recipient
results, retries, DSNs, the recipient split, connection reuse."""

from __future__ import annotations

import collections
import email
import email.policy
import re
import sys
from pathlib import Path

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


def make(daemon_factory, tls_files, sh, extra: str = "", accounts: dict | None = None):
    accounts = accounts or {"meier": {}, "pm": {"postmaster": True}}
    return daemon_factory(accounts=accounts, extra_toml=sh.toml(tls_files["ca"], extra))


def dsn_parts(raw: bytes) -> tuple[str, list[dict]]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    status = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"][0]
    blocks = [dict(b.items()) for b in status.get_payload()]
    return msg["Subject"], blocks[1:]


def test_one_result_per_recipient(daemon_factory, tls_files, smarthost):
    sh = smarthost(rcpt_replies={"c@remote.example": "550 5.1.1 no such user c"})
    d = make(daemon_factory, tls_files, sh)
    rcpts = ["a@remote.example", "b@remote.example", "c@remote.example"]
    send(d, addr("meier"), rcpts, "three", service="submission", login=LOGIN)
    t = sh.handler.wait(1)
    assert t[0].recipients == ["a@remote.example", "b@remote.example"]
    assert t[0].sender == addr("meier")
    assert b"Subject: three" in t[0].data
    # only the third bounces: one DSN to the sender, naming c only; a copy to the postmaster
    wait_for(lambda: mail_list(d, "meier"), what="the DSN")
    subject, blocks = dsn_parts(raw_messages(d, "meier")[0])
    assert subject == "Undelivered Mail Returned to Sender"
    assert [(b["Final-Recipient"], b["Action"], b["Status"]) for b in blocks] == \
        [("rfc822; c@remote.example", "failed", "5.1.1")]
    assert "550 5.1.1 no such user c" in blocks[0]["Diagnostic-Code"]
    wait_for(lambda: mail_list(d, "pm"), what="the postmaster copy")
    wait_for(lambda: queue(d) == [], what="an empty queue")


def test_smarthost_down_then_up(daemon_factory, tls_files, smarthost):
    sh = smarthost(start=False)
    d = make(daemon_factory, tls_files, sh)
    send(d, addr("meier"), ["x@remote.example"], "waits", service="submission", login=LOGIN)
    waiting = wait_for(lambda: [r for m in queue(d) for r in m["recipients"]
                                if r["attempts"] >= 1], what="a failed attempt")
    assert waiting[0]["state"] == "outbound"
    assert "localhost" in waiting[0]["error"]
    sh.start()
    t = sh.handler.wait(1)
    assert t[0].recipients == ["x@remote.example"]
    wait_for(lambda: queue(d) == [], what="an empty queue")
    assert mail_list(d, "meier") == []  # no DSN: it was only delayed


def test_temporary_then_permanent_after_max_age(daemon_factory, tls_files, smarthost):
    sh = smarthost(rcpt_replies={"slow@remote.example": "451 4.3.0 try later"})
    d = make(daemon_factory, tls_files, sh, extra='max_age = "3s"\ndelay_warning = "1s"\n')
    send(d, addr("meier"), ["slow@remote.example"], "slow", service="submission", login=LOGIN)
    wait_for(lambda: len(mail_list(d, "meier")) == 2, timeout=20, what="warning + bounce")
    kinds = sorted(dsn_parts(r)[0] for r in raw_messages(d, "meier"))
    assert kinds == ["Delayed Mail (still being retried)", "Undelivered Mail Returned to Sender"]
    for raw in raw_messages(d, "meier"):
        subject, blocks = dsn_parts(raw)
        action = "delayed" if subject.startswith("Delayed") else "failed"
        assert [b["Action"] for b in blocks] == [action]
        assert "451 4.3.0 try later" in blocks[0]["Diagnostic-Code"]
    wait_for(lambda: queue(d) == [], what="an empty queue")


def test_recipient_limit_splits_250_into_125(daemon_factory, tls_files, smarthost):
    """The seed's example: 250 recipients, at most 2 per mail -> 125 transactions."""
    sh = smarthost()
    d = make(daemon_factory, tls_files, sh,
             accounts={"meier": {}, "pm": {"postmaster": True}},
             extra="")
    (d.conf / "accounts" / "meier.toml").write_text(
        (d.conf / "accounts" / "meier.toml").read_text() + "[outgoing]\nmax_recipients = 2\n")
    d.limits_toml = "recipients = 300"
    d.write_main(sh.toml(tls_files["ca"]))
    d.restart()
    rcpts = [f"r{i}@remote{i % 7}.example" for i in range(250)]
    raw = message("many", sender=addr("meier"), to="undisclosed-recipients:;")
    send(d, addr("meier"), rcpts, "many", service="submission", login=LOGIN, raw=raw)
    t = sh.handler.wait(125)
    assert len(t) == 125
    assert all(len(x.recipients) == 2 for x in t)
    assert sorted(sh.handler.recipients()) == sorted(rcpts)
    wait_for(lambda: queue(d) == [], what="an empty queue")


def test_queue_commands(daemon_factory, tls_files, smarthost):
    sh = smarthost(start=False)
    d = make(daemon_factory, tls_files, sh, extra="")
    (d.conf / "lanmaild.toml").write_text((d.conf / "lanmaild.toml").read_text().replace(
        'retry = ["1s"]', 'retry = ["1h"]'))
    d.restart()
    send(d, addr("meier"), ["x@remote.example"], "one", service="submission", login=LOGIN)
    send(d, addr("meier"), ["y@remote.example"], "two", service="submission", login=LOGIN)
    wait_for(lambda: all(r["attempts"] >= 1 for m in queue(d) for r in m["recipients"])
             and len(queue(d)) == 2, what="two failed attempts")
    listed = d.ctl("--json", "queue", "list")
    assert listed.returncode == 0, listed.stderr
    ids = [m["id"] for m in queue(d)]
    out = d.ctl("queue", "delete", str(ids[1]))
    assert out.returncode == 0, out.stderr
    sh.start()
    out = d.ctl("queue", "retry", str(ids[0]))
    assert out.returncode == 0 and "1" in out.stdout, out
    sh.handler.wait(1)
    wait_for(lambda: queue(d) == [], what="an empty queue")
    assert sh.handler.recipients() == ["x@remote.example"]
    out = d.ctl("queue", "retry", "99999")
    assert out.returncode != 0 and "99999" in out.stderr
    out = d.ctl("queue", "flush")
    assert out.returncode == 0, out.stderr


def test_many_mails_each_relayed_exactly_once(daemon_factory, tls_files, smarthost):
    """More mails than the runner sends in parallel: none twice, none lost (a message
    finished while the next batch was being read must not be picked up again)."""
    sh = smarthost()
    d = make(daemon_factory, tls_files, sh)
    s = smtp(d, "submission")
    s.login(*LOGIN)
    n = 400
    for i in range(n):
        s.sendmail(addr("meier"), [f"r{i % 7}@remote.example"],
                   message(f"once-{i:04d}", sender=addr("meier"), to="x@remote.example"))
    s.quit()
    sh.handler.wait(n, timeout=60)
    wait_for(lambda: queue(d) == [], timeout=30, what="an empty queue")
    subjects = collections.Counter(
        re.search(rb"Subject: (once-\d+)", t.data).group(1) for t in sh.handler.transactions)
    assert len(subjects) == n and set(subjects.values()) == {1}, subjects.most_common(3)


def test_delay_warning_off(daemon_factory, tls_files, smarthost):
    """delay_warning = 0: only the final bounce, no "delayed" DSN before it."""
    sh = smarthost(rcpt_replies={"slow@remote.example": "451 4.3.0 try later"})
    d = make(daemon_factory, tls_files, sh, extra='max_age = "3s"\ndelay_warning = 0\n')
    send(d, addr("meier"), ["slow@remote.example"], "slow", service="submission", login=LOGIN)
    wait_for(lambda: mail_list(d, "meier"), timeout=20, what="the bounce")
    wait_for(lambda: queue(d) == [], what="an empty queue")
    assert [dsn_parts(r)[0] for r in raw_messages(d, "meier")] == \
        ["Undelivered Mail Returned to Sender"]


def test_smarthost_with_implicit_tls(daemon_factory, tls_files, smarthost):
    """Port 465 style (RFC 8314): TLS from the first byte, the certificate checked against
    ca_file, then AUTH and the mail."""
    sh = smarthost(implicit=True)
    d = make(daemon_factory, tls_files, sh)
    send(d, addr("meier"), ["x@remote.example"], "over implicit TLS", service="submission",
         login=LOGIN)
    t = sh.handler.wait(1)
    assert t[0].recipients == ["x@remote.example"] and t[0].tls
    wait_for(lambda: queue(d) == [], what="an empty queue")
