"""Outgoing mail: the queue runner and its transports (the seed's "Outgoing Mail" tab).

Mail for the internet (sent by a logged-in account or from a trusted network, forwarded
copies, DSNs to remote senders) ends in queue state ``outbound``; this package takes it
from there. Modules, one job each:

- ``settings``  the global and per-account ``[outgoing]`` sections (registered with the
                config loader) and the limits derived from them
- ``runner``    the queue runner: due recipients -> prepare -> transport -> one store
                write per message (sent / retry at / bounced with a DSN)
- ``prepare``   sender overwrite, recipient split, S/MIME (``smime``), DKIM (``dkim``)
- ``smtp``, ``mx``  smarthost / MX delivery (aiosmtplib, dnspython)
- ``folder``, ``httppost``, ``webspace`` (+ ``php/``)  the other transports
- ``base``      the Envelope/Outcome contract every transport keeps

Never lose, never duplicate: a recipient leaves the queue only in the store write made
after its transport confirmed it (or after it failed for good, together with its DSN).
A crash between the peer's confirmation and that write sends it once more after the
restart: no transport can do better (SMTP cannot ask "did you get it?").
"""

from __future__ import annotations

from . import settings as settings  # registers the [outgoing] sections
from .settings import size_limit


def _size_check(runtime):
    """SMTP-time check: mail for the internet over the sender's limit gets 552 5.3.4."""

    def check(account: str | None, remote: bool, size: int) -> str | None:
        if not remote:
            return None
        limit = size_limit(runtime.config, account)
        if size > limit:
            return (f"552 5.3.4 Message too big to send to the internet (at most {limit} "
                    "bytes for this sender)")
        return None

    return check


async def start(runtime) -> list:
    # imported here, not above: the config loader imports this package for its
    # [outgoing] sections, and lanmailctl need not load aiosmtplib, aiohttp, dnspython
    from .runner import OutgoingRunner

    runner = OutgoingRunner(runtime)
    runtime.services["outgoing"] = runner
    runtime.submission_checks.append(_size_check(runtime))
    runner.start()
    return [runner]
