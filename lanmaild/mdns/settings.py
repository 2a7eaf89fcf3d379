"""``[mdns]`` in lanmaild.toml (see the package doc)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..config.loader import Table, register_main_section


@dataclass(frozen=True)
class MdnsSettings:
    enabled: bool = False
    interfaces: tuple[str, ...] = ()


def parse_mdns(path, text: str, data) -> MdnsSettings:
    if data is None:
        return MdnsSettings()
    t = Table(path, text, "mdns", data)
    interfaces = tuple(t.str_list("interfaces"))
    for ip in interfaces:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise t.err("interfaces", f"'{ip}' is not an IP address of this machine") \
                from None
    cfg = MdnsSettings(enabled=t.get("enabled", bool, False), interfaces=interfaces)
    t.finish()
    return cfg


def mdns_settings(cfg) -> MdnsSettings:
    return cfg.sections.get("mdns", MdnsSettings())


register_main_section("mdns", parse_mdns)
