"""No client can forge a log line (hardening item 9): every record is one line.

A forged ``auth failed: ... ip=10.9.9.9`` line would make fail2ban ban any address the
attacker names. The client sends line breaks and terminal escapes where we log its text
(IMAP ID before login, IMAP LOGIN user names, SMTP HELO/MAIL) and every line of the log
must still start like a record of ours (the timestamp) or be an indented traceback line.
"""

from __future__ import annotations

import re
import smtplib
import socket
import time

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ |^  \| ")
FORGED = "auth failed: service=imap ip=10.9.9.9 user=root"


def _imap(port: int, *commands: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        for cmd in commands:
            s.sendall(cmd)
            while True:
                line = f.readline()
                if not line or line.startswith(cmd.split(b" ", 1)[0] + b" ") or \
                        line.startswith(b"+"):
                    break


def _log_lines(daemon) -> list[str]:
    return daemon.log().splitlines()


def test_imap_id_literal_cannot_forge_a_line(daemon) -> None:
    evil = f"x\n2026-01-01 00:00:00,000 WARNING lanmaild.auth: {FORGED}\r\n\x1b[2J".encode()
    port = daemon.ports["imap"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b'A1 ID ("name" {%d}\r\n' % len(evil))
        assert f.readline().startswith(b"+")
        s.sendall(evil + b")\r\n")
        while not (line := f.readline()).startswith(b"A1 "):
            assert line
        assert line.startswith(b"A1 OK")
    time.sleep(0.2)
    lines = _log_lines(daemon)
    assert any("client id" in line for line in lines)
    bad = [line for line in lines if not RECORD.match(line)]
    assert not bad, bad
    assert not any(line.split(": ", 1)[-1].startswith(FORGED) for line in lines)
    assert "\x1b" not in daemon.log()


def test_login_name_and_smtp_arguments_stay_on_one_line(daemon) -> None:
    _imap(daemon.ports["imap"], b'A1 LOGIN "bad\\\\user\x1b[31m" "pw"\r\n')
    with smtplib.SMTP("127.0.0.1", daemon.ports["smtp"], timeout=10) as c:
        c.ehlo("host\x1bname")
        c.docmd("MAIL FROM:<a\x1b@example.com>")
    time.sleep(0.2)
    bad = [line for line in _log_lines(daemon) if not RECORD.match(line)]
    assert not bad, bad
    assert "\x1b" not in daemon.log()
