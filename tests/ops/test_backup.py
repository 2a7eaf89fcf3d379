"""Backup and restore through the real CLI: an online backup under SMTP load, a full
restore after the disk is gone, one folder back into a running server (nothing doubled,
flags kept), and what must be refused."""

from __future__ import annotations

import imaplib
import json
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))
from smtp_testlib import mail_list, raw_messages, send, wait_delivered  # noqa: E402


def _load(d, n: int, acked: list, stop: threading.Event) -> None:
    for i in range(n):
        if stop.is_set():
            return
        send(d, "a@remote.example", ["meier@lan.test"], f"load {i}")
        acked.append(time.monotonic())


def test_online_backup_under_load_then_full_restore(daemon_factory, tmp_path):
    d = daemon_factory(accounts={"meier": {}})
    acked: list[float] = []
    stop = threading.Event()
    t = threading.Thread(target=_load, args=(d, 300, acked, stop))
    t.start()
    while len(acked) < 50:
        time.sleep(0.05)
    before = len(acked)
    out = d.ctl("--json", "backup", str(tmp_path / "bk"))
    after = len(acked)
    stop.set()
    t.join()
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["schema"] >= 8 and (tmp_path / "bk" / "lanmail.db").stat().st_mode & 0o077 == 0
    wait_delivered(d)
    originals = {r.split(b"Subject: ")[1].split(b"\r\n")[0]: r
                 for r in raw_messages(d, "meier")}
    # the disk is gone: conf.d and data
    d.stop()
    shutil.rmtree(d.data)
    for p in d.conf.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out = d.ctl("restore", str(tmp_path / "bk"))
    assert out.returncode == 0, out.stderr
    assert "start lanmaild" in out.stdout
    d.start()
    wait_delivered(d)
    restored = raw_messages(d, "meier")
    # everything acknowledged before the backup began is there, nothing from after it ended
    # (a mail still in the queue at the backup moment is delivered after the restart)
    assert before <= len(restored) <= after + 1, (before, len(restored), after)
    for raw in restored:  # byte for byte
        assert originals[raw.split(b"Subject: ")[1].split(b"\r\n")[0]] == raw
    db = sqlite3.connect(d.data / "lanmail.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


def test_one_folder_back_into_the_running_server(daemon_factory, tmp_path):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}})
    for i in range(5):
        send(d, "a@remote.example", ["meier@lan.test"], f"keep {i}")
    send(d, "a@remote.example", ["schulze@lan.test"], "not meier's")
    wait_delivered(d)
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login("meier", "secret")
    m.select("INBOX")
    m.store("1", "+FLAGS", r"(\Flagged)")
    assert d.ctl("backup", str(tmp_path / "bk")).returncode == 0
    m.store("1:3", "+FLAGS", r"(\Deleted)")
    m.expunge()
    m.logout()
    assert len(mail_list(d, "meier")) == 2
    out = d.ctl("restore", str(tmp_path / "bk"), "--account", "meier", "--since",
                "2099-01-01")  # only mail received since then: none
    assert out.returncode == 0 and "0 message(s) restored" in out.stdout
    out = d.ctl("--json", "restore", str(tmp_path / "bk"), "--account", "meier",
                "--folder", "INBOX")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert (r["restored"], r["skipped"], r["folders"]) == (3, 2, ["INBOX"])
    listed = mail_list(d, "meier")
    assert sorted(x["subject"] for x in listed) == [f"keep {i}" for i in range(5)]
    flagged = [x["subject"] for x in listed if "\\Flagged" in x.get("flags", [])]
    assert flagged == ["keep 0"], listed
    out = d.ctl("restore", str(tmp_path / "bk"), "--account", "meier")
    assert "0 message(s) restored" in out.stdout and "5 already there" in out.stdout
    assert len(mail_list(d, "schulze")) == 1  # nobody else's mail


def test_refusals(daemon_factory, tmp_path):
    d = daemon_factory(accounts={"meier": {}})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    out = d.ctl("backup", str(tmp_path / "full"))
    assert out.returncode != 0 and "not empty" in out.stderr
    assert d.ctl("backup", str(tmp_path / "bk")).returncode == 0
    assert d.proc.poll() is None, d.log()
    out = d.ctl("restore", str(tmp_path / "bk"))
    assert out.returncode == 1 and "stop it first" in out.stderr
    with open(tmp_path / "bk" / "lanmail.db", "r+b") as fh:  # a bit rots
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 1]))
    d.stop()
    out = d.ctl("restore", str(tmp_path / "bk"))
    assert out.returncode == 1 and "changed since the backup" in out.stderr
    assert (d.data / "lanmail.db").exists()  # nothing touched
