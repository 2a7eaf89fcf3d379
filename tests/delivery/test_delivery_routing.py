"""Delivery pipeline: groups, forwarding (+ keep_copy), loops, save_sent, postmaster DSN."""

from __future__ import annotations

import email
import email.policy
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import (  # noqa: E402
    addr,
    queue,
    raw_messages,
    send,
    subjects,
    wait_delivered,
)


def group(d, name: str, *members: str) -> None:
    (d.conf / "groups" / f"{name}.toml").write_text(f"members = {json.dumps(list(members))}\n")


def reload(d) -> None:
    out = d.ctl("reload")
    assert out.returncode == 0, out.stderr


def test_group_delivery_once_per_account(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}, "lehmann": {}})
    group(d, "office", "meier", "schulze@lan.test", "sub")
    group(d, "sub", "lehmann", "meier")
    reload(d)
    send(d, "boss@other.example", [addr("office"), addr("meier")], "to the office")
    wait_delivered(d)
    for name in ("meier", "schulze", "lehmann"):
        assert subjects(d, name) == ["to the office"], name


def test_group_containing_itself_is_bounced_not_looped(daemon_factory):
    d = daemon_factory(accounts={"meier": {"forward_to": "ring"}, "schulze": {},
                                 "pm": {"postmaster": True}}, start=False)
    group(d, "ring", "meier", "schulze")  # meier -> ring -> meier -> ...
    d.start()
    # a group that contains itself directly is already refused by the config check
    group(d, "ring2", "ring3")
    group(d, "ring3", "ring2")
    refused = d.ctl("reload")
    assert refused.returncode == 1 and "circle" in refused.stderr
    (d.conf / "groups" / "ring2.toml").unlink()
    (d.conf / "groups" / "ring3.toml").unlink()
    send(d, addr("schulze"), [addr("ring")], "round and round")
    wait_delivered(d)
    assert subjects(d, "meier") == []
    inbox = subjects(d, "schulze")
    assert inbox == ["round and round", "Undelivered Mail Returned to Sender"]
    assert subjects(d, "pm") == ["Undelivered Mail Returned to Sender"]
    assert queue(d) == []


def test_forwarding_keep_copy_local_group_and_internet(daemon_factory):
    d = daemon_factory(accounts={
        "meier": {"forward_to": "schulze", "keep_copy": True},
        "schulze": {},
        "lehmann": {"forward_to": "team"},
        "weber": {},
        "out": {"forward_to": "friend@other.example"},
        "closed": {"forward_to": "friend@other.example", "deny_internet": True},
    }, start=False)
    group(d, "team", "weber", "schulze")
    d.start()
    send(d, "a@other.example", [addr("meier")], "to meier")
    send(d, "a@other.example", [addr("lehmann")], "to lehmann")
    send(d, "a@other.example", [addr("out")], "to out")
    send(d, "a@other.example", [addr("closed")], "to closed")
    wait_delivered(d)
    assert subjects(d, "meier") == ["to meier"]  # keep_copy
    assert subjects(d, "schulze") == ["to meier", "to lehmann"]
    assert subjects(d, "lehmann") == []  # no keep_copy
    assert subjects(d, "weber") == ["to lehmann"]
    assert subjects(d, "out") == []
    assert subjects(d, "closed") == ["to closed"]  # deny_internet: never forwarded out
    waiting = queue(d)
    assert len(waiting) == 1
    assert [(r["address"], r["state"]) for r in waiting[0]["recipients"]] == \
        [("friend@other.example", "outbound")]
    shown = d.ctl("queue", "show", str(waiting[0]["id"]))
    assert "Delivered-To: out@lan.test" in shown.stdout
    deleted = d.ctl("queue", "delete", str(waiting[0]["id"]))
    assert deleted.returncode == 0 and queue(d) == []


def test_forwarding_loop_is_bounced_with_dsn(daemon_factory):
    d = daemon_factory(accounts={
        "anna": {"forward_to": "bert", "keep_copy": True},
        "bert": {"forward_to": "anna@lan.test"},
        "carl": {},
        "pm": {"postmaster": True},
    })
    send(d, addr("carl"), [addr("anna")], "ping pong", login=("carl", "secret"),
         service="submission")
    wait_delivered(d)
    assert subjects(d, "anna") == ["ping pong"]  # the keep_copy before the loop closed
    assert subjects(d, "bert") == []
    assert subjects(d, "carl") == ["Undelivered Mail Returned to Sender"]
    assert subjects(d, "pm") == ["Undelivered Mail Returned to Sender"]
    dsn = email.message_from_bytes(raw_messages(d, "carl")[0], policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    parts = list(dsn.iter_parts())
    assert [p.get_content_type() for p in parts] == \
        ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    status = parts[1].as_string()
    assert "Final-Recipient: rfc822; anna@lan.test" in status
    assert "Action: failed" in status and "Status: 5.4.6" in status
    assert "loop" in parts[0].get_content()
    assert "Subject: ping pong" in parts[2].as_string()
    assert dsn["Auto-Submitted"] == "auto-replied"
    assert queue(d) == []  # bounced once, never looped


def test_never_bounce_a_bounce(daemon_factory):
    d = daemon_factory(accounts={"loop": {"forward_to": "loop2"}, "loop2": {"forward_to": "loop"},
                                 "pm": {"postmaster": True}})
    send(d, "", [addr("loop")], "a bounce itself")
    wait_delivered(d)
    # null sender: no DSN; the postmaster gets the undeliverable mail itself
    assert subjects(d, "pm") == ["a bounce itself"]
    assert queue(d) == []


def test_dsn_to_remote_sender_waits_outbound_and_postmaster_copy(daemon_factory):
    d = daemon_factory(accounts={"x": {"forward_to": "y"}, "y": {"forward_to": "x"},
                                 "pm": {"postmaster": True}})
    send(d, "sender@other.example", [addr("x")], "from outside")
    wait_delivered(d)
    assert subjects(d, "pm") == ["Undelivered Mail Returned to Sender"]
    waiting = queue(d)
    assert [(m["sender"], r["address"], r["state"]) for m in waiting
            for r in m["recipients"]] == [("", "sender@other.example", "outbound")]


def test_save_sent(daemon_factory):
    d = daemon_factory(accounts={"meier": {"save_sent": True}, "schulze": {}})
    send(d, addr("meier"), [addr("schulze"), "friend@other.example"], "my sent mail",
         login=("meier", "secret"), service="submission")
    wait_delivered(d)
    sent = json.loads(d.ctl("--json", "mail", "list", "meier", "--folder",
                            "INBOX.SENT").stdout)["messages"]
    assert [(m["subject"], m["flags"]) for m in sent] == [("my sent mail", ["\\Seen"])]
    assert subjects(d, "meier") == []
    assert subjects(d, "schulze") == ["my sent mail"]
