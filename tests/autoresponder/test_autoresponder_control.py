"""The autoresponder's email commands (LMS Autoresponder on/off, from the owner; spoofed
ones do nothing) and lanmailctl autoresponder show|set|on|off."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, message, send, subjects, wait_delivered  # noqa: E402

LOGIN = {"service": "submission", "login": ("meier", "secret")}


def section(d) -> dict:
    return tomllib.loads((d.conf / "accounts" / "meier.toml").read_text()).get(
        "autoresponder", {})


def test_lms_autoresponder_on_and_off(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}})
    raw = message("LMS Autoresponder on Im Urlaub", body="Bis zum 6. Januar weg.\r\n"
                  "Grüße\r\n", sender=addr("meier"), to=addr("meier"),
                  extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n")
    send(d, addr("meier"), [addr("meier")], "", raw=raw, **LOGIN)
    wait_delivered(d)
    assert section(d)["enabled"] is True and section(d)["subject"] == "Im Urlaub"
    assert section(d)["text"] == "Bis zum 6. Januar weg.\nGrüße"
    assert subjects(d, "meier") == ["LMS Autoresponder on: done"]  # command not stored
    send(d, addr("schulze"), [addr("meier")], "Frage", **{"service": "submission",
                                                          "login": ("schulze", "secret")})
    wait_delivered(d)
    assert subjects(d, "schulze") == ["Im Urlaub"]
    send(d, addr("meier"), [addr("meier")], "LMS Autoresponder off", **LOGIN)
    wait_delivered(d)
    assert section(d)["enabled"] is False
    assert subjects(d, "meier")[-1] == "LMS Autoresponder off: done"


def test_lms_autoresponder_html_only_is_refused(daemon_factory):
    d = daemon_factory(accounts={"meier": {}})
    raw = message("LMS Autoresponder on", body="<p>weg</p>\r\n", sender=addr("meier"),
                  to=addr("meier"), extra="MIME-Version: 1.0\r\nContent-Type: text/html\r\n")
    send(d, addr("meier"), [addr("meier")], "", raw=raw, **LOGIN)
    wait_delivered(d)
    assert section(d) == {}
    assert subjects(d, "meier") == ["LMS Autoresponder on: plain text needed"]


def test_spoofed_lms_autoresponder_does_nothing(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}})
    # from outside, unauthenticated, with the owner's address as sender
    send(d, addr("meier"), [addr("meier")], "LMS Autoresponder on")
    # another account, logged in, mailing meier
    send(d, addr("schulze"), [addr("meier")], "LMS Autoresponder on",
         service="submission", login=("schulze", "secret"))
    wait_delivered(d)
    assert section(d) == {}
    # both were ordinary mail: delivered, no confirmation anywhere
    assert subjects(d, "meier") == ["LMS Autoresponder on", "LMS Autoresponder on"]
    assert subjects(d, "schulze") == []


def test_cli_show_set_on_off(daemon_factory, tmp_path):
    d = daemon_factory(accounts={"meier": {}})
    acct = d.conf / "accounts" / "meier.toml"
    acct.write_text("# Meier's account\n" + acct.read_text())
    text = tmp_path / "away.txt"
    text.write_text("Ich bin bis [DATE] weg.\nMit freundlichen Grüßen\n", encoding="utf-8")
    out = d.ctl("autoresponder", "on", "meier", "--text-file", str(text), "--from",
                "2026-01-01 08:00", "--until", "2099-01-06 18:00", "--forward", "schulze",
                "--no-keep-copy")
    assert out.returncode == 1 and "schulze" in out.stderr  # forward target must exist
    out = d.ctl("autoresponder", "on", "meier", "--text-file", str(text), "--from",
                "2026-01-01 08:00", "--until", "2099-01-06 18:00", "--subject", "Abwesend")
    assert out.returncode == 0, out.stderr
    assert "on (active now)" in out.stdout
    data = json.loads(d.ctl("--json", "autoresponder", "show", "meier").stdout)
    assert data["enabled"] and data["active"] and data["from"] == "2026-01-01 08:00"
    assert data["text"] == "Ich bin bis [DATE] weg.\nMit freundlichen Grüßen\n"
    assert acct.read_text().startswith("# Meier's account\n")  # comments kept
    out = d.ctl("autoresponder", "set", "meier", "--permanent")
    assert out.returncode == 0 and "from" not in section(d)
    out = d.ctl("autoresponder", "set", "meier", "--until", "gestern")
    assert out.returncode == 1 and "autoresponder.until" in out.stderr
    out = d.ctl("autoresponder", "off", "meier")
    assert out.returncode == 0 and ": off" in out.stdout
    out = d.ctl("autoresponder", "show", "nobody")
    assert out.returncode == 1 and "no account 'nobody'" in out.stderr
