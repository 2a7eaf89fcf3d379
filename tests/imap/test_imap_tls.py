"""STARTTLS edge cases: a second STARTTLS inside TLS, and broken handshakes (plain text or
garbage where a TLS ClientHello belongs) on STARTTLS and on imaps."""

from __future__ import annotations

import socket
import time

from imaphelp import PASSWORD, RawClient, tls_client, tls_context


def test_starttls_inside_tls_is_bad_and_session_stays_usable(imapd, tls_files, user):
    c = RawClient(imapd.ports["imap"], "127.0.0.2")  # a remote host: LOGINDISABLED
    assert c.cmd("a1 STARTTLS")[-1].startswith(b"a1 OK")
    c.sock = tls_context(tls_files).wrap_socket(c.sock, server_hostname="localhost")
    lines = c.cmd("a2 STARTTLS")  # RFC 3501 6.2.1: only before TLS
    assert lines[-1].startswith(b"a2 BAD"), lines
    assert c.cmd("a3 NOOP")[-1].startswith(b"a3 OK")
    assert c.cmd(f"a4 LOGIN {user} {PASSWORD}")[-1].startswith(b"a4 OK")
    c.close()

    imaps = tls_client(imapd, tls_files)
    assert "STARTTLS" not in imaps.capabilities
    tag = imaps._new_tag()
    imaps.send(tag + b" STARTTLS\r\n")
    reply = imaps.readline()
    assert reply.startswith(tag + b" BAD"), reply
    assert imaps.login(user, PASSWORD)[0] == "OK"
    assert imaps.select("INBOX")[0] == "OK"
    imaps.logout()


def _new_lines(imapd, before: int, marker: str = "disconnect", count: int = 1) -> str:
    """The daemon log written since ``before``, once ``count`` sessions have ended."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = imapd.log()[before:]
        if log.count(marker) >= count:
            return log
        time.sleep(0.05)
    return imapd.log()[before:]


def test_broken_starttls_handshake_logs_one_info_line(imapd):
    before = len(imapd.log())
    c = RawClient(imapd.ports["imap"])
    assert c.cmd("A1 STARTTLS")[-1].startswith(b"A1 OK")
    c.send(b"A2 LOGIN plain text where a ClientHello belongs\r\n" * 4)
    assert c.closed()
    log = _new_lines(imapd, before)
    assert "Traceback" not in log and " ERROR " not in log and " WARNING " not in log, log
    failed = [line for line in log.splitlines() if "handshake failed" in line]
    assert len(failed) == 1 and " INFO " in failed[0], log
    assert "WRONG_VERSION_NUMBER" in failed[0] or "RECORD" in failed[0], failed


def test_garbage_on_imaps_logs_at_most_one_info_line(imapd):
    before = len(imapd.log())
    for junk in (b"A1 LOGIN user pass\r\n", b"\x16\x03\x01\x00\x05garbage and more\r\n"):
        with socket.create_connection(("127.0.0.1", imapd.ports["imaps"]), timeout=5) as s:
            s.sendall(junk)
            try:
                while s.recv(4096):
                    pass
            except ConnectionError:
                pass
    RawClient(imapd.ports["imap"]).close()  # something after them in the log
    time.sleep(0.2)
    log = imapd.log()[before:]
    assert "Traceback" not in log and " ERROR " not in log and " WARNING " not in log, log
    assert len([line for line in log.splitlines() if "imaps" in line]) <= 2, log
