"""Operations on the HTTP listener: Prometheus metrics, and the autoconfiguration that
Thunderbird, Outlook and Apple Mail ask for."""

from __future__ import annotations

import plistlib
import sys
from pathlib import Path

import pytest
import requests
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))
from smtp_testlib import send, wait_delivered  # noqa: E402


@pytest.fixture
def ca(tls_files) -> str:
    return str(tls_files["ca"])


def _metrics(d, ca) -> dict[str, float]:
    r = requests.get(f"{d.base}/metrics", verify=ca)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_count_what_happens(oauth_daemon, ca):
    import imaplib

    d = oauth_daemon
    before = _metrics(d, ca)
    for i in range(3):
        send(d, "a@remote.example", ["meier@lan.test"], f"m{i}")
    wait_delivered(d)
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login("meier", "secret")
    m.logout()
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    with pytest.raises(imaplib.IMAP4.error):
        m.login("meier", "wrong")
    after = _metrics(d, ca)
    assert after["lanmail_messages_delivered_total"] - \
        before["lanmail_messages_delivered_total"] == 3
    assert after['lanmail_logins_total{service="imap",result="ok"}'] == 1
    assert after['lanmail_logins_total{service="imap",result="failed"}'] == 1
    assert after["lanmail_uptime_seconds"] >= 0
    assert any(k.startswith("lanmail_connections{") for k in after)


def test_thunderbird_autoconfig(oauth_daemon, ca):
    d = oauth_daemon
    r = requests.get(f"{d.base}/.well-known/autoconfig/mail/config-v1.1.xml", verify=ca,
                     params={"emailaddress": "meier@lan.test"})
    assert r.status_code == 200
    # what Thunderbird's parser (comm-central, readFromXML.sys.mjs) requires of each server
    root = etree.fromstring(r.content, etree.XMLParser(resolve_entities=False))
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider.get("id") and "lan.test" in [e.text for e in provider.findall("domain")]
    incoming = provider.findall("incomingServer")
    assert {s.get("type") for s in incoming} == {"imap", "pop3"}
    imap = next(s for s in incoming if s.get("type") == "imap")
    assert imap.findtext("hostname") == "mail.lan.test"
    assert imap.findtext("port") == str(d.ports["imaps"])
    assert imap.findtext("socketType") == "SSL"
    assert imap.findtext("username") == "%EMAILADDRESS%"
    assert imap.findtext("authentication") == "password-cleartext"
    smtp = provider.find("outgoingServer")
    assert smtp.get("type") == "smtp" and smtp.findtext("port") == str(d.ports["smtps"])


def test_outlook_autodiscover_and_apple_profile(oauth_daemon, ca):
    d = oauth_daemon
    request = (b'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
               b'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
               b"<EMailAddress>meier@lan.test</EMailAddress><AcceptableResponseSchema>http://"
               b"schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
               b"</AcceptableResponseSchema></Request></Autodiscover>")
    r = requests.post(f"{d.base}/autodiscover/autodiscover.xml", data=request, verify=ca,
                      headers={"Content-Type": "text/xml"})
    assert r.status_code == 200
    root = etree.fromstring(r.content)
    ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/"
               "2006a"}
    protocols = root.findall(".//r:Protocol", ns)
    types = {p.findtext("r:Type", namespaces=ns): p for p in protocols}
    assert set(types) == {"IMAP", "POP3", "SMTP"}
    assert types["IMAP"].findtext("r:LoginName", namespaces=ns) == "meier@lan.test"
    assert types["SMTP"].findtext("r:SSL", namespaces=ns) == "on"
    bad = requests.post(f"{d.base}/autodiscover/autodiscover.xml", data=b"<x/>", verify=ca)
    assert bad.status_code == 400
    r = requests.get(f"{d.base}/apple/lanmail.mobileconfig", verify=ca,
                     params={"email": "meier@lan.test"})
    assert r.status_code == 200
    profile = plistlib.loads(r.content)
    mail = profile["PayloadContent"][0]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["IncomingMailServerPortNumber"] == d.ports["imaps"]
    assert mail["IncomingMailServerUseSSL"] is True
    assert requests.get(f"{d.base}/apple/lanmail.mobileconfig", verify=ca,
                        params={"email": "<script>"}).status_code == 400
