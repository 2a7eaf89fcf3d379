"""Connection limits (hardening item 4): a cap per service for all clients together, the
per-client budget counting an IPv6 /64 as one client, and both visible in status."""

from __future__ import annotations

import json
import socket

from loopprobe import connect_from

from lanmaild.net import ConnectionLimiter


def _greeting(sock: socket.socket) -> bytes:
    return sock.makefile("rb").readline()


def test_cap_per_service_refuses_a_crowd_of_addresses(daemon_factory) -> None:
    d = daemon_factory(accounts={"meier": {}}, limits_toml="connections_per_service = 3")
    held = []
    try:
        for i in range(3):  # three different client addresses: no per-IP limit applies
            s = connect_from(d.ports["imap"], f"127.0.1.{i + 1}")
            assert _greeting(s).startswith(b"* OK")
            held.append(s)
        extra = connect_from(d.ports["imap"], "127.0.1.9")
        assert _greeting(extra) == \
            b"* BYE [UNAVAILABLE] Too many connections to this service, try again later\r\n"
        extra.close()
        # the cap is per service: SMTP still has room, and says so with 421 when full
        smtp = [connect_from(d.ports["smtp"], f"127.0.2.{i + 1}") for i in range(3)]
        held += smtp
        assert all(_greeting(s).startswith(b"220") for s in smtp)
        over = connect_from(d.ports["smtp"], "127.0.2.9")
        assert _greeting(over).startswith(b"421 4.7.0 Too many connections to this service")
        over.close()
        status = d.api("status")["result"]["connections"]
        assert status["per_service"]["imap"] == 3 and status["per_service"]["smtp"] == 3
        assert status["limit_per_service"] == 3
        clients = {c["client"]: c["connections"] for c in status["top_clients"]}
        assert clients["127.0.1.1"] == 1
        shown = d.ctl("status")
        assert shown.returncode == 0 and "imap" in shown.stdout and "(3 open)" in shown.stdout
        assert "127.0.1.1" in shown.stdout
    finally:
        for s in held:
            s.close()


def test_status_json_lists_connections(daemon) -> None:
    with connect_from(daemon.ports["pop3"], "127.0.3.3") as s:
        assert _greeting(s).startswith(b"+OK")
        out = json.loads(daemon.ctl("--json", "status").stdout)
    assert out["connections"]["per_service"].get("pop3") == 1
    assert {"client": "127.0.3.3", "connections": 1} in out["connections"]["top_clients"]


class _Limits:
    connections_per_ip = 2
    connections_per_service = 100


def test_ipv6_clients_count_per_slash_64() -> None:
    limiter = ConnectionLimiter(lambda: _Limits)
    assert limiter.acquire("2001:db8:1:2::1", "imap") is None
    assert limiter.acquire("2001:db8:1:2:ffff::7", "smtp") is None
    assert limiter.acquire("2001:db8:1:2:aaaa::1", "imap") == \
        "Too many connections from your address"
    assert limiter.acquire("2001:db8:1:3::1", "imap") is None  # another /64
    assert limiter.client_key("::ffff:192.0.2.7") == "192.0.2.7"
    limiter.release("2001:db8:1:2::1", "imap")
    assert limiter.acquire("2001:db8:1:2:aaaa::1", "imap") is None
