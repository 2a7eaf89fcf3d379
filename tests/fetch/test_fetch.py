"""Fetching from a real Dovecot over POP3 and IMAP (plain, STARTTLS, implicit TLS):
leave-on-server (nothing twice, new mail once), delete after download, multi-drop,
a wrong password, a server that is down; kill -9 in the middle of 500 messages."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from dovecot import PASSWORD, USER

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import mail_list, raw_messages, wait_delivered, wait_for  # noqa: E402


def msg(i: int, to: str = "kunde@provider.test", extra: str = "") -> bytes:
    return (f"From: absender{i}@remote.example\r\nTo: {to}\r\nSubject: extern {i}\r\n"
            f"Message-ID: <ext{i}.{time.time_ns()}@remote.example>\r\n{extra}\r\n"
            f"Nachricht {i}\r\n").encode()


def with_external(daemon_factory, text: str, **accounts):
    """meier with the external mailbox ``text``, switched off for the schedule (the tests
    fetch by hand, so the scheduler's first run at start-up does not race them)."""
    text = text.replace("[[external]]\n", "[[external]]\nenabled = false\n")
    d = daemon_factory(accounts={"meier": {}, **accounts}, start=False)
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + text)
    d.start()
    return d


def fetch(d, *args: str) -> list[dict]:
    out = d.ctl("--json", "external", "fetch", "meier", *args)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("protocol,tls", [("pop3", "none"), ("pop3", "implicit"),
                                          ("imap", "none"), ("imap", "starttls"),
                                          ("imap", "implicit")])
def test_leave_on_server_delivers_each_once(daemon_factory, dovecot, tls_files, protocol,
                                            tls):
    dovecot.append([msg(1), msg(2)])
    d = with_external(daemon_factory, dovecot.external_toml(
        "provider", protocol, tls, ca=str(tls_files["ca"])))
    r = fetch(d)
    assert r[0]["error"] == "" and r[0]["fetched"] == 2, r
    wait_delivered(d)
    assert sorted(m["subject"] for m in mail_list(d, "meier")) == ["extern 1", "extern 2"]
    assert dovecot.count() == 2  # left on the server
    assert fetch(d)[0]["fetched"] == 0  # nothing twice
    dovecot.append([msg(3)])
    d.restart()  # also across a restart
    assert fetch(d)[0]["fetched"] == 1
    wait_delivered(d)
    assert len(mail_list(d, "meier")) == 3
    raw = raw_messages(d, "meier")[0]
    assert raw.startswith(b"Received: from ") and b"LANMail fetch meier/provider" in raw


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_delete_after_download(daemon_factory, dovecot, protocol):
    dovecot.append([msg(i) for i in range(5)])
    d = with_external(daemon_factory, dovecot.external_toml("p", protocol, keep=False))
    r = fetch(d)
    assert r[0]["fetched"] == 5 and r[0]["deleted"] == 5
    assert dovecot.count() == 0
    wait_delivered(d)
    assert len(mail_list(d, "meier")) == 5


def test_multidrop_by_recipient(daemon_factory, dovecot):
    dovecot.append([
        msg(1, to="meier@lan.test"),
        msg(2, to="x@remote.example", extra="Delivered-To: schulze@lan.test\r\n"),
        msg(3, to="meier@lan.test, schulze@lan.test"),
        msg(4, to="unknown@elsewhere.example")])
    d = with_external(daemon_factory, dovecot.external_toml("sammel", "imap", multidrop=True),
                      schulze={}, pm={"postmaster": True})
    assert fetch(d)[0]["fetched"] == 4
    wait_delivered(d)
    assert sorted(m["subject"] for m in mail_list(d, "meier")) == ["extern 1", "extern 3"]
    assert sorted(m["subject"] for m in mail_list(d, "schulze")) == ["extern 2", "extern 3"]
    assert [m["subject"] for m in mail_list(d, "pm")] == ["extern 4"]


def test_wrong_password_and_server_down(daemon_factory, dovecot):
    d = with_external(daemon_factory, dovecot.external_toml("p", "pop3").replace(
        PASSWORD, "wrong-password"))
    r = fetch(d)
    assert r[0]["error"].startswith("login refused")
    listed = json.loads(d.ctl("--json", "external", "list", "meier").stdout)
    assert listed[0]["status"]["result"] == "error" and listed[0]["password"] == "***"
    assert PASSWORD not in d.log() and "wrong-password" not in d.log()
    dovecot.stop()
    acct = d.conf / "accounts" / "meier.toml"
    acct.write_text(acct.read_text().replace("wrong-password", PASSWORD))
    assert d.ctl("reload").returncode == 0
    r = fetch(d)
    assert "cannot connect" in r[0]["error"]
    out = d.ctl("external", "fetch", "meier")
    assert out.returncode == 1 and "FAILED" in out.stdout


