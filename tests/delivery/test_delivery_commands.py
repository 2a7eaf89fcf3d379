"""Email commands: LMS Forwarding off / on <address>, from the owner and spoofed."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, queue, raw_messages, send, subjects, wait_delivered  # noqa: E402


def forward_to(d, name: str) -> str:
    return tomllib.loads((d.conf / "accounts" / f"{name}.toml").read_text()).get(
        "forward_to", "")


def command(d, name: str, subject: str, **kw) -> None:
    send(d, addr(name), [addr(name)], subject, body="ignored body\r\n", **kw)


def test_lms_forwarding_on_and_off_from_owner(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}})
    command(d, "meier", "LMS forwarding ON schulze@lan.test", service="submission",
            login=("meier", "secret"))
    wait_delivered(d)
    assert forward_to(d, "meier") == "schulze@lan.test"
    show = d.ctl("--json", "account", "show", "meier")
    assert '"forward_to": "schulze@lan.test"' in show.stdout
    # the command mail is not stored; the confirmation is, and (forwarding now on) it went on
    assert subjects(d, "meier") == []
    assert subjects(d, "schulze") == ["LMS Forwarding on: done (schulze@lan.test)"]
    send(d, "x@other.example", [addr("meier")], "now forwarded")
    wait_delivered(d)
    assert subjects(d, "schulze")[-1] == "now forwarded"
    command(d, "meier", "LMS Forwarding off", service="submission", login=("meier", "secret"))
    wait_delivered(d)
    assert forward_to(d, "meier") == ""
    assert subjects(d, "meier") == ["LMS Forwarding off: done"]
    confirmation = raw_messages(d, "meier")[0]
    assert b"\r\nAuto-Submitted: auto-replied\r\n" in confirmation


def test_lms_command_errors(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "closed": {"deny_internet": True}})
    login = {"service": "submission", "login": ("meier", "secret")}
    command(d, "meier", "LMS Forwarding on not-an-address", **login)
    command(d, "meier", "LMS Forwarding on meier", **login)
    command(d, "meier", "LMS Forwarding sideways", **login)
    command(d, "closed", "LMS Forwarding on friend@other.example", service="submission",
            login=("closed", "secret"))
    wait_delivered(d)
    assert subjects(d, "meier") == ["LMS Forwarding on: invalid address",
                                    "LMS Forwarding on: invalid address",
                                    "LMS Forwarding: command not understood"]
    assert subjects(d, "closed") == ["LMS Forwarding on: not allowed"]
    assert forward_to(d, "meier") == "" and forward_to(d, "closed") == ""
    # "lms" in lower case is no command: an ordinary mail
    command(d, "meier", "lms Forwarding off", **login)
    wait_delivered(d)
    assert subjects(d, "meier")[-1] == "lms Forwarding off"


def test_lms_header_injection_impossible(daemon_factory):
    d = daemon_factory(accounts={"meier": {}})
    raw = (b"From: meier@lan.test\r\nTo: meier@lan.test\r\n"
           b"Subject: =?utf-8?q?LMS_Forwarding_on_a=40b.example=0D=0ABcc=3A_victim=40x.example?="
           b"\r\n\r\nbody\r\n")
    send(d, addr("meier"), [addr("meier")], "", raw=raw, service="submission",
         login=("meier", "secret"))
    wait_delivered(d)
    assert forward_to(d, "meier") == ""
    for message in raw_messages(d, "meier"):
        head = message.split(b"\r\n\r\n", 1)[0]
        assert b"\nBcc:" not in head and b"victim" not in head
    assert all(r["address"] != "victim@x.example" for m in queue(d) for r in m["recipients"])


def test_spoofed_lms_commands_are_ignored(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}})
    # from outside, claiming to be meier (no login, not a trusted network)
    command(d, "meier", "LMS Forwarding on evil@other.example")
    # logged in, but as someone else (who may not use meier's address as sender)
    send(d, addr("schulze"), [addr("meier")], "LMS Forwarding on schulze",
         service="submission", login=("schulze", "secret"))
    wait_delivered(d)
    assert forward_to(d, "meier") == ""
    # both delivered as ordinary mail, no confirmation
    assert subjects(d, "meier") == ["LMS Forwarding on evil@other.example",
                                    "LMS Forwarding on schulze"]


def test_lms_from_trusted_network_needs_login_by_default(daemon_factory):
    """Any host on a trusted network can forge any envelope sender: without a login the
    command is ordinary mail, and no confirmation goes anywhere."""
    d = daemon_factory(accounts={"meier": {}, "schulze": {}},
                       extra_toml='trusted_networks = ["127.0.0.0/8"]')
    command(d, "meier", "LMS Forwarding on evil@other.example")
    wait_delivered(d)
    assert forward_to(d, "meier") == ""
    assert subjects(d, "meier") == ["LMS Forwarding on evil@other.example"]
    assert queue(d) == []  # nothing on its way to evil@other.example


def test_lms_from_trusted_network_with_own_sender(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}},
                       extra_toml='trusted_networks = ["127.0.0.0/8"]\n'
                                  "email_commands_trusted = true")
    command(d, "meier", "LMS Forwarding on schulze")
    wait_delivered(d)
    assert forward_to(d, "meier") == "schulze"
    assert subjects(d, "schulze") == ["LMS Forwarding on: done (schulze)"]
