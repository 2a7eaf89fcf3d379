"""``[autoresponder]`` in an account file (the seed's "Autoresponder" tab).

``from``/``until`` are local date-times of the server's time zone (TOML local date-times,
``2026-12-20T08:00:00``, or text ``"2026-12-20 08:00"``); either may be left out. The
reply goes out at most once per sender per ``period`` (default 7 days, RFC 3834 2: "a
responder SHOULD NOT respond more than once within a period"), remembered in the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from ..config.loader import (
    Table,
    check_local_targets,
    register_account_section,
    register_config_check,
)
from ..syntax import ADDRESS_RE, DOMAIN_RE, NAME_RE

DEFAULT_PERIOD = 7 * 86400


@dataclass(frozen=True)
class AutoresponderSettings:
    enabled: bool = False
    start: dt.datetime | None = None  # "from" in the file
    until: dt.datetime | None = None
    subject: str = ""
    text: str = ""
    domain: str = ""
    forward: tuple[str, ...] = ()
    keep_copy: bool = True
    period: int = DEFAULT_PERIOD

    def active(self, now: dt.datetime | None = None) -> bool:
        """Switched on and within its period (local time)."""
        if not self.enabled:
            return False
        now = now or dt.datetime.now()
        return (self.start is None or now >= self.start) and \
            (self.until is None or now <= self.until)


def parse_when(value) -> dt.datetime:
    """A local date-time from TOML (datetime/date) or text; ValueError otherwise."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:  # an offset given: convert to local time
            value = value.astimezone().replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    text = str(value).strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"'{value}' is not a date-time (e.g. 2026-12-24 08:00)")


def split_forward(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.replace(",", ";").split(";") if x.strip())


def parse(path: Path, text: str, data) -> AutoresponderSettings:
    t = Table(path, text, "autoresponder", data)
    when = {}
    for key in ("from", "until"):
        value = t.get(key, (str, dt.datetime, dt.date), None)
        if value in (None, ""):
            when[key] = None
            continue
        try:
            when[key] = parse_when(value)
        except ValueError as exc:
            raise t.err(key, str(exc)) from None
    if when["from"] and when["until"] and when["until"] < when["from"]:
        raise t.err("until", "is before 'from'")
    domain = t.get("domain", str, "").strip().lower()
    if domain and not DOMAIN_RE.match(domain):
        raise t.err("domain", f"'{domain}' is not a domain name")
    forward = split_forward(t.get("forward", str, ""))
    for item in forward:
        if not (NAME_RE.match(item) or ADDRESS_RE.match(item)):
            raise t.err("forward", f"'{item}' is neither a local name nor an address")
    period = t.duration("period", DEFAULT_PERIOD)
    cfg = AutoresponderSettings(
        enabled=t.get("enabled", bool, False), start=when["from"], until=when["until"],
        subject=t.get("subject", str, ""), text=t.get("text", str, ""), domain=domain,
        forward=forward, keep_copy=t.get("keep_copy", bool, True), period=period)
    t.finish()
    return cfg


def of(cfg, account: str) -> AutoresponderSettings | None:
    a = cfg.account(account)
    return a.extra.get("autoresponder") if a is not None else None


def _check_forward(cfg) -> None:
    for a in cfg.accounts.values():
        s = a.extra.get("autoresponder")
        if s is not None:
            check_local_targets(cfg, a, s.forward, "autoresponder.forward")


register_account_section("autoresponder", parse)
register_config_check(_check_forward)
