"""lanmailctl mail import/export with files made by the stdlib's own Maildir and mbox
writers (and .eml files laid out like hMailServer's data folder): folders, flags and dates
kept, nothing doubled on a second run, and export -> import round trips."""

from __future__ import annotations

import json
import mailbox
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))
from smtp_testlib import mail_list, raw_messages  # noqa: E402

DATE = 1_700_000_000  # 2023-11-14


def _msg(subject: str, body: str = "Hallo.\n") -> bytes:
    return (f"From: a@remote.example\nTo: meier@lan.test\nSubject: {subject}\n"
            f"Message-ID: <{subject.replace(' ', '-')}@remote.example>\n\n{body}").encode()


@pytest.fixture
def files():
    root = Path(tempfile.mkdtemp(prefix="lm-transfer-"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _listing(d, account: str, folder: str = "INBOX") -> list[tuple]:
    return sorted((m["subject"], tuple(sorted(m["flags"])), m["internaldate"])
                  for m in mail_list(d, account, folder))


def test_maildir_import_with_folders_flags_dates(daemon_factory, files):
    md = mailbox.Maildir(files / "Maildir", create=True)
    for i in range(450):  # three batches of 200
        m = mailbox.MaildirMessage(_msg(f"bulk {i}"))
        m.set_subdir("cur")
        m.set_flags("S" if i % 2 else "")
        md.add(m)
    m = mailbox.MaildirMessage(_msg("wichtig"))
    m.set_subdir("cur")
    m.set_flags("FRS")
    key = md.add(m)
    os.utime(os.path.join(md._path, md._lookup(key)), (DATE, DATE))
    md.add(mailbox.MaildirMessage(_msg("ganz neu")))  # in new/: unread
    archiv = md.add_folder("Archiv")
    archiv.add(mailbox.MaildirMessage(_msg("alt")))
    d = daemon_factory(accounts={"meier": {}})
    out = d.ctl("--json", "mail", "import", "meier", "--maildir", str(files / "Maildir"))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert (r["imported"], r["skipped"], r["total"]) == (453, 0, 453)
    inbox = {m["subject"]: m for m in mail_list(d, "meier")}
    assert len(inbox) == 452
    assert sorted(inbox["wichtig"]["flags"]) == ["\\Answered", "\\Flagged", "\\Seen"]
    assert inbox["wichtig"]["internaldate"] == DATE
    assert inbox["ganz neu"]["flags"] == [] and inbox["bulk 1"]["flags"] == ["\\Seen"]
    assert [m["subject"] for m in mail_list(d, "meier", "INBOX.Archiv")] == ["alt"]
    out = d.ctl("--json", "mail", "import", "meier", "--maildir", str(files / "Maildir"))
    assert json.loads(out.stdout)["imported"] == 0  # again: nothing doubled


def test_mbox_and_eml_import(daemon_factory, files):
    box = mailbox.mbox(files / "Posteingang.mbox", create=True)
    m = mailbox.mboxMessage(_msg("gelesen und wichtig", "From here on: text\n"))
    m.set_flags("RF")
    m.set_from("a@remote.example", (2023, 11, 14, 22, 13, 20, 1, 318, 0))
    box.add(m)
    box.add(mailbox.mboxMessage(_msg("ungelesen")))
    box.close()
    hm = files / "Data" / "lan.test" / "meier" / "3A"  # hMailServer's layout
    hm.mkdir(parents=True)
    (hm / "{2C5B1F0E-1111-4E3C-9D33-0123456789AB}.eml").write_bytes(_msg("aus hMailServer"))
    d = daemon_factory(accounts={"meier": {}})
    out = d.ctl("--json", "mail", "import", "meier", "--mbox",
                str(files / "Posteingang.mbox"), "--folder", "INBOX.Alt")
    assert out.returncode == 0, out.stderr
    listed = {m["subject"]: m for m in mail_list(d, "meier", "INBOX.Alt")}
    assert sorted(listed["gelesen und wichtig"]["flags"]) == ["\\Flagged", "\\Seen"]
    assert listed["gelesen und wichtig"]["internaldate"] == DATE
    raw = next(r for r in raw_messages(d, "meier", "INBOX.Alt") if b"wichtig" in r)
    assert b"\r\nFrom here on: text\r\n" in raw and b"Status:" not in raw
    out = d.ctl("mail", "import", "meier", "--eml", str(files / "Data" / "lan.test" / "meier"))
    assert out.returncode == 0 and "1 imported" in out.stdout
    assert [m["subject"] for m in mail_list(d, "meier")] == ["aus hMailServer"]
    out = d.ctl("mail", "import", "meier", "--eml", str(files / "nowhere"))
    assert out.returncode != 0 and out.stderr.count("\n") == 1


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_export_import_round_trip(daemon_factory, files, kind):
    md = mailbox.Maildir(files / "src", create=True)
    for i, flags in enumerate(["", "S", "FS", "RS", "DS"]):
        m = mailbox.MaildirMessage(_msg(f"m{i}", f"From the start {i}\n"))
        m.set_subdir("cur")
        m.set_flags(flags)
        key = md.add(m)
        os.utime(os.path.join(md._path, md._lookup(key)), (DATE + i, DATE + i))
    md.add_folder("Projekte").add(mailbox.MaildirMessage(_msg("p")))
    d = daemon_factory(accounts={"meier": {}, "schulze": {}})
    assert d.ctl("mail", "import", "meier", "--maildir", str(files / "src")).returncode == 0
    out = d.ctl("--json", "mail", "export", "meier", f"--{kind}", str(files / "out"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["written"] == 6
    args = (["--maildir", str(files / "out")] if kind == "maildir"
            else ["--mbox", str(files / "out")])
    out = d.ctl("mail", "import", "schulze", *args)
    assert out.returncode == 0, out.stderr
    for folder in ("INBOX", "INBOX.Projekte"):
        assert _listing(d, "schulze", folder) == _listing(d, "meier", folder), folder
    assert raw_messages(d, "schulze") == raw_messages(d, "meier")  # byte for byte
