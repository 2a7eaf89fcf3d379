"""The OAuth2 scope each protocol needs (Microsoft 365's names, which LANMailServer uses).

Here rather than in ``lanmaild.oauth`` because the SASL layer names the scope in its error
challenge whether or not the OAuth2 server package is loaded."""

from __future__ import annotations

IMAP = "IMAP.AccessAsUser.All"
POP3 = "POP.AccessAsUser.All"
SMTP = "SMTP.Send"
OFFLINE = "offline_access"
SHORT = {"imap": IMAP, "pop3": POP3, "smtp": SMTP}
SERVICE = {"imap": IMAP, "pop3": POP3, "smtp": SMTP, "submission": SMTP, "smtps": SMTP}


def scope_for(service: str) -> str:
    return SERVICE.get(service, "")
