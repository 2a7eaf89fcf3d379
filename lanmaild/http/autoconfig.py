"""Autoconfiguration for mail programs on the LAN (issue 13), served on the HTTP listener:

- Thunderbird: ``/.well-known/autoconfig/mail/config-v1.1.xml`` and
  ``/mail/config-v1.1.xml`` (the autoconfig format, clientConfig version 1.1);
- Outlook: ``POST /autodiscover/autodiscover.xml`` (the "POX" Autodiscover schema for
  outlook clients, responseschema 2006a);
- Apple Mail / iOS: ``/apple/lanmail.mobileconfig?email=...`` (a configuration profile with
  one com.apple.mail.managed payload; unsigned: the device asks before installing).

What they describe comes from the running configuration: ``server.hostname`` and the ports
of the listeners, implicit TLS first, then STARTTLS; plain only where nothing else listens.
The user name is the full address (lanmaild accepts ``name@domain``).
"""

from __future__ import annotations

import plistlib
import re
import uuid
from xml.etree import ElementTree as ET

from aiohttp import web

_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}$")
MAX_BODY = 16 * 1024


def routes(app: web.Application, runtime) -> None:
    a = Autoconfig(runtime)
    app.router.add_get("/.well-known/autoconfig/mail/config-v1.1.xml", a.thunderbird)
    app.router.add_get("/mail/config-v1.1.xml", a.thunderbird)
    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
        app.router.add_post(path, a.outlook)
    app.router.add_get("/apple/lanmail.mobileconfig", a.apple)


def _port(listeners) -> int | None:
    return listeners[0][1] if listeners else None


def servers(cfg) -> dict:
    """{"imap"|"pop3"|"smtp": (port, "SSL"|"STARTTLS"|"plain")} from the listeners."""
    listen = cfg.listen
    tls = cfg.tls.enabled
    out = {}
    for proto, implicit, plain in (("imap", "imaps", "imap"), ("pop3", "pop3s", "pop3"),
                                   ("smtp", "smtps", "submission")):
        if tls and _port(getattr(listen, implicit)):
            out[proto] = (_port(getattr(listen, implicit)), "SSL")
        elif _port(getattr(listen, plain)):
            out[proto] = (_port(getattr(listen, plain)), "STARTTLS" if tls else "plain")
    return out


def _xml(root: ET.Element) -> web.Response:
    body = ET.tostring(root, encoding="unicode", xml_declaration=True)
    return web.Response(text=body, content_type="application/xml",
                        headers={"Cache-Control": "no-store"})


class Autoconfig:
    def __init__(self, runtime) -> None:
        self.runtime = runtime

    async def thunderbird(self, request: web.Request) -> web.Response:
        cfg = self.runtime.config
        root = ET.Element("clientConfig", version="1.1")
        provider = ET.SubElement(root, "emailProvider", id=cfg.primary_domain)
        for domain in cfg.server.domains:
            ET.SubElement(provider, "domain").text = domain
        ET.SubElement(provider, "displayName").text = f"LANMail {cfg.server.hostname}"
        ET.SubElement(provider, "displayShortName").text = "LANMail"
        for proto, (port, socket_type) in servers(cfg).items():
            tag = "outgoingServer" if proto == "smtp" else "incomingServer"
            server = ET.SubElement(provider, tag, type=proto)
            ET.SubElement(server, "hostname").text = cfg.server.hostname
            ET.SubElement(server, "port").text = str(port)
            ET.SubElement(server, "socketType").text = socket_type
            ET.SubElement(server, "authentication").text = "password-cleartext"
            ET.SubElement(server, "username").text = "%EMAILADDRESS%"
        return _xml(root)

    async def outlook(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY + 1)
        email = ""
        if len(body) <= MAX_BODY:
            m = re.search(rb"<EMailAddress>\s*([^<\s]+)\s*</EMailAddress>", body)
            email = m.group(1).decode("utf-8", "replace") if m else ""
        if not _EMAIL.match(email):
            return web.Response(status=400, text="send <EMailAddress> in the request\n")
        cfg = self.runtime.config
        ns = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        root = ET.Element("Autodiscover", xmlns="http://schemas.microsoft.com/exchange/"
                                                 "autodiscover/responseschema/2006")
        response = ET.SubElement(root, "Response", xmlns=ns)
        account = ET.SubElement(response, "Account")
        ET.SubElement(account, "AccountType").text = "email"
        ET.SubElement(account, "Action").text = "settings"
        for proto, (port, socket_type) in servers(cfg).items():
            p = ET.SubElement(account, "Protocol")
            ET.SubElement(p, "Type").text = {"imap": "IMAP", "pop3": "POP3",
                                             "smtp": "SMTP"}[proto]
            ET.SubElement(p, "Server").text = cfg.server.hostname
            ET.SubElement(p, "Port").text = str(port)
            ET.SubElement(p, "LoginName").text = email
            ET.SubElement(p, "DomainRequired").text = "off"
            ET.SubElement(p, "SPA").text = "off"
            ET.SubElement(p, "SSL").text = "off" if socket_type == "plain" else "on"
            if socket_type != "plain":
                ET.SubElement(p, "Encryption").text = "SSL" if socket_type == "SSL" else "TLS"
            ET.SubElement(p, "AuthRequired").text = "on"
        return _xml(root)

    async def apple(self, request: web.Request) -> web.Response:
        email = request.query.get("email", "")
        if not _EMAIL.match(email):
            return web.Response(status=400, text="give ?email=name@domain\n")
        cfg = self.runtime.config
        s = servers(cfg)
        if "smtp" not in s or not ({"imap", "pop3"} & set(s)):
            return web.Response(status=503, text="no IMAP/POP3 or submission listener\n")
        incoming = "imap" if "imap" in s else "pop3"
        payload = {
            "PayloadType": "com.apple.mail.managed", "PayloadVersion": 1,
            "PayloadIdentifier": f"lan.lanmail.{cfg.server.hostname}.mail",
            "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{email}/mail")).upper(),
            "PayloadDisplayName": email, "EmailAccountDescription": email,
            "EmailAccountType": "EmailTypeIMAP" if incoming == "imap" else "EmailTypePOP",
            "EmailAddress": email,
            "IncomingMailServerHostName": cfg.server.hostname,
            "IncomingMailServerPortNumber": s[incoming][0],
            "IncomingMailServerUseSSL": s[incoming][1] != "plain",
            "IncomingMailServerUsername": email,
            "IncomingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingMailServerHostName": cfg.server.hostname,
            "OutgoingMailServerPortNumber": s["smtp"][0],
            "OutgoingMailServerUseSSL": s["smtp"][1] != "plain",
            "OutgoingMailServerUsername": email,
            "OutgoingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingPasswordSameAsIncomingPassword": True,
        }
        profile = {
            "PayloadType": "Configuration", "PayloadVersion": 1,
            "PayloadIdentifier": f"lan.lanmail.{cfg.server.hostname}",
            "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, email)).upper(),
            "PayloadDisplayName": f"LANMail ({email})", "PayloadContent": [payload],
        }
        return web.Response(body=plistlib.dumps(profile),
                            content_type="application/x-apple-aspen-config",
                            headers={"Content-Disposition":
                                     'attachment; filename="lanmail.mobileconfig"'})
