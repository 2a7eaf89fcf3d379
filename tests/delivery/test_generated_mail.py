"""Mail lanmaild writes itself is built with the email package (hardening issue, item 15):
RFC 2047 encoded words for non-ASCII header text, UTF-8 headers only for SMTPUTF8
addresses, no header injection, RFC 3834 Auto-Submitted."""

from __future__ import annotations

from email import message_from_bytes, policy

from lanmaild.delivery.compose import AUTO_GENERATED, text_mail


def test_non_ascii_subject_is_encoded_words() -> None:
    raw = text_mail("mail.lan.test", "LANMail <postmaster@lan.test>", "meier@lan.test",
                    "Weiterleitung an jörg@beispiel.example: erledigt", "Grüße\n")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii(), head
    assert b"=?utf-8?" in head
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Weiterleitung an jörg@beispiel.example: erledigt"
    assert msg.get_content() == "Grüße\r\n"
    assert msg["Auto-Submitted"] == "auto-replied"  # RFC 3834 5: a response
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_smtputf8_address_gets_utf8_headers() -> None:
    raw = text_mail("mail.lan.test", "LANMail <postmaster@lan.test>", "jörg@beispiel.example",
                    "Bestätigung", "ok\n", auto=AUTO_GENERATED)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    assert "To: jörg@beispiel.example" in head and "Subject: Bestätigung" in head
    assert "Auto-Submitted: auto-generated" in head


def test_no_header_injection() -> None:
    raw = text_mail("mail.lan.test", "LANMail <postmaster@lan.test>", "meier@lan.test",
                    "x\r\nBcc: victim@evil.example", "body\n")
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None and "victim" in msg["Subject"]
