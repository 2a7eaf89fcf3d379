"""lanmailctl tls selfsigned on a server that had no certificate: STARTTLS works at once
with the new certificate (verified against it, for the hostname), TLS below 1.2 is refused,
the key is private, and a second run needs --force."""

from __future__ import annotations

import imaplib
import json
import ssl
import warnings

from cryptography import x509


def test_selfsigned_certificate_is_used_at_once(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, tls=False)
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    assert "STARTTLS" not in m.capabilities
    m.logout()
    out = d.ctl("--json", "tls", "selfsigned", "--name", "192.168.1.10")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    cert = x509.load_pem_x509_certificate(open(r["cert"], "rb").read())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mail.lan.test" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["192.168.1.10"]
    assert (d.conf / "tls" / "selfsigned-key.pem").stat().st_mode & 0o077 == 0
    ctx = ssl.create_default_context(cafile=r["cert"])
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    assert "STARTTLS" in m.capabilities
    m.starttls(ssl_context=_for_host(ctx))
    assert m.login("meier", "secret")[0] == "OK"
    m.logout()
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would speak TLS 1.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # we mean the old version
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    try:
        m.starttls(ssl_context=old)
        raise AssertionError("TLS 1.1 was accepted")
    except (ssl.SSLError, OSError):
        pass
    out = d.ctl("tls", "selfsigned")
    assert out.returncode != 0 and "force" in out.stderr
    assert d.ctl("tls", "selfsigned", "--force", "--days", "30").returncode == 0


def _for_host(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """imaplib connects to 127.0.0.1; check the certificate for the server's name."""
    orig = ctx.wrap_socket

    def wrap(sock, server_hostname=None, **kw):
        return orig(sock, server_hostname="mail.lan.test", **kw)

    ctx.wrap_socket = wrap
    return ctx
