"""``[[external]]`` in an account file (the seed's "External Accounts" tab) and the global
``[fetch]`` schedule in lanmaild.toml.

    [[external]]
    name = "provider"            # unique per account
    protocol = "pop3"            # pop3 | imap
    host = "pop.provider.example"
    port = 995                   # default: 110/995 (pop3), 143/993 (imap) by tls
    tls = "implicit"             # none | starttls | implicit
    verify_tls = true            # false only for a provider's self-signed certificate
    user = "firma@provider.example"
    password = "..."             # the file must not be readable by everybody
    folders = ["INBOX"]          # imap only
    keep = true                  # leave on the server (false: delete once delivered)
    delete_after_days = 0        # with keep: delete from the server after N days
    multidrop = false            # distribute by recipient (Delivered-To, To, Cc ...)
    fallback = ""                # multidrop: for mail matching no account (default postmaster)
    interval = ""                # this mailbox's own check interval (default [fetch])
    idle = false                 # imap: push by IDLE where the provider offers it
    auth = "password"            # or "xoauth2" with oauth2_* keys (lanmaild.oauth.remote)
    enabled = true

    [fetch]                      # lanmaild.toml
    interval = "5m"
    window = "Mon-Fri 07:00-19:00"   # empty: always
    concurrency = 4
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config.loader import Table, register_account_section, register_main_section
from ..oauth.remote import RemoteOAuth, parse_remote
from ..syntax import DOMAIN_RE, NAME_RE

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(?:(\w{3})(?:-(\w{3}))?\s+)?(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Window:
    days: tuple[int, ...]  # weekday numbers (Mon = 0)
    start: dt.time
    end: dt.time

    def open(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now()
        return now.weekday() in self.days and self.start <= now.time() <= self.end


def parse_window(text: str) -> Window | None:
    text = text.strip()
    if not text:
        return None
    m = _WINDOW.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a time window (e.g. \"Mon-Fri 07:00-19:00\")")
    first, last = (m.group(1) or "mon").lower(), (m.group(2) or m.group(1) or "sun").lower()
    if first not in DAYS or last not in DAYS:
        raise ValueError(f"'{text}': days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
    a, b = DAYS.index(first), DAYS.index(last)
    days = tuple(range(a, b + 1)) if a <= b else tuple(range(a, 7)) + tuple(range(0, b + 1))
    return Window(days, dt.time(int(m.group(3)), int(m.group(4))),
                  dt.time(int(m.group(5)), int(m.group(6))))


@dataclass(frozen=True)
class FetchSettings:
    interval: int = 300
    window: Window | None = None
    concurrency: int = 4


@dataclass(frozen=True)
class ExternalMailbox:
    name: str
    protocol: str
    host: str
    port: int
    tls: str
    user: str
    password: str = field(repr=False)
    verify_tls: bool = True
    ca_file: str = ""
    folders: tuple[str, ...] = ("INBOX",)
    keep: bool = True
    delete_after_days: int = 0
    multidrop: bool = False
    fallback: str = ""
    interval: int = 0  # 0 = the global one
    idle: bool = False  # imap: IDLE push (lanmaild.fetch.idle)
    enabled: bool = True
    oauth: RemoteOAuth | None = None  # auth = "xoauth2": log in with a token


def _one(path: Path, text: str, data) -> ExternalMailbox:
    t = Table(path, text, "external", data)
    name = t.get("name", str, "")
    if not NAME_RE.match(name or "-"):
        raise t.err("name", "give each external mailbox a name (letters, digits, . _ -)")
    protocol = t.get("protocol", str, "")
    if protocol not in ("pop3", "imap"):
        raise t.err("protocol", "must be pop3 or imap")
    tls = t.get("tls", str, "implicit")
    if tls not in ("none", "starttls", "implicit"):
        raise t.err("tls", "must be none, starttls or implicit")
    default_port = {("pop3", True): 995, ("pop3", False): 110, ("imap", True): 993,
                    ("imap", False): 143}[(protocol, tls == "implicit")]
    host = t.get("host", str, "")
    if not host or not (DOMAIN_RE.match(host) or re.match(r"^[0-9.:]+$", host)):
        raise t.err("host", f"'{host}' is not a host name")
    password = t.secret("password")
    oauth = parse_remote(t)
    folders = tuple(t.str_list("folders")) or ("INBOX",)
    interval = t.duration("interval", 0)
    ca_file = t.get("ca_file", str, "")
    if ca_file and not Path(ca_file).is_file():
        raise t.err("ca_file", f"file not found: {ca_file}")
    mailbox = ExternalMailbox(
        name=name, protocol=protocol, host=host, port=t.get("port", int, default_port),
        tls=tls, user=t.get("user", str, ""), password=password,
        verify_tls=t.get("verify_tls", bool, True), ca_file=ca_file, folders=folders,
        keep=t.get("keep", bool, True), delete_after_days=t.non_negative("delete_after_days", 0),
        multidrop=t.get("multidrop", bool, False), fallback=t.get("fallback", str, ""),
        interval=interval, idle=t.get("idle", bool, False),
        enabled=t.get("enabled", bool, True), oauth=oauth)
    if mailbox.idle and protocol != "imap":
        raise t.err("idle", "IDLE is an IMAP command: set idle only for protocol = \"imap\"")
    if not mailbox.user or not (mailbox.password or oauth):
        raise t.err("user" if not mailbox.user else "password",
                    "set user and password (lanmailctl external add ... --password-stdin), "
                    "or auth = \"xoauth2\"")
    t.finish()
    return mailbox


def parse_external(path: Path, text: str, data) -> tuple[ExternalMailbox, ...]:
    items = data if isinstance(data, list) else [data]
    out = tuple(_one(path, text, item) for item in items)
    names = [m.name.lower() for m in out]
    for n in names:
        if names.count(n) > 1:
            t = Table(path, text, "external", {})
            raise t.err("name", f"two external mailboxes are called '{n}'")
    return out


def parse_fetch(path: Path, text: str, data) -> FetchSettings:
    if data is None:
        return FetchSettings()
    t = Table(path, text, "fetch", data)
    interval = t.duration("interval", 300)
    try:
        window = parse_window(t.get("window", str, ""))
    except ValueError as exc:
        raise t.err("window", str(exc)) from None
    cfg = FetchSettings(interval=max(10, interval), window=window,
                        concurrency=max(1, t.get("concurrency", int, 4)))
    t.finish()
    return cfg


def mailboxes(cfg) -> list[tuple[str, ExternalMailbox]]:
    return [(a.key, m) for a in cfg.accounts.values() for m in a.extra.get("external", ())]


def global_fetch(cfg) -> FetchSettings:
    return cfg.sections.get("fetch", FetchSettings())


register_account_section("external", parse_external)
register_main_section("fetch", parse_fetch)
