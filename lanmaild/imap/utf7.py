"""Modified UTF-7 (RFC 3501 5.1.3) for mailbox names on the wire.

The store keeps folder names as Unicode; IMAP4rev1 clients send and expect them in
modified UTF-7: printable US-ASCII stands for itself except "&", which is written "&-";
every other run of characters is UTF-16BE, base64 encoded with "," instead of "/" and no
padding, between "&" and "-".
"""

from __future__ import annotations

import base64
import binascii


class UTF7Error(ValueError):
    """The name is not valid modified UTF-7."""


def _b64_encode(run: str) -> str:
    data = run.encode("utf-16-be")
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")


def encode(name: str) -> str:
    """Unicode folder name -> modified UTF-7 (ASCII only)."""
    out: list[str] = []
    run: list[str] = []
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            if run:
                out.append("&" + _b64_encode("".join(run)) + "-")
                run = []
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    if run:
        out.append("&" + _b64_encode("".join(run)) + "-")
    return "".join(out)


def decode(wire: bytes | str) -> str:
    """Modified UTF-7 -> Unicode; raises UTF7Error on anything malformed.

    Strict on the things that matter (8-bit octets, unterminated or bad base64, encoded
    printable ASCII) so a name has exactly one wire form.
    """
    if isinstance(wire, bytes):
        try:
            text = wire.decode("ascii")
        except UnicodeDecodeError:
            raise UTF7Error("8-bit characters in mailbox name (use modified UTF-7)") from None
    else:
        text = wire
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "&":
            if not 0x20 <= ord(ch) <= 0x7E:
                raise UTF7Error("control character in mailbox name")
            out.append(ch)
            i += 1
            continue
        end = text.find("-", i + 1)
        if end < 0:
            raise UTF7Error("unterminated modified UTF-7 sequence")
        chunk = text[i + 1:end]
        i = end + 1
        if not chunk:
            out.append("&")
            continue
        if len(chunk) % 4 == 1:
            raise UTF7Error("bad modified UTF-7 base64 length")
        b64 = chunk.replace(",", "/")
        try:
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise UTF7Error("bad modified UTF-7 base64") from None
        if len(raw) % 2:
            raise UTF7Error("odd UTF-16 length in modified UTF-7")
        try:
            decoded = raw.decode("utf-16-be")
        except UnicodeDecodeError:
            raise UTF7Error("bad UTF-16 in modified UTF-7") from None
        if any(0x20 <= ord(c) <= 0x7E for c in decoded):
            raise UTF7Error("printable ASCII must not be encoded in modified UTF-7")
        out.append(decoded)
    return "".join(out)
