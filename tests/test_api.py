"""The control API over the raw socket: every account/group/config op, its error codes."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib

from lanmail_helpers import CLEAR_PASSWORD, err, files_containing, inject_mail, message, ok

from lanmaild.auth.passwords import verify_password


def test_socat_example_from_the_man_page(daemon) -> None:
    line = subprocess.run(
        f"echo '{{\"op\":\"status\"}}' | socat - UNIX-CONNECT:{daemon.socket}",
        shell=True, capture_output=True, text=True, timeout=20, check=True).stdout
    reply = json.loads(line)
    assert reply["ok"] and reply["result"]["accounts"] == 2
    assert os.stat(daemon.socket).st_mode & 0o777 == 0o660
    assert os.stat(daemon.socket.parent).st_mode & 0o777 == 0o750


def test_help_lists_every_op(daemon) -> None:
    names = {o["op"] for o in ok(daemon.api("help"))}
    assert {"status", "reload", "help", "config.check", "account.add", "account.modify",
            "account.delete", "account.list", "account.show", "group.add", "group.modify",
            "group.delete", "group.list", "group.show"} <= names


def test_account_add_writes_toml_and_applies_live(daemon) -> None:
    result = ok(daemon.api("account.add", name="Weber", password=CLEAR_PASSWORD,
                           display_name="Eva Weber", quota="2G", save_sent=True))
    assert result["name"] == "Weber" and result["quota"] == 2 << 30
    assert [f["name"] for f in result["folders"]][:1] == ["INBOX"]
    assert {"INBOX", "INBOX.SENT", "INBOX.Drafts", "INBOX.Trash"} <= \
        {f["name"] for f in result["folders"]}
    path = daemon.conf / "accounts" / "Weber.toml"
    data = tomllib.loads(path.read_text())
    assert verify_password(CLEAR_PASSWORD, data["password"])
    assert (data["display_name"], data["save_sent"], data["quota"]) == \
        ("Eva Weber", True, 2 << 30)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert ok(daemon.api("status"))["accounts"] == 3  # applied without a restart
    assert ok(daemon.api("account.show", name="weber"))["display_name"] == "Eva Weber"
    assert files_containing(daemon.conf, CLEAR_PASSWORD.encode()) == []
    assert CLEAR_PASSWORD not in daemon.log()


def test_modify_keeps_comments_and_hand_formatting(daemon) -> None:
    path = daemon.conf / "accounts" / "meier.toml"
    text = path.read_text()
    path.write_text("# Hans Meier, Vertrieb -- keep this comment\n" + text +
                    "archive   =   false   # hand aligned\n")
    ok(daemon.api("reload"))
    old_hash = tomllib.loads(path.read_text())["password"]
    ok(daemon.api("account.modify", name="MEIER", archive=True, password="neu"))
    new = path.read_text()
    assert new.startswith("# Hans Meier, Vertrieb -- keep this comment\n")
    assert "archive   =   true   # hand aligned" in new
    data = tomllib.loads(new)
    assert data["password"] != old_hash and verify_password("neu", data["password"])
    assert ok(daemon.api("account.show", name="meier"))["archive"] is True


def test_bad_names_one_line_each(daemon) -> None:
    from test_ctl import BAD_NAMES

    for name, reason in BAD_NAMES:
        assert err(daemon.api("account.add", name=name, password="p")) == ("invalid", reason)
        assert err(daemon.api("group.add", name=name, members=[])) == \
            ("invalid", reason.replace("account name", "group name"))
    assert sorted(p.name for p in (daemon.conf / "accounts").iterdir()) == \
        ["meier.toml", "schulze.toml"]
    assert list((daemon.conf / "groups").iterdir()) == []


def test_error_codes(daemon) -> None:
    assert err(daemon.api("no.such.op"))[0] == "bad_request"
    assert err(daemon.api("account.add", name="x"))== ("bad_request",
                                                       "missing argument 'password'")
    assert err(daemon.api("account.add", name="x", password="p", archive="yes")) == \
        ("bad_request", "argument 'archive' has the wrong type")
    code, msg = err(daemon.api("account.add", name="x", password="p", colour="red"))
    assert code == "bad_request" and msg.startswith("unknown argument 'colour'")
    assert err(daemon.api("account.add", name="a b", password="p"))[0] == "invalid"
    assert err(daemon.api("account.add", name="x", password=""))[0] == "invalid"
    assert err(daemon.api("account.add", name="x", password="p", quota="lots"))[0] == \
        "invalid"
    assert err(daemon.api("account.add", name="Meier", password="p"))[0] == "exists"
    assert err(daemon.api("account.show", name="ghost")) == ("not_found", "no account 'ghost'")
    assert err(daemon.api("account.modify", name="ghost", archive=True))[0] == "not_found"
    ok(daemon.api("account.modify", name="meier", postmaster=True))
    assert err(daemon.api("account.modify", name="schulze", postmaster=True))[0] == \
        "conflict"
    moved = ok(daemon.api("account.modify", name="schulze", postmaster=True, force=True))
    assert moved["postmaster"] is True
    assert ok(daemon.api("account.show", name="meier"))["postmaster"] is False
    code, msg = err(daemon.api("account.modify", name="meier", forward_to="ghost"))
    assert code == "config" and msg.startswith("refused, nothing changed: ")
    assert "'ghost' is not a local account or group" in msg
    assert tomllib.loads((daemon.conf / "accounts" / "meier.toml").read_text()).get(
        "forward_to", "") == ""
    code, msg = err(daemon.api("account.modify", name="meier", einvoice=True,
                               sms_number="+491701234567"))
    assert code == "config" and "not available on an e-invoice mailbox" in msg
    assert err(daemon.api("account.delete", name="meier"))[0] == "bad_request"
    assert err(daemon.api("account.delete", name="meier", yes=True, keep_mail="rel/dir"))[0] \
        == "bad_request"
    assert err(daemon.api("group.add", name="g", members=["ghost"]))[0] == "invalid"
    assert err(daemon.api("group.add", name="g", members="meier"))[0] == "bad_request"
    assert err(daemon.api("group.add", name="meier", members=[]))[0] == "exists"


def test_delete_via_api_exports_and_removes_mail(daemon, tmp_path) -> None:
    inject_mail(daemon, "schulze", {"INBOX": [message("a"), message("b")]})
    out = tmp_path / "keep"
    result = ok(daemon.api("account.delete", name="schulze", yes=True, keep_mail=str(out)))
    assert result == {"name": "schulze", "exported": 2, "keep_mail": str(out)}
    assert sorted(p.name for p in (out / "INBOX").iterdir()) == ["1.eml", "2.eml"]
    assert os.stat(out / "INBOX" / "1.eml").st_mode & 0o777 == 0o600
    assert not (daemon.conf / "accounts" / "schulze.toml").exists()
    assert ok(daemon.api("status"))["accounts"] == 1
    ok(daemon.api("account.add", name="schulze", password="p"))
    assert ok(daemon.api("account.show", name="schulze"))["messages"] == 0


def test_groups_via_api(daemon) -> None:
    ok(daemon.api("group.add", name="team", members=["meier"]))
    ok(daemon.api("group.add", name="all", members=["team", "schulze@lan.test",
                                                     "extern@example.com"],
                  description="everyone"))
    shown = ok(daemon.api("group.show", name="ALL"))
    assert shown["recipients"] == ["meier@lan.test", "schulze@lan.test", "extern@example.com"]
    assert err(daemon.api("group.modify", name="team", add=["all"]))[0] == "config"  # circle
    assert err(daemon.api("group.delete", name="team"))[0] == "conflict"
    ok(daemon.api("group.modify", name="all", members=["meier"], description=""))
    assert ok(daemon.api("group.show", name="all"))["members"] == ["meier"]
    assert err(daemon.api("group.modify", name="all", remove=["schulze"]))[0] == "not_found"
    assert ok(daemon.api("group.delete", name="team")) == {"name": "team"}
    assert [g["name"] for g in ok(daemon.api("group.list"))] == ["all"]
    text = (daemon.conf / "groups" / "all.toml").read_text()
    assert text.startswith("# LANMail group 'all'") and 'members = ["meier"]' in text


def test_refused_when_a_hand_edit_elsewhere_is_broken(daemon) -> None:
    """A change validates the whole conf.d: a broken file is reported, nothing is written."""
    broken = daemon.conf / "accounts" / "schulze.toml"
    broken.write_text(broken.read_text() + "colour = 1\n")
    before = (daemon.conf / "accounts" / "meier.toml").read_text()
    code, msg = err(daemon.api("account.modify", name="meier", archive=True))
    assert code == "config" and f"{broken}:2: key 'colour': unknown key" in msg
    assert (daemon.conf / "accounts" / "meier.toml").read_text() == before
    assert err(daemon.api("config.check"))[0] == "config"
    assert ok(daemon.api("account.show", name="schulze"))["name"] == "schulze"
