"""DNS-SD over multicast DNS (RFC 6762/6763, issue 13): mail programs on the LAN find the
server without public DNS. With ``[mdns] enabled = true`` lanmaild announces its
listeners under the RFC 6186 / RFC 8314 service types (``_imap._tcp``, ``_imaps._tcp``,
``_pop3._tcp``, ``_pop3s._tcp``, ``_submission._tcp``, ``_submissions._tcp``) as
"LANMail on <hostname>".

python-zeroconf does the protocol (probing, conflict resolution, announcements, answering
queries) in its own thread, so multicast traffic from the LAN never runs on lanmaild's
event loop.

    [mdns]
    enabled = false
    interfaces = []       # addresses to announce on (default: the listeners' addresses,
                          # all interfaces for 0.0.0.0)
"""

from __future__ import annotations

from . import settings as settings  # registers [mdns]


async def start(runtime) -> list:
    cfg = settings.mdns_settings(runtime.config)
    if not cfg.enabled:
        return []
    from .service import MdnsService  # zeroconf only when it is used

    service = MdnsService(runtime, cfg)
    await service.start()
    runtime.services["mdns"] = service
    return [service]
