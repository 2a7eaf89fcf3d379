"""[mdns] enabled: a real mDNS browser (python-zeroconf's) finds the IMAP and submission
services with their ports; nothing is announced when it is off, and the announcement goes
away when lanmaild stops."""

from __future__ import annotations

import time

from zeroconf import ServiceBrowser, Zeroconf


def _browse(types: list[str], seconds: float = 15) -> dict[str, int]:
    zc = Zeroconf(interfaces=["127.0.0.1"])
    found: dict[str, int] = {}

    class Listener:
        def add_service(self, z, type_, name):
            info = z.get_service_info(type_, name, 3000)
            if info is not None and "LANMail on mail.lan.test" in name:
                found[type_] = info.port

        def remove_service(self, z, type_, name):
            found.pop(type_, None)

        def update_service(self, z, type_, name):
            pass

    browsers = [ServiceBrowser(zc, t, Listener()) for t in types]
    deadline = time.monotonic() + seconds
    while len(found) < len(types) and time.monotonic() < deadline:
        time.sleep(0.1)
    for b in browsers:
        b.cancel()
    zc.close()
    return found


def test_services_are_announced(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    main = d.conf / "lanmaild.toml"
    main.write_text(main.read_text() + '\n[mdns]\nenabled = true\ninterfaces = ["127.0.0.1"]\n')
    d.start()
    types = ["_imap._tcp.local.", "_submission._tcp.local.", "_imaps._tcp.local."]
    found = _browse(types)
    assert found == {"_imap._tcp.local.": d.ports["imap"],
                     "_submission._tcp.local.": d.ports["submission"],
                     "_imaps._tcp.local.": d.ports["imaps"]}, found
    assert '"announced"' in d.ctl("--json", "status").stdout
    d.stop()
    assert _browse(["_imap._tcp.local."], seconds=2) == {}
