"""The announcements (see the package doc)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

log = logging.getLogger("lanmaild.mdns")

# listener -> DNS-SD service type (RFC 6186 section 3, RFC 8314 section 7)
TYPES = {"imap": "_imap._tcp.local.", "imaps": "_imaps._tcp.local.",
         "pop3": "_pop3._tcp.local.", "pop3s": "_pop3s._tcp.local.",
         "submission": "_submission._tcp.local.", "smtps": "_submissions._tcp.local."}


class MdnsService:
    def __init__(self, runtime, settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._zc = None
        self._infos: list = []
        self._task: asyncio.Task | None = None

    def _plan(self) -> tuple[list[str] | None, list]:
        from zeroconf import ServiceInfo, get_all_addresses

        cfg = self.runtime.config
        listen = cfg.listen
        hosts = {h for name in TYPES for h, _p in getattr(listen, name)}
        if self.settings.interfaces:
            interfaces = list(self.settings.interfaces)
        elif hosts and not hosts & {"", "0.0.0.0", "::"}:
            interfaces = sorted(hosts)
        else:
            interfaces = None  # all
        label = cfg.server.hostname.split(".")[0]
        server = f"{label}.local."
        infos = []
        for name, service_type in TYPES.items():
            for host, port in getattr(listen, name)[:1]:
                if host not in ("", "0.0.0.0", "::"):
                    addresses = [ipaddress.ip_address(host).packed]
                else:  # a wildcard listener: the machine's addresses (no loopback)
                    addresses = [socket.inet_aton(ip) for ip in
                                 (interfaces or get_all_addresses())
                                 if ":" not in ip and not ip.startswith("127.")]
                infos.append(ServiceInfo(
                    service_type, f"LANMail on {cfg.server.hostname}.{service_type}",
                    port=port, server=server, addresses=addresses,
                    properties={"path": "/"} if name.startswith("imap") else {}))
        return interfaces, infos

    def _register(self) -> None:
        from zeroconf import InterfaceChoice, Zeroconf

        interfaces, infos = self._plan()
        self._zc = zc = Zeroconf(interfaces=interfaces or InterfaceChoice.All)

        async def register_all() -> None:  # probes all names at once, on zeroconf's loop
            waits = [await zc.async_register_service(i, allow_name_change=True)
                     for i in infos]
            await asyncio.gather(*waits)

        asyncio.run_coroutine_threadsafe(register_all(), zc.loop).result(60)
        self._infos = infos

    async def start(self) -> None:
        """Probing takes about a second per name (RFC 6762 section 8): in the background,
        so the mail services do not wait for it."""
        self._task = asyncio.get_running_loop().create_task(self._announce())

    async def _announce(self) -> None:
        try:
            await asyncio.to_thread(self._register)
        except Exception as exc:  # noqa: BLE001 - no multicast here: mail works anyway
            log.warning("mdns: announcing failed: %s", exc)
            return
        log.info("mdns: announcing %s", ", ".join(
            f"{i.type.split('.')[0]} {i.port}" for i in self._infos))

    def status(self) -> dict:
        return {"announced": [f"{i.type} {i.port}" for i in self._infos]}

    def _unregister(self) -> None:
        if self._zc is not None:
            self._zc.unregister_all_services()
            self._zc.close()
            self._zc = None

    async def close(self) -> None:
        if self._task is not None:
            await self._task  # a registration under way finishes first
        await asyncio.to_thread(self._unregister)
