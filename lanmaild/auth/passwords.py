"""Password hashing: salted scrypt, stored as a self-describing string.

Why scrypt from hashlib and not argon2: no dependency. Parameters: N=2**15, r=8, p=1, above
the floor of today's guidance (OWASP's minimum for scrypt is N=2**17 with r=8, or an
equivalent trade of memory for time; 2**15 is what the issue settled on as the least). On
the 2-core target machine one hash takes about 68 ms and 32 MiB (measured: 2**13 16 ms,
2**14 31 ms, 2**15 68 ms, 2**16 137 ms, 2**17 310 ms and 128 MiB). Mail programs that log
in every few minutes do not pay it each time: the authenticator keeps a cache of recent
successful log-ins. The parameters are stored in the string: ``needs_rehash`` tells when a
stored hash is weaker than the current default (the authenticator then rehashes at the next
successful log-in), and hashes below ``MIN_LOG2_N`` are refused outright.

Format: ``$scrypt$ln=13,r=8,p=1$<salt b64>$<hash b64>`` (PHC-like, unpadded base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

LOG2_N = 15
MIN_LOG2_N = 10  # below this (N < 1024) a stored hash is refused: it is no protection
R = 8
P = 1
_DKLEN = 32
_MAXMEM = 160 * 1024 * 1024  # N=2**17, r=8 (the most accepted) needs 128 MiB


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
    if not (1 <= log2_n <= 17 and 1 <= r <= 8 and 1 <= p <= 16):
        return None
    return log2_n, r, p, salt, digest


def is_password_hash(stored: str) -> bool:
    """True when ``stored`` is a hash this module can verify (used by config validation)."""
    return _parse(stored) is not None


def too_weak(stored: str) -> bool:
    """A well-formed hash whose parameters are too weak to be accepted at all."""
    parsed = _parse(stored)
    return parsed is not None and (parsed[0] < MIN_LOG2_N or len(parsed[3]) < 8)


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False on any malformed or
    too weak hash."""
    parsed = _parse(stored)
    if parsed is None or too_weak(stored):
        return False
    log2_n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), digest)


def needs_rehash(stored: str) -> bool:
    """Weaker than the current default (a stronger one is left alone)."""
    parsed = _parse(stored)
    return parsed is None or parsed[0] < LOG2_N or parsed[1] < R
