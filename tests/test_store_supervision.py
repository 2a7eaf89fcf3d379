"""The store writer is supervised (hardening item 7): its death is fatal and loud.

Before, an exception escaping the writer thread left every ``await db.write`` waiting
for ever: SMTP sessions hung after DATA and the daemon looked alive. Now the daemon logs
one CRITICAL line, answers the writes that were waiting with an error (SMTP 451, so the
sender retries: nothing is lost) and exits with status 70 so the service manager
restarts it. The death is provoked with the test-only environment variable
LANMAIL_TEST_WRITER_DIES_AFTER (the writer raises on its Nth batch).
"""

from __future__ import annotations

import asyncio
import smtplib
import subprocess

import pytest
from lanmail_helpers import message

from lanmaild.store import StoreError
from lanmaild.store.db import Database
from lanmaild.store.schema import migrate


def test_daemon_exits_nonzero_when_the_writer_dies(daemon_factory, monkeypatch) -> None:
    # batch 1 is the start-up account sync; the first message is batch 2
    monkeypatch.setenv("LANMAIL_TEST_WRITER_DIES_AFTER", "2")
    d = daemon_factory(accounts={"meier": {}})
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20) as c, \
            pytest.raises(smtplib.SMTPDataError) as err:
        c.sendmail("a@example.com", [d.address("meier")], message("lost?"))
    assert err.value.smtp_code == 451
    try:
        code = d.proc.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail("lanmaild kept running with a dead store writer")
    assert code == 70
    log = d.log()
    critical = [line for line in log.splitlines() if " CRITICAL " in line]
    assert len(critical) == 1 and "store writer thread died" in critical[0], log
    assert "exiting so that the service manager restarts lanmaild" in log


def test_writes_after_close_fail_instead_of_hanging(tmp_path) -> None:
    async def go() -> None:
        db = Database(tmp_path / "t.db", readers=1, migrate=migrate)
        db.close()
        with pytest.raises(StoreError, match="closed"):
            await asyncio.wait_for(db.write(lambda tx: 1), 5)

    asyncio.run(go())
