"""DKIM (RFC 6376) keys and signing with dkimpy.

Keys live under ``<data_dir>/dkim/<domain>/<selector>.pem`` (0600, RSA, PKCS#1), made by
``lanmailctl dkim generate``; the newest key of a domain signs. Every outgoing mail whose
From: domain has a key is signed after the sender overwrite and after S/MIME (so the
signature covers what really leaves), with relaxed/relaxed canonicalization (RFC 6376
3.4: survives the header re-folding some relays do) over the RFC 6376 5.4.1 header set.
dkimpy signs in pure Python (about 8 ms for 2048 bits), so callers run it in a thread.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..syntax import DOMAIN_RE

SELECTOR_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
HEADERS = (b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to",
           b"in-reply-to", b"references", b"mime-version", b"content-type",
           b"content-transfer-encoding", b"list-id", b"list-unsubscribe")


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    path: Path
    bits: int
    created: int

    def public_record(self) -> str:
        """The TXT record value for ``<selector>._domainkey.<domain>``."""
        key = serialization.load_pem_private_key(self.path.read_bytes(), None)
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


class DkimKeys:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "dkim"
        self._cache: dict[str, tuple[float, DkimKey | None, bytes]] = {}

    def _dir(self, domain: str) -> Path:
        domain = domain.lower().rstrip(".")
        if not DOMAIN_RE.match(domain):
            raise ValueError(f"'{domain}' is not a domain name")
        return self.root / domain

    def generate(self, domain: str, selector: str, bits: int = 2048) -> DkimKey:
        if not SELECTOR_RE.match(selector):
            raise ValueError(f"'{selector}' is not a selector (letters, digits, '-')")
        if bits not in (1024, 2048, 3072, 4096):
            raise ValueError("bits must be 1024, 2048, 3072 or 4096 (RFC 8301: at least 1024; "
                             "2048 recommended)")
        folder = self._dir(domain)
        path = folder / f"{selector}.pem"
        if path.exists():
            raise FileExistsError(f"{domain} already has a key with selector '{selector}': "
                                  "choose another selector or delete it first")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        tmp = folder / f".{selector}.pem.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._cache.pop(domain.lower(), None)
        return self._key(domain.lower().rstrip("."), path)

    def _key(self, domain: str, path: Path) -> DkimKey:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        return DkimKey(domain, path.stem, path, key.key_size, int(path.stat().st_mtime))

    def list(self, domain: str | None = None) -> list[DkimKey]:
        if not self.root.is_dir():
            return []
        folders = [self._dir(domain)] if domain else sorted(self.root.iterdir())
        out = []
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.pem"), key=lambda p: p.stat().st_mtime,
                               reverse=True):
                out.append(self._key(folder.name, path))
        return out

    def delete(self, domain: str, selector: str) -> bool:
        if not SELECTOR_RE.match(selector):
            return False
        path = self._dir(domain) / f"{selector}.pem"
        if not path.exists():
            return False
        path.unlink()
        self._cache.pop(domain.lower(), None)
        return True

    def signing_key(self, domain: str) -> tuple[DkimKey, bytes] | None:
        """The newest key of ``domain`` and its PEM (cached per folder mtime)."""
        domain = domain.lower().rstrip(".")
        try:
            folder = self._dir(domain)
            mtime = folder.stat().st_mtime
        except (ValueError, OSError):
            return None
        cached = self._cache.get(domain)
        if cached is None or cached[0] != mtime:
            keys = self.list(domain)
            cached = (mtime, keys[0] if keys else None,
                      keys[0].path.read_bytes() if keys else b"")
            self._cache[domain] = cached
        return (cached[1], cached[2]) if cached[1] is not None else None


def sign(raw: bytes, key: DkimKey, pem: bytes) -> bytes:
    """``raw`` with a DKIM-Signature field in front."""
    import dkim

    present = {line.split(b":", 1)[0].strip().lower()
               for line in raw[: raw.find(b"\r\n\r\n")].split(b"\r\n")
               if b":" in line and line[:1] not in (b" ", b"\t")}
    include = [h for h in HEADERS if h in present]
    sig = dkim.sign(raw, key.selector.encode(), key.domain.encode(), pem,
                    canonicalize=(b"relaxed", b"relaxed"), include_headers=include,
                    linesep=b"\r\n")
    return sig + raw