def test_cli_add_modify_delete(daemon_factory, dovecot):
    d = daemon_factory(accounts={"meier": {}})
    out = d.ctl("external", "add", "meier", "provider", "--protocol", "imap", "--host",
                "127.0.0.1", "--port", str(dovecot.ports["imap"]), "--tls", "none", "--user",
                USER, "--password-stdin", input=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    assert (d.conf / "accounts" / "meier.toml").stat().st_mode & 0o077 == 0
    dovecot.append([msg(1)])
    assert fetch(d, "provider")[0]["fetched"] == 1
    out = d.ctl("external", "modify", "meier", "provider", "--delete")
    assert out.returncode == 0, out.stderr
    assert fetch(d)[0]["deleted"] == 1 and dovecot.count() == 0
    out = d.ctl("external", "add", "meier", "provider", "--protocol", "pop3", "--host", "x",
                "--user", "u", "--password-stdin", input="p\n")
    assert out.returncode == 1 and "already has" in out.stderr
    out = d.ctl("external", "add", "meier", "bad", "--protocol", "smtp", "--host", "x",
                "--user", "u", "--password-stdin", input="p\n")
    assert out.returncode == 1 and "external.protocol" in out.stderr
    assert d.ctl("external", "delete", "meier", "provider").returncode == 0
    assert "no external mailboxes" in d.ctl("external", "list").stdout


def test_kill_9_during_a_fetch_of_500(daemon_factory, dovecot):
    """Each message delivered exactly once; only delivered ones removed from Dovecot."""
    n = 500
    dovecot.append([msg(i) for i in range(n)])
    d = with_external(daemon_factory, dovecot.external_toml("p", "pop3", keep=False))
    import threading

    threading.Thread(target=lambda: d.ctl("external", "fetch", "meier"), daemon=True).start()
    wait_for(lambda: len(mail_list(d, "meier")) >= 50, timeout=60, what="a fetch under way")
    d.kill()
    assert dovecot.count() == n  # POP3 deletes only at QUIT: nothing removed yet
    d.start()
    r = fetch(d)
    assert r[0]["error"] == "", r
    wait_delivered(d, timeout=60)
    subjects = [m["subject"] for m in mail_list(d, "meier")]
    assert sorted(subjects) == sorted(f"extern {i}" for i in range(n))  # each exactly once
    assert dovecot.count() == 0


def test_scheduled_fetch(daemon_factory, dovecot):
    """Enabled mailboxes are fetched on their own (the first time right at start-up)."""
    dovecot.append([msg(1)])
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml='[fetch]\ninterval = "10s"\n')
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + dovecot.external_toml("p", "imap"))
    d.start()
    wait_for(lambda: mail_list(d, "meier"), timeout=20, what="the scheduled fetch")
    dovecot.append([msg(2)])
    wait_for(lambda: len(mail_list(d, "meier")) == 2, timeout=30, what="the next interval")
    status = json.loads(d.ctl("--json", "status").stdout)["services"]["fetch"]
    assert status["meier/p"]["result"] == "ok" and status["meier/p"]["total"] == 2


def test_uidvalidity_change_resyncs_by_message_id(daemon_factory, dovecot):
    dovecot.append([msg(1), msg(2)])
    d = with_external(daemon_factory, dovecot.external_toml("p", "imap"))
    assert fetch(d)[0]["fetched"] == 2
    dovecot.renumber()
    dovecot.append([msg(3)])
    r = fetch(d)
    assert r[0]["fetched"] == 1 and r[0]["error"] == "", r  # only the new one
    assert "UIDVALIDITY changed" in d.log()
    wait_delivered(d)
    assert len(mail_list(d, "meier")) == 3


def test_delete_after_days(daemon_factory, dovecot):
    import sqlite3

    dovecot.append([msg(1), msg(2)])
    d = with_external(daemon_factory, dovecot.external_toml("p", "pop3",
                                                            delete_after_days=3))
    assert fetch(d)[0]["fetched"] == 2
    assert fetch(d)[0]["deleted"] == 0 and dovecot.count() == 2  # not old enough yet
    with sqlite3.connect(d.data / "lanmail.db", timeout=30) as conn:  # four days later
        conn.execute("UPDATE fetch_seen SET fetched = fetched - 4 * 86400")
    r = fetch(d)
    assert r[0]["deleted"] == 2 and r[0]["fetched"] == 0
    assert dovecot.count() == 0
    wait_delivered(d)
    assert len(mail_list(d, "meier")) == 2


