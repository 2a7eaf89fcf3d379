"""Password hashing: salted scrypt, stored as a self-describing string.

Why scrypt from hashlib and not argon2: no dependency, and with N=2**13, r=8, p=1 one check
costs about 20 ms on the 2-core target machine (mail programs log in every few minutes, so a
slower hash would add up). The parameters are stored in the string, so they can be raised
later: ``needs_rehash`` tells when a stored hash uses weaker ones than the current default.

Format: ``$scrypt$ln=13,r=8,p=1$<salt b64>$<hash b64>`` (PHC-like, unpadded base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

LOG2_N = 13
R = 8
P = 1
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """Return a new salted hash for ``password`` (never store the password itself)."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, LOG2_N, R, P)
    return f"$scrypt$ln={LOG2_N},r={R},p={P}${_b64(salt)}${_b64(digest)}"


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p, maxmem=_MAXMEM,
        dklen=_DKLEN,
    )


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "scrypt":
        return None
    try:
        params = dict(kv.split("=", 1) for kv in parts[2].split(","))
        log2_n, r, p = int(params["ln"]), int(params["r"]), int(params["p"])
        salt, digest = _unb64(parts[3]), _unb64(parts[4])
    except (ValueError, KeyError):
        return None
    if not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return None
    return log2_n, r, p, salt, digest


def is_password_hash(stored: str) -> bool:
    """True when ``stored`` is a hash this module can verify (used by config validation)."""
    return _parse(stored) is not None


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False on any malformed hash."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    log2_n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), digest)


def needs_rehash(stored: str) -> bool:
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (LOG2_N, R, P)
