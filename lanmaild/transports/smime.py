"""S/MIME (RFC 8551) signing, and encryption for recipients whose certificate is known,
with cryptography's PKCS#7 builders.

What is signed is the message's MIME entity: its content header fields (Content-*) and
body. The other header fields (From, To, Subject, ...) stay outside, on the new
``multipart/signed`` (RFC 1847) top level. RFC 8551 3.1.1 wants the signed entity 7-bit
clean (a relay may convert 8-bit data and break the signature): a leaf with 8-bit or
binary data is re-encoded base64 before signing. The signature is computed on the
canonical CRLF form and the result is never re-serialized afterwards.
"""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from .rewrite import split_message


def load_signer(settings) -> tuple:
    """(certificate, private key, extra chain certificates); ValueError saying what is
    wrong with the files."""
    password = settings.key_password.encode() or None
    cert_path = Path(settings.cert)
    data = cert_path.read_bytes()
    if cert_path.suffix.lower() in (".p12", ".pfx"):
        try:
            key, cert, chain = pkcs12.load_key_and_certificates(data, password)
        except ValueError as exc:
            raise ValueError(f"cannot read the PKCS#12 file {cert_path}: {exc}") from None
        if key is None or cert is None:
            raise ValueError(f"{cert_path} holds no certificate with its private key")
        return cert, key, list(chain or [])
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValueError(f"{cert_path} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(Path(settings.key).read_bytes(), password)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot read the private key {settings.key}: {exc}") from None
    return certs[0], key, certs[1:]


def recipient_cert(settings, address: str):
    """The certificate for ``address`` from ``recipient_certs`` (<address>.pem), or None."""
    if not settings.recipient_certs:
        return None
    name = address.lower()
    if "/" in name or name.startswith("."):
        return None
    path = Path(settings.recipient_certs) / f"{name}.pem"
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


_CONTENT = (b"content-", b"mime-version")


def _partition(header: bytes) -> tuple[bytes, bytes]:
    """(outer header fields, content header fields) of a CRLF header block."""
    outer, content, current = [], [], None
    for line in header.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and current is not None:
            current.append(line)
            continue
        current = content if line.lower().startswith(_CONTENT) else outer
        current.append(line)
    return (b"".join(x + b"\r\n" for x in outer),
            b"".join(x + b"\r\n" for x in content if not x.lower().startswith(b"mime-version")))


def _seven_bit(entity: bytes) -> bytes:
    if entity.isascii():
        return entity
    msg = message_from_bytes(entity, policy=policy.SMTP)
    for part in msg.walk():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True) or b""
        del part["Content-Transfer-Encoding"]
        part.set_payload(base64.encodebytes(data).decode("ascii"))
        part["Content-Transfer-Encoding"] = "base64"
    return msg.as_bytes(policy=policy.SMTP)


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def sign(raw: bytes, signer: tuple) -> bytes:
    """The message with its body signed (multipart/signed, detached, SHA-256)."""
    header, body = split_message(raw)
    outer, content = _partition(header)
    if not content:
        content = b"Content-Type: text/plain; charset=us-ascii\r\n"
    entity = _seven_bit(content + b"\r\n" + body)
    cert, key, chain = signer
    builder = pkcs7.PKCS7SignatureBuilder().set_data(entity).add_signer(
        cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    signed = builder.sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    return outer + _crlf(signed)


def encrypt(raw: bytes, certs: list) -> bytes:
    """The message's MIME entity enveloped (AES-128-CBC, the RFC 8551 2.7 MUST) for
    ``certs`` (the recipients' and the sender's own, so the Sent copy stays readable)."""
    header, body = split_message(raw)
    outer, content = _partition(header)
    if not content:
        content = b"Content-Type: text/plain; charset=us-ascii\r\n"
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(_seven_bit(content + b"\r\n" + body))
    for cert in certs:
        builder = builder.add_recipient(cert)
    enveloped = builder.encrypt(serialization.Encoding.SMIME, [])
    return outer + _crlf(enveloped)
