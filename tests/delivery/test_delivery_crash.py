"""kill -9 during a load of 500 messages over 8 connections: every message that got 250
is in its mailbox exactly once after the restart (and nothing that was not acknowledged
is delivered twice)."""

from __future__ import annotations

import smtplib
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, mail_list, message, wait_delivered  # noqa: E402

CONNECTIONS = 8
TOTAL = 500
BODY = ("x" * 76 + "\r\n") * 130  # about 10 KB


def test_kill_9_loses_nothing_and_duplicates_nothing(daemon_factory):
    d = daemon_factory(accounts={"meier": {}, "schulze": {}})
    acked: list[str] = []
    lock = threading.Lock()
    kill_at = TOTAL // 2

    def client(n: int) -> None:
        try:
            s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
            s.ehlo("load.test")
            for i in range(TOTAL // CONNECTIONS + (1 if n < TOTAL % CONNECTIONS else 0)):
                subject = f"crash-{n}-{i}"
                rcpt = addr("meier" if i % 2 else "schulze")
                s.sendmail("load@other.example", [rcpt], message(subject, BODY))
                with lock:
                    acked.append(subject)
        except (smtplib.SMTPException, OSError):
            return  # the daemon died under us: expected

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CONNECTIONS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < kill_at and time.monotonic() < deadline and \
            any(t.is_alive() for t in threads):
        time.sleep(0.005)
    d.kill()
    for t in threads:
        t.join(30)
    assert len(acked) >= kill_at, f"only {len(acked)} messages acknowledged before the kill"
    assert len(acked) < TOTAL, "the load finished before the kill: no crash was tested"

    d.start()
    wait_delivered(d, timeout=60)
    delivered = Counter(m["subject"] for name in ("meier", "schulze")
                        for m in mail_list(d, name))
    missing = [s for s in acked if delivered[s] != 1]
    assert not missing, f"{len(missing)} acknowledged messages not delivered exactly once: " \
                        f"{missing[:5]}"
    doubles = [s for s, n in delivered.items() if n > 1]
    assert not doubles, f"delivered twice: {doubles[:5]}"
    # and the daemon works normally afterwards
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
    s.sendmail("a@other.example", [addr("meier")], message("after the crash"))
    s.quit()
    wait_delivered(d)
    assert mail_list(d, "meier")[-1]["subject"] == "after the crash"
