"""What every transport gets and gives back.

A transport takes one ``Envelope`` (sender, recipients, the final bytes) and answers per
recipient with an ``Outcome``: ``sent`` (the peer took responsibility: only then the
queue drops it), ``temp`` (retry later) or ``perm`` (bounce now). A failure of the whole
hand-over (connection refused, timeout, HTTP 500, disk full) raises ``TransportError``,
which applies to every recipient of the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Envelope:
    sender: str  # '' = null sender
    recipients: list[str]
    data: bytes
    name: str  # unique per envelope: file names, log lines

    @property
    def smtputf8(self) -> bool:
        return not (self.sender.isascii() and all(r.isascii() for r in self.recipients))


@dataclass
class Outcome:
    status: str  # sent | temp | perm
    reply: str  # what the peer said, e.g. "550 5.1.1 no such user", for the DSN and log
    status_code: str = ""  # RFC 3463 code (e.g. 5.1.1) when known


class TransportError(Exception):
    def __init__(self, reply: str, permanent: bool = False, status_code: str = "") -> None:
        super().__init__(reply)
        self.reply = reply
        self.permanent = permanent
        self.status_code = status_code or ("5.0.0" if permanent else "4.0.0")


class Transport(Protocol):
    async def send(self, env: Envelope) -> dict[str, Outcome]: ...

    async def close(self) -> None: ...


def all_sent(env: Envelope, reply: str) -> dict[str, Outcome]:
    return {r: Outcome("sent", reply) for r in env.recipients}
