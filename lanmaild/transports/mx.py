"""Where mail for a domain goes (RFC 5321 5.1), with dnspython's asyncio resolver.

MX records by preference (equal preferences in random order, RFC 5321 5.1); no MX records
but the domain exists: the domain itself is the host ("implicit MX"); a null MX
(RFC 7505: one record "0 .") or a domain that does not exist: permanent failure; a DNS
timeout or SERVFAIL: temporary. Each host name is resolved to its A and AAAA addresses.
"""

from __future__ import annotations

import random

import dns.asyncresolver
import dns.exception
import dns.resolver

from .base import TransportError


class MxResolver:
    def __init__(self, servers: tuple[str, ...] = (), timeout: float = 10.0) -> None:
        self.resolver = dns.asyncresolver.Resolver(configure=not servers)
        if servers:
            hosts, port = [], 53
            for item in servers:
                host, _, p = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
                hosts.append(host or item)
                port = int(p) if p else 53
            self.resolver.nameservers = hosts
            self.resolver.port = port
        self.resolver.lifetime = timeout

    async def _query(self, name: str, rdtype: str):
        try:
            return await self.resolver.resolve(name, rdtype)
        except dns.resolver.NXDOMAIN:
            raise TransportError(f"domain {name} does not exist", permanent=True,
                                 status_code="5.1.2") from None
        except dns.resolver.NoAnswer:
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise TransportError(f"DNS lookup of {name} {rdtype} failed: {exc}") from None

    async def _addresses(self, name: str) -> list[str]:
        out = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._query(name, rdtype)
            except TransportError:
                continue
            if answer is not None:
                out += [r.address for r in answer]
        return out

    async def hosts(self, domain: str) -> list[tuple[str, str]]:
        """(host name, IP address) pairs to try in order."""
        domain = domain.rstrip(".").lower()
        if domain.startswith("["):  # an address literal: that host, no DNS
            return [(domain, domain.strip("[]").removeprefix("IPv6:"))]
        answer = await self._query(domain, "MX")
        if answer is None:
            names = [domain]
        else:
            records = sorted(answer, key=lambda r: (r.preference, random.random()))
            if len(records) == 1 and str(records[0].exchange) == ".":
                raise TransportError(f"{domain} accepts no mail (null MX, RFC 7505)",
                                     permanent=True, status_code="5.1.10")
            names = [str(r.exchange).rstrip(".") for r in records]
        out = []
        for name in names:
            out += [(name, ip) for ip in await self._addresses(name)]
        if not out:
            raise TransportError(f"no address for the mail hosts of {domain} "
                                 f"({', '.join(names)})")
        return out
