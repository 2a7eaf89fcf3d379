"""DKIM (dkimpy verifies the signature of what reached the smarthost) and S/MIME (``openssl
smime -verify`` accepts it; a recipient with a configured certificate gets it encrypted)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import dkim
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import addr, message, send  # noqa: E402

LOGIN = ("meier", "secret")


def test_dkim_generate_and_sign(daemon_factory, tls_files, smarthost):
    sh = smarthost()
    d = daemon_factory(accounts={"meier": {}}, extra_toml=sh.toml(tls_files["ca"]))
    out = d.ctl("--json", "dkim", "generate", "lan.test", "--selector", "s2026")
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)
    assert key["dns_name"] == "s2026._domainkey.lan.test"
    assert key["dns_record"].startswith("v=DKIM1; k=rsa; p=")
    assert (Path(key["file"]).stat().st_mode & 0o777) == 0o600
    again = d.ctl("dkim", "generate", "lan.test", "--selector", "s2026")
    assert again.returncode == 1 and "already has a key" in again.stderr
    listed = d.ctl("dkim", "list")
    assert "lan.test" in listed.stdout and "s2026" in listed.stdout
    send(d, addr("meier"), ["x@remote.example"], "signed", service="submission", login=LOGIN)
    data = sh.handler.wait(1)[0].data
    assert data.startswith(b"DKIM-Signature:")

    def dnsfunc(name, timeout=5):
        assert name == b"s2026._domainkey.lan.test."
        return key["dns_record"].encode()

    assert dkim.verify(data, dnsfunc=dnsfunc)
    tampered = data.replace(b"Subject: signed", b"Subject: changed")
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)
    assert d.ctl("dkim", "delete", "lan.test", "--selector", "s2026").returncode == 0
    assert "no DKIM keys" in d.ctl("dkim", "list").stdout


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(tmp: Path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("Test CA")).issuer_name(_name("Test CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp / "smime-ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def make_person(tmp: Path, ca, address: str) -> tuple[Path, Path]:
    ca_cert, ca_key = ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(address)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                         False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = tmp / f"{address}.pem", tmp / f"{address}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_smime_sign_and_encrypt(daemon_factory, tls_files, smarthost, tmp_path):
    ca = make_ca(tmp_path)
    cert, key = make_person(tmp_path, ca, addr("meier"))
    peers = tmp_path / "peers"
    peers.mkdir()
    peer_cert, peer_key = make_person(peers, ca, "crypt@remote.example")
    peer_key.rename(tmp_path / "crypt.key")
    sh = smarthost()
    d = daemon_factory(accounts={"meier": {}}, start=False, extra_toml=sh.toml(tls_files["ca"]))
    acct = d.conf / "accounts" / "meier.toml"
    acct.write_text(acct.read_text() + f'[outgoing.smime]\ncert = "{cert}"\nkey = "{key}"\n'
                    f'recipient_certs = "{peers}"\n')
    d.start()
    body = "Grüße aus dem Büro.\r\n.leading dot\r\n"
    raw = message("smime", body, addr("meier"), "plain@remote.example",
                  extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n")
    send(d, addr("meier"), ["plain@remote.example", "crypt@remote.example"], "",
         service="submission", login=LOGIN, raw=raw)
    got = {t.recipients[0]: t.data for t in sh.handler.wait(2)}
    signed = tmp_path / "signed.eml"
    signed.write_bytes(got["plain@remote.example"])
    assert b"multipart/signed" in got["plain@remote.example"]
    verify = subprocess.run(["openssl", "smime", "-verify", "-in", str(signed),
                             "-CAfile", str(tmp_path / "smime-ca.pem")],
                            capture_output=True, timeout=30)
    assert verify.returncode == 0, verify.stderr
    assert b"Verification successful" in verify.stderr
    assert "Grüße aus dem Büro.".encode() in verify.stdout or b"base64" in verify.stdout
    # the encrypted copy: only the recipient's key opens it, and inside is the signed mail
    enc = tmp_path / "enc.eml"
    enc.write_bytes(got["crypt@remote.example"])
    assert b"application/pkcs7-mime" in got["crypt@remote.example"]
    assert b"Subject: smime" in got["crypt@remote.example"]
    dec = subprocess.run(["openssl", "smime", "-decrypt", "-in", str(enc), "-recip",
                          str(peer_cert), "-inkey", str(tmp_path / "crypt.key")],
                         capture_output=True, timeout=30)
    assert dec.returncode == 0, dec.stderr
    assert b"multipart/signed" in dec.stdout


def test_smime_bad_key_file_is_a_config_error(daemon_factory, tmp_path):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    acct = d.conf / "accounts" / "meier.toml"
    acct.write_text(acct.read_text() + f'[outgoing.smime]\ncert = "{bad}"\nkey = "{bad}"\n')
    out = d.ctl("config", "check")
    assert out.returncode != 0 and "meier.toml" in out.stderr
    assert "outgoing.smime.cert" in out.stderr and "not a PEM certificate" in out.stderr
