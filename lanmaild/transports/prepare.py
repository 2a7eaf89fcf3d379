"""Make a queued message ready for the internet, in this order (each step sees the result
of the one before, and nothing touches the bytes after the DKIM signature):

1. sender overwrite: the account's ``sender`` (else the global ``sender_rewrite``), with
   ``%localpart%``; replaces the envelope sender and the From: address. A forwarded copy
   keeps the author's From: (only its envelope sender changes: the recipient still sees
   who wrote it, SPF checks the forwarding domain). A null sender (a DSN) stays null.
2. split: transactions of at most ``max_recipients`` (the smaller of the account's and the
   global one), and never two recipient domains in one when delivering to MX hosts.
3. S/MIME: signed with the account's certificate; a recipient whose certificate is in
   ``recipient_certs`` gets a transaction of its own, encrypted to it (and to the sender).
4. DKIM: signed with the newest key of the From: domain, if there is one.

Signing costs milliseconds of CPU (dkimpy is pure Python), so 3 and 4 run in a thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from . import dkim, smime
from .rewrite import domain_of, expand, header_from_domain, replace_from


@dataclass
class Prepared:
    sender: str
    recipients: list[str]
    data: bytes


_keys: dict[Path, dkim.DkimKeys] = {}
_signers: dict = {}


def dkim_keys(data_dir: Path) -> dkim.DkimKeys:
    keys = _keys.get(data_dir)
    if keys is None:
        keys = _keys[data_dir] = dkim.DkimKeys(data_dir)
    return keys


def split(recipients: list[str], max_n: int, by_domain: bool) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for r in recipients:
        groups.setdefault(domain_of(r) if by_domain else "", []).append(r)
    out = []
    for rcpts in groups.values():
        n = max_n or len(rcpts)
        out += [rcpts[i:i + n] for i in range(0, len(rcpts), n)]
    return out


def _limit(*values: int) -> int:
    given = [v for v in values if v > 0]
    return min(given) if given else 0


def rewrite_sender(msg, account: str | None, a, g) -> tuple[str, bytes]:
    sender, data = msg.sender, msg.raw
    pattern = a.sender or g.sender
    if account and pattern and sender:
        new = expand(pattern, account)
        if new.lower() != sender.lower():
            sender = new
        if msg.source != "forward":
            data = replace_from(data, new)
    return sender, data


async def prepare(runtime, msg, account: str | None, a, g, kind: str) -> list[Prepared]:
    sender, data = rewrite_sender(msg, account, a, g)
    seen: set[str] = set()
    rcpts = [r.address for r in msg.recipients
             if not (r.address.lower() in seen or seen.add(r.address.lower()))]
    chunks = split(rcpts, _limit(a.max_recipients, g.max_recipients), kind == "mx")
    key = None
    if a.dkim and g.dkim:
        domain = header_from_domain(data)
        if domain:
            key = dkim_keys(runtime.config.server.data_dir).signing_key(domain)
    if a.smime is None and key is None:
        return [Prepared(sender, chunk, data) for chunk in chunks]
    return await asyncio.to_thread(_sign_all, sender, data, chunks, a.smime, key)


def _signer(settings) -> tuple:
    signer = _signers.get(settings)
    if signer is None:
        signer = _signers[settings] = smime.load_signer(settings)
    return signer


def _sign_all(sender: str, data: bytes, chunks: list[list[str]], smime_settings,
              key) -> list[Prepared]:
    out: list[tuple[str, list[str], bytes]] = []
    if smime_settings is not None:
        signer = _signer(smime_settings)
        signed = smime.sign(data, signer)
        for chunk in chunks:
            plain = []
            for r in chunk:
                cert = smime.recipient_cert(smime_settings, r)
                if cert is None:
                    plain.append(r)
                else:
                    out.append((sender, [r], smime.encrypt(signed, [cert, signer[0]])))
            if plain:
                out.append((sender, plain, signed))
    else:
        out = [(sender, chunk, data) for chunk in chunks]
    if key is not None:
        k, pem = key
        done: dict[int, bytes] = {}
        out = [(s, r, done.setdefault(id(d), dkim.sign(d, k, pem))) for s, r, d in out]
    return [Prepared(s, r, d) for s, r, d in out]
