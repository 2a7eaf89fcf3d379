"""The validated, immutable view of conf.d that the daemon runs on.

Everything here is plain data: the loader builds it from TOML, services read it, a reload
builds a new one and swaps it in whole (``Runtime.config``), so a half-applied config is
never visible.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ServerConfig:
    hostname: str
    domains: tuple[str, ...]
    data_dir: Path
    control_socket: Path
    trusted_networks: tuple[Network, ...] = ()
    plaintext_auth: tuple[Network, ...] = ()
    # Email commands ("LMS Forwarding on ...") from a trusted network without SMTP AUTH:
    # off by default, since any host there can forge any envelope sender.
    email_commands_trusted: bool = False
    # Started as root: run as this user once the listeners are bound ("" = stay)
    user: str = ""
    # The control socket's group: its members may use lanmailctl ("" = root only)
    admin_group: str = ""


@dataclass(frozen=True)
class ListenConfig:
    """Each service: a tuple of (host, port); empty means the service is off."""

    smtp: tuple[tuple[str, int], ...] = ()
    submission: tuple[tuple[str, int], ...] = ()
    smtps: tuple[tuple[str, int], ...] = ()
    pop3: tuple[tuple[str, int], ...] = ()
    pop3s: tuple[tuple[str, int], ...] = ()
    imap: tuple[tuple[str, int], ...] = ()
    imaps: tuple[tuple[str, int], ...] = ()
    http: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class TLSConfig:
    cert: Path | None = None
    key: Path | None = None

    @property
    def enabled(self) -> bool:
        return self.cert is not None and self.key is not None


@dataclass(frozen=True)
class LimitsConfig:
    message_size: int = 50 * 1024 * 1024
    recipients: int = 100
    connections_per_ip: int = 20
    line_length: int = 8192
    imap_autologout: int = 1800
    pop3_autologout: int = 600
    smtp_timeout: int = 300
    auth_failures_per_ip: int = 10
    auth_failures_per_account: int = 10
    auth_failure_window: int = 300
    forward_hops: int = 25
    connections_per_service: int = 500
    prelogin_timeout: int = 60
    prelogin_literal: int = 8192
    auth_failure_delay_ms: int = 1000
    smtp_junk_commands: int = 100
    query_timeout: int = 30


@dataclass(frozen=True)
class Account:
    """One local mailbox (conf.d/accounts/<name>.toml; the seed's "General" tab)."""

    name: str
    password: str  # a hash from lanmaild.auth.passwords, never clear text
    display_name: str = ""
    postmaster: bool = False
    archive: bool = False
    deny_internet: bool = False
    save_sent: bool = False
    einvoice: bool = False
    forward_to: str = ""
    keep_copy: bool = False
    sms_number: str = ""
    quota: int = 0  # bytes; 0 = unlimited
    # Envelope senders this account may use besides its own addresses once logged in:
    # addresses, "*@domain", or "*" for any (the sender check off for this account).
    send_as: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)  # sections owned by later modules

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...] = ()
    description: str = ""

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Config:
    config_dir: Path
    server: ServerConfig
    listen: ListenConfig
    tls: TLSConfig
    limits: LimitsConfig
    accounts: dict[str, Account]  # keyed by lower-case name
    groups: dict[str, Group]  # keyed by lower-case name
    sections: dict = field(default_factory=dict)  # lanmaild.toml sections of later modules

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower().rstrip(".") in self.server.domains

    def account(self, name: str) -> Account | None:
        return self.accounts.get(name.lower())

    def group(self, name: str) -> Group | None:
        return self.groups.get(name.lower())

    @property
    def postmaster(self) -> Account | None:
        return next((a for a in self.accounts.values() if a.postmaster), None)

    @property
    def primary_domain(self) -> str:
        return self.server.domains[0]
