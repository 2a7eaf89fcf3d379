"""A renewed certificate takes effect at reload, on every listener (hardening item 8).

Before, the TLS context was rebuilt only when the certificate *paths* changed, and the
implicit-TLS listeners kept the context they started with, so a renewed Let's Encrypt
certificate was never served until a restart. A key that does not load on reload is a
config error and the old certificate keeps serving.
"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
import time
from pathlib import Path

import trustme
from lmtest import Daemon


def _issue(ca: trustme.CA, folder: Path, cn: str) -> bytes:
    cert = ca.issue_cert("localhost", "127.0.0.1", common_name=cn)
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    with open(folder / "cert.pem", "wb") as fh:
        for blob in cert.cert_chain_pems:
            fh.write(blob.bytes())
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def _client(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def _served(port: int, ctx: ssl.SSLContext) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        return tls.getpeercert(binary_form=True)


def _served_starttls(port: int, ctx: ssl.SSLContext) -> bytes:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.starttls(context=ctx)
        return c.sock.getpeercert(binary_form=True)


def _served_imap_starttls(port: int, ctx: ssl.SSLContext) -> bytes:
    c = imaplib.IMAP4("127.0.0.1", port)
    try:
        c.starttls(ssl_context=ctx)
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.shutdown()


def test_renewed_certificate_is_served_after_reload(tmp_path) -> None:
    ca = trustme.CA()
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    first = _issue(ca, tls_dir, "first")
    d = Daemon(tmp_path / "d", {"cert": tls_dir / "cert.pem", "key": tls_dir / "key.pem"})
    d.add_account_file("meier")
    d.start()
    try:
        ctx = _client(ca)
        ports = d.ports
        assert _served(ports["imaps"], ctx) == first
        second = _issue(ca, tls_dir, "second")  # renewal: same paths, new files
        assert d.api("reload")["ok"]
        assert "TLS certificate loaded" in d.log()
        for port in (ports["imaps"], ports["smtps"], ports["pop3s"]):
            assert _served(port, ctx) == second
        assert _served_starttls(ports["smtp"], ctx) == second
        assert _served_imap_starttls(ports["imap"], ctx) == second

        # a broken key: the reload is refused with the file named, the old cert serves on
        (tls_dir / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n")
        reply = d.api("reload")
        assert not reply["ok"]
        assert "cert.pem" in reply["error"]["message"], reply
        proc = d.ctl("reload")
        assert proc.returncode == 1 and "cert.pem" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert _served(ports["imaps"], ctx) == second
        assert _served_starttls(ports["submission"], ctx) == second
        d.proc.send_signal(1)  # SIGHUP: the same refusal, logged, no traceback
        deadline = time.monotonic() + 10
        while "reload refused" not in d.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "reload refused, old config keeps serving" in d.log()
        assert d.proc.poll() is None
        assert "Traceback" not in d.log()
    finally:
        d.stop()