def test_time_window_holds_scheduled_fetches(daemon_factory, dovecot):
    import datetime as dt

    from lanmaild.fetch.settings import DAYS, parse_window

    w = parse_window("Mon-Fri 07:00-19:00")
    assert w.open(dt.datetime(2026, 12, 4, 12, 0)) and not w.open(dt.datetime(2026, 12, 5, 12))
    assert not w.open(dt.datetime(2026, 12, 4, 19, 30))
    tomorrow = DAYS[(dt.datetime.now().weekday() + 1) % 7].capitalize()
    dovecot.append([msg(1)])
    d = daemon_factory(accounts={"meier": {}}, start=False,
                       extra_toml=f'[fetch]\ninterval = "10s"\nwindow = "{tomorrow} 00:00-23:59"\n')
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + dovecot.external_toml("p", "imap"))
    d.start()
    time.sleep(7)  # more than a scheduler tick: outside the window nothing is fetched
    assert mail_list(d, "meier") == []
    assert fetch(d)[0]["fetched"] == 1  # by hand it always works
    bad = d.conf / "lanmaild.toml"
    bad.write_text(bad.read_text().replace(f"{tomorrow} 00:00-23:59", "Monday to Friday"))
    out = d.ctl("config", "check")
    assert out.returncode != 0 and "fetch.window" in out.stderr


