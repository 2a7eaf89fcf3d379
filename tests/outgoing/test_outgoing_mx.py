"""Direct delivery to MX hosts (dnspython against a loopback dnsmasq): MX, the implicit MX
(A record fallback), a domain that does not exist, opportunistic STARTTLS, and one
transaction per recipient domain."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lmtest import free_port
from sinks import Dnsmasq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, mail_list, queue, raw_messages, send, wait_for  # noqa: E402


@pytest.fixture
def dns_server():
    made = []

    def make(*records: str) -> Dnsmasq:
        made.append(Dnsmasq(free_port(), *records))
        return made[-1]

    yield make
    for d in made:
        d.stop()


def test_mx_delivery_by_domain(daemon_factory, smarthost, dns_server):
    sink = smarthost(mx=True)
    dns = dns_server("--mx-host=a.example,mx1.a.example,10",
                     "--address=/mx1.a.example/127.0.0.1", "--host-record=b.example,127.0.0.1")
    d = daemon_factory(accounts={"meier": {}},
                       extra_toml=f'[outgoing]\ntransport = "mx"\nmx_port = {sink.port}\n'
                                  f'dns_servers = ["127.0.0.1:{dns.port}"]\nretry = ["1s"]\n')
    send(d, addr("meier"), ["one@a.example", "x@b.example", "two@a.example", "nobody@nx.example"],
         "direct", service="submission", login=("meier", "secret"))
    got = sink.handler.wait(2)
    # one transaction per domain, never mixed; b.example (no MX) through its A record
    assert sorted(sorted(t.recipients) for t in got) == \
        [["one@a.example", "two@a.example"], ["x@b.example"]]
    assert all(t.tls for t in got)  # STARTTLS was offered, so it was used
    # nx.example does not exist: bounced at once (5.1.2), not retried for days
    wait_for(lambda: mail_list(d, "meier"), what="the DSN")
    dsn = raw_messages(d, "meier")[0]
    assert b"nobody@nx.example" in dsn and b"5.1.2" in dsn
    wait_for(lambda: queue(d) == [], what="an empty queue")
