"""lanmailctl route test: each delivery case of the pipeline explained, and nothing sent
or stored while explaining."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))
from smtp_testlib import mail_list, queue  # noqa: E402

AWAY = '[autoresponder]\nenabled = true\nsubject = "Abwesend"\ntext = "Bin weg."\n'


def route(d, *args: str) -> dict:
    out = d.ctl("--json", "route", "test", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_each_case(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {"forward_to": "extern@remote.example"},
                                 "lehmann": {}}, start=False)
    (d.conf / "groups" / "team.toml").write_text('members = ["meier", "lehmann"]\n')
    acct = d.conf / "accounts" / "lehmann.toml"
    acct.write_text(acct.read_text() + AWAY)
    main = d.conf / "lanmaild.toml"
    main.write_text(main.read_text() + '\n[outgoing]\ntransport = "smtp"\n[outgoing.smtp]\n'
                    'host = "relay.provider.example"\nport = 587\n')
    d.start()
    # a local account
    r = route(d, "--from", "a@remote.example", "--to", "meier@lan.test")
    assert r["smtp"][1]["reply"].startswith("250")
    assert r["pipeline"]["mailboxes"] == [{"account": "meier", "folder": "INBOX"}]
    # a group: each member once; lehmann's autoresponder answers
    r = route(d, "--from", "a@remote.example", "--to", "team@lan.test")
    assert sorted(m["account"] for m in r["pipeline"]["mailboxes"]) == ["lehmann", "meier"]
    assert r["pipeline"]["autoreplies"] == [{"account": "lehmann", "to": "a@remote.example"}]
    assert all(any("team" in v for v in t["via"]) for t in r["pipeline"]["targets"])
    # forwarding to the internet: a new mail through the smarthost
    r = route(d, "--from", "a@remote.example", "--to", "schulze@lan.test")
    assert r["pipeline"]["new_mail"][0]["to"] == ["extern@remote.example"]
    assert r["outgoing_new_mail"][0]["transport"] == "smtp"
    assert "relay.provider.example:587" in r["outgoing_new_mail"][0]["smarthost"]
    # unknown recipient and an open-relay attempt are refused at RCPT
    r = route(d, "--from", "a@remote.example", "--to", "nobody@lan.test", "--to",
              "x@elsewhere.example")
    assert r["smtp"][1]["reply"].startswith("550 5.1.1")
    assert r["smtp"][2]["reply"].startswith("554 5.7.1") and r["pipeline"] is None
    # logged in: to the internet through the smarthost; not as someone else
    r = route(d, "--from", "meier@lan.test", "--to", "x@elsewhere.example", "--auth", "meier")
    assert r["pipeline"]["internet"] == ["x@elsewhere.example"]
    assert r["outgoing"]["transport"] == "smtp" and r["outgoing"]["dkim"] is None
    r = route(d, "--from", "schulze@lan.test", "--to", "x@elsewhere.example", "--auth",
              "meier")
    assert r["smtp"][0]["reply"].startswith("553 5.7.1") and r["pipeline"] is None
    # DKIM once a key exists for the domain
    assert d.ctl("dkim", "generate", "lan.test").returncode == 0
    r = route(d, "--from", "meier@lan.test", "--to", "x@elsewhere.example", "--auth", "meier")
    assert r["outgoing"]["dkim"].endswith("._domainkey.lan.test")
    # the human form, and nothing was stored or queued by any of this
    out = d.ctl("route", "test", "--from", "a@remote.example", "--to", "team@lan.test")
    assert "stored: meier / INBOX" in out.stdout and "autoreply from lehmann" in out.stdout
    assert mail_list(d, "meier") == [] and mail_list(d, "lehmann") == []
    assert queue(d) == [] or queue(d).get("messages") == []


def test_archive_sms_einvoice_and_email_commands(daemon_factory):
    """The remaining cases: an archived account, an SMS notification, an e-invoice mailbox
    routing what is not an invoice elsewhere, and an email command (reported, not run)."""
    sms = ('[sms]\nurl = "http://127.0.0.1:9/send"\n'
           'body = "to={number}&text={text}"\n')
    d = daemon_factory(accounts={"meier": {"archive": True, "sms_number": "+491701234567"},
                                 "rechnung": {"einvoice": True}, "buchhaltung": {}},
                       start=False, extra_toml="")
    main = d.conf / "lanmaild.toml"
    main.write_text(main.read_text() + "\n" + sms)
    acct = d.conf / "accounts" / "rechnung.toml"
    acct.write_text(acct.read_text() + '[einvoice_routing]\nothers_to = "buchhaltung"\n'
                    "keep_others = false\n")
    d.start()
    r = route(d, "--from", "a@remote.example", "--to", "meier@lan.test")
    assert r["pipeline"]["archive"] == [{"account": "meier", "direction": "in"}]
    assert r["pipeline"]["sms"] == ["meier"]
    r = route(d, "--from", "a@remote.example", "--to", "rechnung@lan.test")
    assert r["pipeline"]["einvoice"] == "none"  # scanned: the test mail is no invoice
    assert [m["account"] for m in r["pipeline"]["mailboxes"]] == ["buchhaltung"]
    r = route(d, "--from", "meier@lan.test", "--to", "meier@lan.test", "--auth", "meier",
              "--subject", "LMS Forwarding on buchhaltung@lan.test")
    assert r["pipeline"]["email_command"] is True and r["pipeline"]["mailboxes"] == []
    assert d.ctl("--json", "account", "show", "meier").stdout.count("buchhaltung") == 0