def test_adding_a_password_to_a_world_readable_file_tightens_it(daemon_factory, dovecot):
    """The CLI writes the password and makes the file 0640 (a hand edit of a 0644 file
    with a password is refused: tests/outgoing/test_outgoing_rules.py)."""
    d = daemon_factory(accounts={"meier": {}})
    path = d.conf / "accounts" / "meier.toml"
    path.chmod(0o644)
    out = d.ctl("external", "add", "meier", "p", "--protocol", "pop3", "--host", "127.0.0.1",
                "--port", str(dovecot.ports["pop3"]), "--tls", "none", "--user", USER,
                "--disabled", "--password-stdin", input=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    assert path.stat().st_mode & 0o007 == 0


def test_progress_while_fetching(daemon_factory, dovecot):
    """external.list shows a fetch's progress while it runs; on a terminal lanmailctl
    draws a bar from it (run under script(1) for a pseudo-terminal)."""
    import shlex
    import subprocess
    import threading

    n = 300
    dovecot.append([msg(i) for i in range(n)])
    d = with_external(daemon_factory, dovecot.external_toml("p", "pop3"))
    seen = []

    def poll() -> None:
        for _ in range(400):
            for m in d.api("external.list", name="meier")["result"]:
                if "progress" in m["status"]:
                    seen.append(m["status"]["progress"])
            time.sleep(0.01)

    t = threading.Thread(target=poll)
    t.start()
    assert fetch(d)[0]["fetched"] == n
    t.join()
    assert seen and seen[-1]["todo"] == n and 0 <= seen[0]["fetched"] <= n
    dovecot.append([msg(1000 + i) for i in range(50)])
    cmd = [sys.executable, "-m", "lanmailctl.cli", "--config-dir", str(d.conf), "external",
           "fetch", "meier"]
    out = subprocess.run(["script", "-qec", shlex.join(cmd), "/dev/null"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "p: 50 fetched" in out.stdout


def test_message_over_the_size_limit_stays_on_the_server(daemon_factory, dovecot):
    big = msg(1, extra="X-Pad: " + "x" * 900 + "\r\n") + b"y" * 2_000_000 + b"\r\n"
    dovecot.append([big, msg(2)])
    d = with_external(daemon_factory, dovecot.external_toml("p", "imap", keep=False))
    r = fetch(d)
    assert r[0]["fetched"] == 1 and "larger than limits.message_size" in r[0]["error"]
    assert dovecot.count() == 1  # the big one is still there


def _hwm_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _peak_growth(d, action) -> int:
    d.restart()
    before = _hwm_kb(d.proc.pid)
    action()
    wait_delivered(d)
    return (_hwm_kb(d.proc.pid) - before) * 1024


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_big_message_is_streamed_not_held_twice(daemon_factory, dovecot, protocol):
    """A 32 MB message of ordinary lines costs a fetch less memory than receiving the
    same message over SMTP: the download goes line by line to a spool file and comes back
    as ONE bytes object (before: a list of 400,000 line objects, their join, and a copy with
    the Received: header on top of what the store needs)."""
    import smtplib

    size = 32 * 2**20
    line = b"x" * 76 + b"\r\n"
    big = msg(1, extra="X-Big: yes\r\n") + line * (size // len(line))
    dovecot.append([big])
    d = with_external(daemon_factory, dovecot.external_toml("p", protocol))
    d.limits_toml = f"message_size = {2 * size}"
    d.write_main()

    def by_smtp() -> None:
        with smtplib.SMTP("127.0.0.1", d.ports["smtp"]) as s:
            s.sendmail("a@remote.example", ["meier@lan.test"], big)

    def by_fetch() -> None:
        assert fetch(d)[0]["fetched"] == 1

    smtp_growth = _peak_growth(d, by_smtp)
    fetch_growth = _peak_growth(d, by_fetch)
    print(f"peak grew by {smtp_growth / len(big):.2f}x (SMTP), "
          f"{fetch_growth / len(big):.2f}x (fetch)")
    # measured: SMTP 4.3x, fetch 3.3x (the store's own copies); streaming-less: 4.3x
    assert fetch_growth < min(smtp_growth, 3.7 * len(big)), (smtp_growth, fetch_growth)
    sizes = sorted(m["size"] for m in mail_list(d, "meier"))
    assert len(sizes) == 2 and sizes[0] > len(big)
    stored = raw_messages(d, "meier")
    assert any(r.startswith(b"Received: from ") and r.endswith(line) for r in stored)
    assert not list((d.data / "spool").iterdir())  # no spool file left behind


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_long_lines_and_leading_dots_arrive_intact(daemon_factory, dovecot, protocol):
    """A 10,000-octet line (unwrapped HTML does that; poplib's own RETR refuses lines over
    2,048) and lines starting with a dot (POP3 byte-stuffs them, RFC 1939 section 3)."""
    body = b".leading dot\r\n..two dots\r\n.\r\n" + b"<p>" + b"z" * 10_000 + b"</p>\r\nend\r\n"
    dovecot.append([msg(1) + body])
    d = with_external(daemon_factory, dovecot.external_toml("p", protocol))
    r = fetch(d)
    assert r[0]["fetched"] == 1 and r[0]["error"] == "", r
    wait_delivered(d)
    assert raw_messages(d, "meier")[0].endswith(b"Nachricht 1\r\n" + body)


def test_idle_fetches_new_mail_at_once(daemon_factory, dovecot):
    """idle = true: a message that reaches the provider arrives within seconds although
    the interval is an hour (the first fetch at start-up takes what is there)."""
    dovecot.append([msg(1)])
    d = daemon_factory(accounts={"meier": {}}, start=False)
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + dovecot.external_toml("push", "imap", idle=True,
                                                             interval="1h"))
    d.start()
    wait_for(lambda: len(mail_list(d, "meier")) == 1, timeout=20, what="first fetch")

    def idling() -> bool:
        listed = json.loads(d.ctl("--json", "external", "list", "meier").stdout)
        return listed[0]["status"].get("idle") == "idling"

    wait_for(idling, timeout=20, what="IDLE")
    for i in (2, 3):
        dovecot.append([msg(i)])
        wait_for(lambda i=i: len(mail_list(d, "meier")) == i, timeout=20,
                 what=f"message {i} pushed")
    assert sorted(m["subject"] for m in mail_list(d, "meier")) == [
        "extern 1", "extern 2", "extern 3"]
    # the push goes with the mailbox: switched off, new mail waits for the interval
    assert d.ctl("external", "modify", "meier", "push", "--no-idle").returncode == 0
    wait_for(lambda: "idle" not in json.loads(d.ctl(
        "--json", "external", "list", "meier").stdout)[0]["status"], timeout=20,
        what="watcher gone")
    dovecot.append([msg(4)])
    time.sleep(3)
    assert len(mail_list(d, "meier")) == 3
    assert d.stop() == 0  # no IDLE thread keeps the daemon from exiting


def test_idle_is_for_imap_only(daemon_factory, dovecot):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    path = d.conf / "accounts" / "meier.toml"
    path.write_text(path.read_text() + dovecot.external_toml("p", "pop3", idle=True))
    out = d.ctl("config", "check")
    assert out.returncode != 0 and "meier.toml" in out.stderr and "idle" in out.stderr


def test_pop3_server_without_uidl_falls_back_to_message_id_and_size(daemon_factory):
    from lmtest import free_port
    from pop3_no_uidl import POP3NoUidl

    server = POP3NoUidl(free_port())
    try:
        server.messages = [msg(1), msg(2)]
        d = with_external(daemon_factory,
                          "[[external]]\nname = \"old\"\nprotocol = \"pop3\"\n"
                          f"host = \"127.0.0.1\"\nport = {server.port}\ntls = \"none\"\n"
                          "user = \"u\"\npassword = \"p\"\n")
        assert fetch(d)[0]["fetched"] == 2
        assert fetch(d)[0]["fetched"] == 0  # kept on the server, nothing twice
        server.messages.append(msg(3, extra="X-Size: differs\r\n"))
        assert fetch(d)[0]["fetched"] == 1
        server.messages.pop(0)  # the user deleted one elsewhere: the numbers shift
        assert fetch(d)[0]["fetched"] == 0  # still known by Message-ID + size
        wait_delivered(d)
        assert sorted(m["subject"] for m in mail_list(d, "meier")) == [
            "extern 1", "extern 2", "extern 3"]
        assert "no UIDL" in d.log()
    finally:
        server.stop()
