"""``[einvoice_routing]`` of an e-invoice mailbox (account ``einvoice = true``; TOML allows
no table of the same name as the ``einvoice`` key, hence the longer name).

    invoices_to = "buchhaltung; steuerbuero@kanzlei.example"   # where e-invoices go
    keep_invoices = true        # and a copy stays in this mailbox
    others_to = "info"          # where the rest goes (empty: stays here)
    keep_others = true
    include_non_en16931 = false # MINIMUM, BASIC WL, ZUGFeRD 1.0 count as e-invoices too

Both routes are optional; without them all mail stays in the mailbox, marked with the
``X-LANMail-EInvoice`` header field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config.errors import ConfigError
from ..config.loader import (
    Table,
    check_local_targets,
    register_account_section,
    register_config_check,
)
from ..syntax import ADDRESS_RE, NAME_RE


@dataclass(frozen=True)
class EinvoiceSettings:
    invoices_to: tuple[str, ...] = ()
    keep_invoices: bool = True
    others_to: tuple[str, ...] = ()
    keep_others: bool = True
    include_non_en16931: bool = False


DEFAULT = EinvoiceSettings()


def _targets(t: Table, key: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in t.get(key, str, "").replace(",", ";").split(";")
                  if x.strip())
    for item in items:
        if not (NAME_RE.match(item) or ADDRESS_RE.match(item)):
            raise t.err(key, f"'{item}' is neither a local name nor an address")
    return items


def parse(path: Path, text: str, data) -> EinvoiceSettings:
    t = Table(path, text, "einvoice_routing", data)
    cfg = EinvoiceSettings(
        invoices_to=_targets(t, "invoices_to"), keep_invoices=t.get("keep_invoices", bool, True),
        others_to=_targets(t, "others_to"), keep_others=t.get("keep_others", bool, True),
        include_non_en16931=t.get("include_non_en16931", bool, False))
    t.finish()
    return cfg


def of(cfg, account: str) -> EinvoiceSettings | None:
    """The routing of an e-invoice mailbox, None for an ordinary account."""
    a = cfg.account(account)
    if a is None or not a.einvoice:
        return None
    return a.extra.get("einvoice_routing", DEFAULT)


def _check(cfg) -> None:
    for a in cfg.accounts.values():
        s = a.extra.get("einvoice_routing")
        path = cfg.config_dir / "accounts" / f"{a.name}.toml"
        if s is not None and not a.einvoice:
            raise ConfigError(path, "[einvoice_routing] needs einvoice = true",
                              key="einvoice_routing")
        for key in ("invoices_to", "others_to"):
            if s is not None:
                check_local_targets(cfg, a, getattr(s, key), f"einvoice_routing.{key}",
                                    allow_self=True)


register_account_section("einvoice_routing", parse)
register_config_check(_check)
