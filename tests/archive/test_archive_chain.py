"""The archive chain covers every stored column, and an anchor kept outside the server
shows that the newest entries were removed (hardening issue, item 14)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, send, wait_delivered  # noqa: E402


@pytest.fixture
def archived(daemon_factory):
    d = daemon_factory(accounts={"meier": {"archive": True}})
    for i in range(3):
        send(d, "kunde@other.example", [addr("meier")], f"Rechnung {i}")
    wait_delivered(d)
    return d


def _verify(d, *argv: str) -> tuple[int, dict]:
    out = d.ctl("--json", "archive", "verify", *argv)
    return out.returncode, json.loads(out.stdout)


def _tamper(d, sql: str, *params) -> None:
    d.stop()
    with sqlite3.connect(d.data / "lanmail.db") as conn:
        conn.execute(sql, params)
    d.start()


@pytest.mark.parametrize("column,value", [("subject", "Gutschrift"), ("from_", "x@evil"),
                                          ("to_", "y@evil"), ("message_id", "<forged@x>"),
                                          ("sent_date", 0), ("size", 1)])
def test_every_column_is_chained(archived, column, value) -> None:
    assert _verify(archived)[0] == 0
    _tamper(archived, f"UPDATE archive_entry SET {column} = ? WHERE id = 2", value)
    code, result = _verify(archived)
    assert code == 1 and result["first_broken"] == 2, result


def test_anchor_detects_removed_newest_entries(archived) -> None:
    out = archived.ctl("archive", "anchor")
    assert out.returncode == 0
    anchor = out.stdout.split()[0]
    assert anchor.startswith("3:") and "(3 entries)" in out.stdout
    assert json.loads(archived.ctl("--json", "archive", "anchor").stdout)["anchor"] == anchor
    assert _verify(archived, "--anchor", anchor)[0] == 0
    send(archived, "kunde@other.example", [addr("meier")], "later")
    wait_delivered(archived)
    assert _verify(archived, "--anchor", anchor)[0] == 0  # growth after the anchor is fine
    _tamper(archived, "DELETE FROM archive_entry WHERE id >= 3")
    assert _verify(archived)[0] == 0  # without the anchor nothing shows
    code, result = _verify(archived, "--anchor", anchor)
    assert code == 1 and "entry 3 of the anchor is gone" in result["reason"], result
    human = archived.ctl("archive", "verify", "--anchor", anchor)
    assert human.returncode == 1 and "BROKEN" in human.stdout


def test_bad_anchor_is_a_one_line_error(archived) -> None:
    out = archived.ctl("archive", "verify", "--anchor", "nonsense")
    assert out.returncode != 0 and "ID:HASH" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
