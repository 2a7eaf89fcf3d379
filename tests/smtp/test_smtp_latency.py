"""How a client splits its DATA writes must not cost a TCP delayed-ACK stall (issue 16).

A client with Nagle's algorithm on that writes the message and then the final ".<CRLF>"
separately waits for the ACK of the first write; a server in delayed-ACK mode sent it only
after ~40 ms. After 354 the server asks for immediate ACKs (``net.quickack``). The
threshold is generous; speed itself is measured by bench/.
"""

from __future__ import annotations

import statistics
import time

import pytest
from smtp_testlib import RawSMTP, module_daemon


@pytest.fixture(scope="module")
def d(tmp_path_factory, tls_files):
    daemon = module_daemon(tmp_path_factory, tls_files, {"meier": {}})
    yield daemon
    daemon.stop()


def test_data_in_two_writes_has_no_delayed_ack_stall(d) -> None:
    s = RawSMTP(d)  # a plain socket: Nagle on, as most clients
    s.cmd("EHLO client.test")
    times = []
    for i in range(20):
        assert s.cmd("MAIL FROM:<a@ext.test>").startswith("250")
        assert s.cmd("RCPT TO:<meier@lan.test>").startswith("250")
        assert s.cmd("DATA").startswith("354")
        started = time.perf_counter()
        s.sock.sendall(f"Subject: m{i}\r\n\r\n".encode() + b"line\r\n" * 200)
        reply = s.send_raw(b".\r\n")
        times.append(time.perf_counter() - started)
        assert reply.startswith("250 2.0.0"), reply
    s.close()
    assert statistics.median(times) < 0.010, [f"{t * 1000:.1f}" for t in times]
