"""lanmailctl doctor against a daemon with a dead smarthost and a dead external mailbox,
DNS served by a loopback dnsmasq (one domain with MX/SPF/DKIM/DMARC published, one with
nothing): one line per check, the right verdicts, exit status 1."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "outgoing"))
from lmtest import free_port  # noqa: E402
from sinks import Dnsmasq  # noqa: E402


def test_doctor(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    dead = free_port()
    d.write_main(f'\n[outgoing]\ntransport = "smtp"\ndns_servers = ["127.0.0.1:{{dns}}"]\n'
                 f'[outgoing.smtp]\nhost = "127.0.0.1"\nport = {dead}\ntls = "none"\n')
    acct = d.conf / "accounts" / "meier.toml"
    acct.write_text(acct.read_text() + f'[[external]]\nname = "provider"\nprotocol = "imap"\n'
                    f'host = "127.0.0.1"\nport = {dead}\ntls = "none"\nuser = "x"\n'
                    'password = "y"\nenabled = true\ninterval = "1h"\n')
    d.start()
    assert d.ctl("dkim", "generate", "lan.test").returncode == 0
    key = json.loads(d.ctl("--json", "dkim", "show", "lan.test").stdout)[0]
    txt = key["dns_record"]  # a TXT string holds 255 octets: split like a DNS admin would
    chunks = ",".join(txt[i:i + 250] for i in range(0, len(txt), 250))  # no quotes: argv
    dns = Dnsmasq(free_port(), "--local=/test/", "--mx-host=lan.test,mail.lan.test,10",
                  "--txt-record=lan.test,v=spf1 mx -all",
                  f"--txt-record={key['dns_name']},{chunks}",
                  "--txt-record=_dmarc.lan.test,v=DMARC1; p=none")
    try:
        main = d.conf / "lanmaild.toml"
        main.write_text(main.read_text().replace("{dns}", str(dns.port)))
        assert d.ctl("reload").returncode == 0
        t0 = time.monotonic()
        out = d.ctl("--json", "doctor")
        assert time.monotonic() - t0 < 30
        assert out.returncode == 1, out.stderr  # something failed
        checks = json.loads(out.stdout)
        by = {}
        for c in checks:
            by.setdefault(c["name"], []).append(c)
        assert all(c["status"] == "ok" for c in by["port"]) and len(by["port"]) >= 5
        assert by["certificate"][0]["status"] == "ok"
        lan = [c for c in by["dns"] if "lan.test" in c["message"]
               and "second.test" not in c["message"]]
        assert [c["status"] for c in lan] == ["ok"] * 4, lan
        second = [c for c in by["dns"] if "second.test" in c["message"]]
        assert second and all(c["status"] == "warn" for c in second)
        smarthost = by["smarthost"][0]
        assert smarthost["status"] == "fail" and "Connect call failed" in smarthost["message"]
        assert by["external"][0]["status"] == "fail" and by["external"][0]["fix"]
        assert by["store"][0]["status"] == "ok" and by["disk"][0]["status"] == "ok"
        human = d.ctl("doctor")
        assert human.returncode == 1 and "FAIL  smarthost" in human.stdout
        assert "OK    store        integrity_check: ok" in human.stdout
    finally:
        dns.stop()
