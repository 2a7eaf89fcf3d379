"""The mail archive: search, show, export, verify, and verify after tampering."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, send, wait_delivered  # noqa: E402

ATTACHED = (
    b"From: Kunde <kunde@other.example>\r\nTo: meier@lan.test\r\nCc: boss@other.example\r\n"
    b"Subject: =?utf-8?q?Rechnung_M=C3=A4rz?=\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Siehe Anhang, Zahlungsziel 30 Tage.\r\n"
    b'--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; '
    b'filename="rechnung-4711.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n'
    b"--b1--\r\n")


def search(d, *argv: str) -> list[dict]:
    out = d.ctl("--json", "archive", "search", *argv)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_archive_search_show_export_verify_tamper(daemon_factory, tmp_path):
    d = daemon_factory(accounts={"meier": {"archive": True}, "schulze": {}})
    send(d, "kunde@other.example", [addr("meier")], "", raw=ATTACHED)
    send(d, addr("meier"), ["lieferant@other.example"], "Bestellung 42",
         body="Bitte liefern Sie 10 Paletten.\r\n", service="submission",
         login=("meier", "secret"))
    send(d, "x@other.example", [addr("schulze")], "not archived")
    wait_delivered(d)

    everything = search(d)
    assert [(e["account"], e["direction"], e["subject"]) for e in everything] == \
        [("meier", "in", "Rechnung März"), ("meier", "out", "Bestellung 42")]
    assert [e["id"] for e in search(d, "Zahlungsziel")] == [everything[0]["id"]]
    assert [e["id"] for e in search(d, "rechnung-4711")] == [everything[0]["id"]]  # attachment
    assert [e["id"] for e in search(d, "Paletten")] == [everything[1]["id"]]
    assert [e["id"] for e in search(d, "--from", "kunde@")] == [everything[0]["id"]]
    assert [e["id"] for e in search(d, "--to", "lieferant")] == [everything[1]["id"]]
    assert [e["id"] for e in search(d, "--to", "boss@other")] == [everything[0]["id"]]
    assert len(search(d, "--account", "meier", "--since", "2000-01-01")) == 2
    assert search(d, "--until", "2000-01-01") == []
    assert search(d, "--account", "schulze") == []
    assert search(d, '"unbalanced') == []  # not FTS5 syntax: searched as plain words
    assert [e["id"] for e in search(d, "Paletten OR Zahlungsziel")] == \
        [e["id"] for e in everything]  # FTS5 syntax works

    shown = d.ctl("archive", "show", str(everything[0]["id"]))
    assert shown.returncode == 0 and "Rechnung" in shown.stdout

    # deleting the mail in the mailbox does not touch the archive
    with sqlite3.connect(d.data / "lanmail.db", timeout=30) as conn:
        assert conn.execute("SELECT count(*) FROM message").fetchone()[0] >= 2
    out = d.ctl("archive", "export", "--account", "meier", "--to", str(tmp_path / "exp"))
    assert out.returncode == 0, out.stderr
    files = sorted(p.name for p in (tmp_path / "exp").iterdir())
    assert files == [f"{e['id']}.eml" for e in everything]
    exported = (tmp_path / "exp" / files[0]).read_bytes()
    assert exported.endswith(ATTACHED) and exported.startswith(b"Received: ")
    one = d.ctl("archive", "export", str(everything[1]["id"]), "--to", str(tmp_path / "one"))
    assert one.returncode == 0 and (tmp_path / "one" / files[1]).exists()

    ok = d.ctl("archive", "verify")
    assert ok.returncode == 0 and "2 entries" in ok.stdout

    # tamper: change one byte of the first entry's message
    d.stop()
    with sqlite3.connect(d.data / "lanmail.db") as conn:
        conn.execute("UPDATE archive_entry SET raw = replace(raw, CAST('30 Tage' AS BLOB),"
                     " CAST('90 Tage' AS BLOB)) WHERE id = ?", (everything[0]["id"],))
    d.start()
    broken = d.ctl("archive", "verify")
    assert broken.returncode == 1
    assert f"entry {everything[0]['id']}" in broken.stdout

    # tamper consistently (new SHA-256 for the new bytes): the chain still catches it
    d.stop()
    import hashlib
    with sqlite3.connect(d.data / "lanmail.db") as conn:
        raw = conn.execute("SELECT raw FROM archive_entry WHERE id = ?",
                           (everything[0]["id"],)).fetchone()[0]
        raw = raw.encode() if isinstance(raw, str) else raw
        conn.execute("UPDATE archive_entry SET raw = ?, sha256 = ? WHERE id = ?",
                     (raw, hashlib.sha256(raw).digest(), everything[0]["id"]))
    d.start()
    result = json.loads(d.ctl("--json", "archive", "verify").stdout)
    assert result["ok"] is False and result["first_broken"] == everything[0]["id"]
    assert "chain" in result["reason"]


def test_archive_survives_mailbox_delete_and_deleted_entry_is_found(daemon_factory):
    d = daemon_factory(accounts={"meier": {"archive": True}})
    for i in range(3):
        send(d, "a@other.example", [addr("meier")], f"mail {i}")
    wait_delivered(d)
    d.stop()
    with sqlite3.connect(d.data / "lanmail.db") as conn:
        conn.execute("DELETE FROM message")  # the user empties the mailbox
        conn.execute("DELETE FROM archive_entry WHERE id = 2")  # someone removes evidence
    d.start()
    assert len(search(d)) == 2
    result = json.loads(d.ctl("--json", "archive", "verify").stdout)
    assert result["ok"] is False and result["first_broken"] == 3
    assert "entry 2 is missing" in result["reason"]
