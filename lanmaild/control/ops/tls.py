"""tls.selfsigned: a certificate for a LAN without a public name (issue 13).

An ECDSA P-256 key and a self-signed certificate for ``server.hostname`` (plus the mail
domains, ``localhost`` and given names/addresses as SubjectAltNames), valid for ``days``,
written to ``conf.d/tls/`` (key 0600) and set as [tls] cert/key through the same path as
every other change (validated, written, reloaded). STARTTLS offers it at once; listeners
with implicit TLS that were off for want of a certificate start at the next restart.
Mail programs will warn once: the user accepts it, or the admin installs the certificate
(``cert.pem``) on the machines as trusted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress

from ...config.apply import apply_change
from ...config.writer import atomic_write
from ..registry import OpError, arg, op

MAIN_FILE = "lanmaild.toml"


def make_selfsigned(hostname: str, names: list[str], days: int) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    alt: list = []
    for name in dict.fromkeys([hostname, *names]):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@op("tls.selfsigned")
async def tls_selfsigned(runtime, args: dict) -> dict:
    """Make a self-signed certificate for the hostname and use it."""
    cfg = runtime.config
    days = arg(args, "days", int, required=False, default=3 * 365)
    if not 1 <= days <= 3650:
        raise OpError("invalid", "days: 1 to 3650")
    names = arg(args, "names", list, required=False, default=[])
    if cfg.tls.enabled and not arg(args, "force", bool, required=False, default=False):
        raise OpError("exists", f"[tls] already has a certificate ({cfg.tls.cert}): give "
                                "force to replace it")
    hostname = cfg.server.hostname
    cert, key = await asyncio.to_thread(
        make_selfsigned, hostname, [*cfg.server.domains, "localhost", *map(str, names)], days)
    folder = runtime.config_dir / "tls"
    folder.mkdir(mode=0o700, exist_ok=True)
    cert_path, key_path = folder / "selfsigned-cert.pem", folder / "selfsigned-key.pem"

    def build(change) -> None:
        path = runtime.config_dir / MAIN_FILE
        doc = change.doc(path)
        if "tls" not in doc:
            import tomlkit

            doc["tls"] = tomlkit.table()
        doc["tls"]["cert"] = str(cert_path)
        doc["tls"]["key"] = str(key_path)
        change.put(path, doc, 0o600)

    # the files first: the validation of the change loads them (a refused change leaves
    # only two unused files behind)
    await asyncio.to_thread(atomic_write, key_path, key.decode(), 0o600)
    await asyncio.to_thread(atomic_write, cert_path, cert.decode(), 0o644)
    await apply_change(runtime, build,
                       what=f"[tls]: self-signed certificate for {hostname} ({days} days)")
    return {"cert": str(cert_path), "key": str(key_path), "hostname": hostname,
            "days": days, "names": sorted({hostname, *cfg.server.domains, "localhost",
                                           *map(str, names)}),
            "restart_needed": _implicit_waiting(cfg)}


def _implicit_waiting(cfg) -> bool:
    """Implicit-TLS listeners configured but not started for want of a certificate."""
    return not cfg.tls.enabled and any(getattr(cfg.listen, n) for n in
                                       ("smtps", "imaps", "pop3s"))


