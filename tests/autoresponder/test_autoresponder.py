"""The autoresponder through real sockets: replies (local sender: in its INBOX; internet
sender: at the smarthost), RFC 3834 exclusions, once per period (also after a restart),
the period window, the alternative domain, forwarding while active."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "outgoing"))

from sinks import Smarthost  # noqa: E402
from smtp_testlib import (  # noqa: E402
    addr,
    mail_list,
    message,
    queue,
    raw_messages,
    send,
    wait_delivered,
    wait_for,
)

AWAY = ('[autoresponder]\nenabled = true\nsubject = ""\n'
        'text = "Bin weg. Ihre Mail \\"[SUBJECT]\\" von [FROM] an [TO] ([DATE]) lese ich '
        'später."\n')


def with_ar(daemon_factory, section: str = AWAY, extra: str = "", **accounts):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}, **accounts}, start=False,
                       extra_toml=extra)
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + section)
    d.start()
    return d


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_local_sender_gets_one_reply_per_period_also_after_restart(daemon_factory):
    d = with_ar(daemon_factory)
    raw = message("Grüße zum Fest", sender=addr("schulze"), to=addr("meier"),
                  extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n")
    raw = raw.replace("Grüße zum Fest".encode(), b"=?utf-8?q?Gr=C3=BC=C3=9Fe_zum_Fest?=")
    send(d, addr("schulze"), [addr("meier")], "", service="submission",
         login=("schulze", "secret"), raw=raw)
    wait_for(lambda: mail_list(d, "schulze"), what="the reply")
    reply = parsed(raw_messages(d, "schulze")[0])
    assert reply["Subject"] == "Auto: Grüße zum Fest"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["From"].addresses[0].addr_spec == addr("meier")
    original_id = parsed(raw_messages(d, "meier")[0])["Message-ID"]
    assert reply["In-Reply-To"] == original_id and original_id in reply["References"]
    body = reply.get_content()
    assert 'Ihre Mail "Grüße zum Fest" von schulze@lan.test an meier@lan.test' in body
    assert "später" in body
    # a second mail within the period: no second reply, also after a restart
    send(d, addr("schulze"), [addr("meier")], "again", service="submission",
         login=("schulze", "secret"))
    d.restart()
    send(d, addr("schulze"), [addr("meier")], "third", service="submission",
         login=("schulze", "secret"))
    wait_for(lambda: len(mail_list(d, "meier")) == 3, what="three mails for meier")
    wait_delivered(d)
    assert len(mail_list(d, "schulze")) == 1


def test_internet_sender_reply_leaves_with_null_sender(daemon_factory, tls_files):
    from lmtest import free_port

    sh = Smarthost(free_port(), tls_files).start()
    try:
        d = with_ar(daemon_factory, extra=sh.toml(tls_files["ca"]))
        send(d, "kunde@remote.example", [addr("meier")], "Anfrage")
        t = sh.handler.wait(1)[0]
        assert t.sender == "<>" and t.recipients == ["kunde@remote.example"]  # null sender
        assert b"Auto-Submitted: auto-replied" in t.data
        assert b"Subject: Auto: Anfrage" in t.data
    finally:
        sh.stop()


EXCLUDED = [
    ("Auto-Submitted: auto-generated\r\n", "x@remote.example"),
    ("Precedence: bulk\r\n", "x@remote.example"),
    ("Precedence: list\r\n", "x@remote.example"),
    ("List-Id: <news.remote.example>\r\n", "x@remote.example"),
    ("List-Unsubscribe: <mailto:u@remote.example>\r\n", "x@remote.example"),
    ("", "MAILER-DAEMON@remote.example"),
    ("", "noreply@remote.example"),
    ("", "postmaster@remote.example"),
    ("", "news-request@remote.example"),
    ("", ""),
]


@pytest.mark.parametrize("header,sender", EXCLUDED)
def test_rfc3834_exclusions_get_no_reply(daemon_factory, header, sender):
    d = with_ar(daemon_factory)
    raw = message("excluded", sender=sender or "x@remote.example", to=addr("meier"),
                  extra=header)
    send(d, sender, [addr("meier")], "", raw=raw)
    wait_for(lambda: mail_list(d, "meier"), what="the delivery")
    wait_delivered(d)
    assert queue(d) == []


def test_no_reply_to_itself_and_deny_internet(daemon_factory):
    d = with_ar(daemon_factory)
    send(d, addr("meier"), [addr("meier")], "to myself", service="submission",
         login=("meier", "secret"))
    wait_for(lambda: mail_list(d, "meier"), what="the delivery")
    wait_delivered(d)
    assert len(mail_list(d, "meier")) == 1 and queue(d) == []
    d.ctl("account", "modify", "meier", "--deny-internet")
    send(d, "kunde@remote.example", [addr("meier")], "from outside")
    wait_for(lambda: len(mail_list(d, "meier")) == 2, what="the delivery")
    wait_delivered(d)
    assert queue(d) == []


@pytest.mark.parametrize("window", ["past", "future"])
def test_outside_the_period_no_reply(daemon_factory, window):
    now = dt.datetime.now()
    if window == "past":
        start, until = now - dt.timedelta(days=10), now - dt.timedelta(days=1)
    else:
        start, until = now + dt.timedelta(days=1), now + dt.timedelta(days=10)
    section = (AWAY + f'from = "{start:%Y-%m-%d %H:%M}"\nuntil = "{until:%Y-%m-%d %H:%M}"\n'
               'forward = "schulze"\n')
    d = with_ar(daemon_factory, section)
    send(d, addr("schulze"), [addr("meier")], "hello", service="submission",
         login=("schulze", "secret"))
    wait_for(lambda: mail_list(d, "meier"), what="the delivery")
    wait_delivered(d)
    assert mail_list(d, "schulze") == []  # no reply, and no forward outside the period


def test_alternative_domain_and_forward_while_active(daemon_factory):
    now = dt.datetime.now()
    section = (AWAY + 'domain = "second.test"\nforward = "schulze; vertretung"\n'
               'keep_copy = false\n'
               f'from = "{now - dt.timedelta(hours=1):%Y-%m-%d %H:%M}"\n'
               f'until = "{now + dt.timedelta(days=1):%Y-%m-%d %H:%M}"\n')
    d = with_ar(daemon_factory, section, vertretung={})
    send(d, "kunde@remote.example", [addr("meier")], "bitte weiterleiten",
         raw=message("bitte weiterleiten", sender=addr("vertretung"), to=addr("meier")))
    wait_for(lambda: mail_list(d, "schulze") and mail_list(d, "vertretung"),
             what="the forwarded copies")
    wait_delivered(d)
    assert mail_list(d, "meier") == []  # keep_copy = false
    replies = [r for m in queue(d) for r in m["recipients"]]
    assert [r["address"] for r in replies] == ["kunde@remote.example"]
    reply = [m for m in queue(d)][0]
    assert reply["sender"] == ""
    shown = d.api("queue.show", id=reply["id"])["result"]
    assert "From: meier@second.test" in shown["headers"]
