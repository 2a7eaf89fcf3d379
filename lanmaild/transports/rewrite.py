"""Sender overwrite (the seed: "Overwrite Sender Email Address with This Email Address for
All Emails"), done on the raw bytes: only the ``From:`` field is replaced, everything else
stays byte for byte (the signatures added later cover exactly what leaves).

``%localpart%`` in the configured address stands for the account name (the seed's
placeholder), so one global ``sender_rewrite = "%localpart%@firma.de"`` serves everybody.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.utils import getaddresses

_FROM = re.compile(rb"^from[ \t]*:", re.I)


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """(header block ending in CRLF, body) of a CRLF message."""
    if raw.startswith(b"\r\n"):
        return b"", raw[2:]
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return raw if raw.endswith(b"\r\n") else raw + b"\r\n", b""
    return raw[: end + 2], raw[end + 4:]


def expand(pattern: str, account: str) -> str:
    return pattern.replace("%localpart%", account.lower())


def replace_from(raw: bytes, address: str) -> bytes:
    """``raw`` with its From: address replaced by ``address`` (the display name kept)."""
    header, body = split_message(raw)
    lines = header.split(b"\r\n")
    out: list[bytes] = []
    i, replaced = 0, False
    while i < len(lines):
        line = lines[i]
        if not replaced and _FROM.match(line):
            field = [line]
            while i + 1 < len(lines) and lines[i + 1][:1] in (b" ", b"\t"):
                i += 1
                field.append(lines[i])
            value = b" ".join(f.strip() for f in field).split(b":", 1)[1]
            out.append(b"From: " + _with_address(value, address).encode("utf-8"))
            replaced = True
        else:
            out.append(line)
        i += 1
    if not replaced:
        out.insert(0, b"From: " + address.encode())
    return b"\r\n".join(out) + b"\r\n" + body


def _with_address(value: bytes, address: str) -> str:
    text = value.decode("utf-8", "replace").strip()
    pairs = getaddresses([text])
    name = pairs[0][0] if pairs else ""
    name = re.sub(r"[\x00-\x1f\x7f]", "", name)
    if not name:
        return address
    if text.lstrip().startswith("=?"):
        # an encoded word display name: keep it as it was written
        return f"{text.split('<', 1)[0].strip()} <{address}>"
    local, _, domain = address.rpartition("@")
    return str(Address(display_name=name, username=local, domain=domain))


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def header_from_domain(raw: bytes) -> str:
    """The domain of the From: address (what a DKIM d= must align with for DMARC)."""
    header, _ = split_message(raw)
    value = b""
    capture = False
    for line in header.split(b"\r\n"):
        if capture and line[:1] in (b" ", b"\t"):
            value += line
            continue
        if capture:
            break
        if _FROM.match(line):
            value, capture = line.split(b":", 1)[1], True
    pairs = getaddresses([value.decode("utf-8", "replace")])
    return domain_of(pairs[0][1]) if pairs and "@" in pairs[0][1] else ""
