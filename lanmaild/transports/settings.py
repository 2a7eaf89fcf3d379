"""``[outgoing]``: the global settings in lanmaild.toml and the per-account section (the
seed's "Outgoing Mail" tab), validated at load time like every other key (file, line,
key on a mistake).

Both have the same shape: ``transport`` picks how mail leaves, and the sub-table of that
transport holds its settings (``[outgoing.smtp]``, ``[outgoing.folder]``,
``[outgoing.http-post]``, ``[outgoing.webspace]``). An account's ``transport = "default"``
(the default) uses the global one. Without ``[outgoing]`` the global transport is
``none``: mail for the internet waits in the queue (and bounces after ``max_age``).

Secrets (the passwords of the smarthost, the upload and the script) have to be stored in
clear text, since lanmaild logs in with them; a file that holds one must not be readable by
everybody (0600 or 0640), or the configuration is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..config.errors import ConfigError
from ..config.loader import (
    Table,
    register_account_section,
    register_config_check,
    register_main_section,
    resolve_path,
)
from ..config.units import parse_duration
from ..oauth.remote import RemoteOAuth, parse_remote
from ..syntax import ADDRESS_RE, DOMAIN_RE

TRANSPORTS = ("smtp", "mx", "folder", "http-post", "webspace")
GLOBAL_TRANSPORTS = (*TRANSPORTS, "none")
ACCOUNT_TRANSPORTS = ("default", *TRANSPORTS)
TLS_MODES = ("none", "starttls", "implicit")
DEFAULT_RETRY = (60, 300, 900, 1800, 3600)  # then hourly (the last one repeats)
SECRET = "***"


@dataclass(frozen=True)
class SmtpSettings:
    """A smarthost or an account's alternative SMTP server."""

    host: str = ""
    port: int = 587
    tls: str = "starttls"
    verify: bool = True
    ca_file: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: int = 60
    oauth: RemoteOAuth | None = None  # auth = "xoauth2" (lanmaild.oauth.remote)
    source: str = ""  # the file it came from (a rotated refresh token is written there)


@dataclass(frozen=True)
class FolderSettings:
    path: str = ""


@dataclass(frozen=True)
class HttpPostSettings:
    url: str = ""
    field_name: str = "rfc822data"
    user: str = ""
    password: str = field(default="", repr=False)
    verify: bool = True
    ca_file: str = ""
    timeout: int = 60


@dataclass(frozen=True)
class WebspaceSettings:
    """Upload the mail by SFTP/FTP(S), then call our PHP script, which sends it."""

    upload: str = "sftp"  # sftp | ftp | ftps
    host: str = ""
    port: int = 0  # 0 = 22 for sftp, 21 for ftp(s)
    user: str = ""
    password: str = field(default="", repr=False)
    key_file: str = ""  # sftp: a private key instead of (or besides) the password
    host_key: str = ""  # sftp: the server's public key ("ssh-ed25519 AAAA..."), pinned
    directory: str = ""  # where the scripts live on the webspace (upload dir = DIR/queue)
    script_url: str = ""  # https://example.com/lanmail/lanmail-send.php
    script_password: str = field(default="", repr=False)
    verify: bool = True
    ca_file: str = ""
    mailer: str = "mail"  # how the script sends: PHP mail() or "smtp"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    timeout: int = 60


@dataclass(frozen=True)
class SmimeSettings:
    cert: str = ""  # PEM certificate, or a PKCS#12 file (.p12/.pfx) holding cert and key
    key: str = ""  # PEM private key (not needed with PKCS#12)
    key_password: str = field(default="", repr=False)
    recipient_certs: str = ""  # folder of <address>.pem: mail to them is also encrypted


@dataclass(frozen=True)
class OutgoingSettings:
    """One ``[outgoing]`` section (global or an account's)."""

    transport: str = "none"
    smtp: SmtpSettings = SmtpSettings()
    folder: FolderSettings = FolderSettings()
    http_post: HttpPostSettings = HttpPostSettings()
    webspace: WebspaceSettings = WebspaceSettings()
    sender: str = ""  # account: sender overwrite; global: sender_rewrite
    message_size: int = 0  # 0 = no limit of its own
    max_recipients: int = 0  # per transaction; 0 = no limit of its own
    dkim: bool = True
    smime: SmimeSettings | None = None
    # global only
    retry: tuple[int, ...] = DEFAULT_RETRY
    max_age: int = 5 * 86400
    delay_warning: int = 4 * 3600  # 0 = off
    connections: int = 4  # parallel connections per destination
    mx_port: int = 25
    dns_servers: tuple[str, ...] = ()  # "host" or "host:port"; empty = /etc/resolv.conf


GLOBAL_DEFAULT = OutgoingSettings()
ACCOUNT_DEFAULT = OutgoingSettings(transport="default")


# --------------------------------------------------------------------------- parsing


def _port(t: Table, key: str, default: int) -> int:
    value = t.get(key, int, default)
    if not 0 <= value < 65536:
        raise t.err(key, "must be a port number (1-65535)")
    return value


def _choice(t: Table, key: str, choices: tuple[str, ...], default: str) -> str:
    value = t.get(key, str, default)
    if value not in choices:
        raise t.err(key, f"must be one of {', '.join(choices)}")
    return value


def _base(t: Table) -> Path:
    """conf.d: relative paths in lanmaild.toml and in account files start there."""
    return t.path.parent.parent if t.path.parent.name == "accounts" else t.path.parent


def _file(t: Table, key: str) -> str:
    value = t.get(key, str, "")
    if not value:
        return ""
    p = resolve_path(_base(t), value)
    if not p.is_file():
        raise t.err(key, f"file not found: {p}")
    return str(p)


def _url(t: Table, key: str) -> str:
    value = t.get(key, str, "")
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise t.err(key, f"'{value}' is not an http:// or https:// URL")
    return value


def _sub(t: Table, name: str) -> Table:
    t.used.add(name)
    sub = t.data.get(name, {})
    return Table(t.path, t.text, f"{t.name}.{name}", sub)


def _smtp(t: Table) -> SmtpSettings:
    s = _sub(t, "smtp")
    tls = _choice(s, "tls", TLS_MODES, "starttls")
    cfg = SmtpSettings(
        host=s.get("host", str, ""), port=_port(s, "port", 465 if tls == "implicit" else 587),
        tls=tls, verify=s.get("verify_tls", bool, True), ca_file=_file(s, "ca_file"),
        user=s.get("user", str, ""), password=s.secret("password"),
        timeout=s.duration("timeout", 60) or 60, oauth=parse_remote(s), source=str(s.path))
    if cfg.host and not DOMAIN_RE.match(cfg.host) and not _is_ip(cfg.host):
        raise s.err("host", f"'{cfg.host}' is not a host name")
    if cfg.oauth is not None and not cfg.user:
        raise s.err("user", "XOAUTH2 needs the user name the provider knows")
    if cfg.oauth is None and bool(cfg.user) != bool(cfg.password):
        raise s.err("password" if cfg.user else "user", "set both user and password, or "
                    "neither")
    s.finish()
    return cfg


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _folder(t: Table) -> FolderSettings:
    s = _sub(t, "folder")
    value = s.get("path", str, "")
    cfg = FolderSettings(path=str(resolve_path(_base(t), value)) if value else "")
    s.finish()
    return cfg


def _http_post(t: Table) -> HttpPostSettings:
    s = _sub(t, "http-post")
    cfg = HttpPostSettings(
        url=_url(s, "url"), field_name=s.get("field", str, "rfc822data") or "rfc822data",
        user=s.get("user", str, ""), password=s.secret("password"),
        verify=s.get("verify_tls", bool, True), ca_file=_file(s, "ca_file"),
        timeout=s.duration("timeout", 60) or 60)
    s.finish()
    return cfg


def _webspace(t: Table) -> WebspaceSettings:
    s = _sub(t, "webspace")
    upload = _choice(s, "upload", ("sftp", "ftp", "ftps"), "sftp")
    cfg = WebspaceSettings(
        upload=upload, host=s.get("host", str, ""), port=_port(s, "port", 0),
        user=s.get("user", str, ""), password=s.secret("password"),
        key_file=_file(s, "key_file"), host_key=s.get("host_key", str, "").strip(),
        directory=s.get("directory", str, ""), script_url=_url(s, "script_url"),
        script_password=s.secret("script_password"), verify=s.get("verify_tls", bool, True),
        ca_file=_file(s, "ca_file"), mailer=_choice(s, "mailer", ("mail", "smtp"), "mail"),
        smtp_host=s.get("smtp_host", str, ""), smtp_port=_port(s, "smtp_port", 587),
        smtp_tls=_choice(s, "smtp_tls", TLS_MODES, "starttls"),
        smtp_user=s.get("smtp_user", str, ""), smtp_password=s.secret("smtp_password"),
        timeout=s.duration("timeout", 60) or 60)
    if cfg.script_password and len(cfg.script_password) < 16:
        raise s.err("script_password", "is too short: use at least 16 characters (the seed: "
                    "\"the password should be very long\")")
    if upload == "sftp" and cfg.host and not cfg.host_key:
        raise s.err("host_key", "set the SFTP server's public key (e.g. the line "
                    "'ssh-keyscan -t ed25519 HOST' prints, without the host name), so the "
                    "upload never goes to an impostor")
    s.finish()
    return cfg


def _smime(t: Table) -> SmimeSettings | None:
    if "smime" not in t.data:
        t.used.add("smime")
        return None
    s = _sub(t, "smime")
    cfg = SmimeSettings(cert=_file(s, "cert"), key=_file(s, "key"),
                        key_password=s.secret("key_password"),
                        recipient_certs=s.get("recipient_certs", str, ""))
    if not cfg.cert:
        raise s.err("cert", "missing: the account's certificate (PEM, or PKCS#12 with its key)")
    if not cfg.key and not cfg.cert.lower().endswith((".p12", ".pfx")):
        raise s.err("key", "missing: the private key of the certificate (PEM)")
    if cfg.recipient_certs:
        folder = resolve_path(_base(t), cfg.recipient_certs)
        if not folder.is_dir():
            raise s.err("recipient_certs", f"folder not found: {folder}")
        cfg = SmimeSettings(cfg.cert, cfg.key, cfg.key_password, str(folder))
    try:
        from .smime import load_signer

        load_signer(cfg)
    except ValueError as exc:
        raise s.err("cert", str(exc)) from None
    s.finish()
    return cfg


def _sender(t: Table, key: str) -> str:
    value = t.get(key, str, "").strip()
    if value and not ADDRESS_RE.match(value.replace("%localpart%", "x")):
        raise t.err(key, f"'{value}' is not an address (e.g. \"%localpart%@firma.de\")")
    return value


def _common(t: Table, transport: str, sender_key: str) -> dict:
    values = dict(
        transport=transport, smtp=_smtp(t), folder=_folder(t), http_post=_http_post(t),
        webspace=_webspace(t), sender=_sender(t, sender_key),
        message_size=t.size("message_size"), max_recipients=t.get("max_recipients", int, 0),
        dkim=t.get("dkim", bool, True), smime=_smime(t))
    if values["max_recipients"] < 0:
        raise t.err("max_recipients", "must be 0 (no limit) or more")
    _require(t, values)
    return values


def _require(t: Table, v: dict) -> None:
    """The chosen transport has what it needs."""
    kind = v["transport"]
    need = {"smtp": ("smtp", "host", v["smtp"].host),
            "folder": ("folder", "path", v["folder"].path),
            "http-post": ("http-post", "url", v["http_post"].url)}
    if kind in need and not need[kind][2]:
        sub, key, _ = need[kind]
        raise t.err("transport", f"transport \"{kind}\" needs [{t.name}.{sub}] {key}")
    if kind == "webspace":
        w = v["webspace"]
        for key in ("host", "user", "script_url", "script_password"):
            if not getattr(w, key):
                raise t.err("transport", f"transport \"webspace\" needs [{t.name}.webspace] "
                            f"{key}")


def parse_global(path: Path, text: str, data) -> OutgoingSettings:
    if data is None:
        return GLOBAL_DEFAULT
    t = Table(path, text, "outgoing", data)
    transport = _choice(t, "transport", GLOBAL_TRANSPORTS, "none")
    values = _common(t, transport, "sender_rewrite")
    retry = t.get("retry", list, list(DEFAULT_RETRY))
    try:
        schedule = tuple(parse_duration(x) for x in retry)
    except (ValueError, TypeError) as exc:
        raise t.err("retry", f"must be a list of durations: {exc}") from None
    if not schedule or any(s <= 0 for s in schedule):
        raise t.err("retry", "list at least one wait longer than 0 (e.g. [\"1m\", \"5m\"])")
    dns = t.str_list("dns_servers")
    cfg = OutgoingSettings(
        **values, retry=schedule, max_age=t.duration("max_age", 5 * 86400),
        delay_warning=t.duration("delay_warning", 4 * 3600),
        connections=t.get("connections", int, 4), mx_port=_port(t, "mx_port", 25),
        dns_servers=tuple(dns))
    if cfg.connections < 1:
        raise t.err("connections", "must be at least 1")
    if cfg.max_age <= 0:
        raise t.err("max_age", "must be longer than 0")
    t.finish()
    return cfg


def parse_account(path: Path, text: str, data) -> OutgoingSettings:
    t = Table(path, text, "outgoing", data)
    transport = _choice(t, "transport", ACCOUNT_TRANSPORTS, "default")
    cfg = OutgoingSettings(**_common(t, transport, "sender"))
    t.finish()
    return cfg


def global_settings(cfg) -> OutgoingSettings:
    return cfg.sections.get("outgoing", GLOBAL_DEFAULT)


def account_settings(cfg, account: str | None) -> OutgoingSettings:
    a = cfg.account(account) if account else None
    if a is None:
        return ACCOUNT_DEFAULT
    return a.extra.get("outgoing", ACCOUNT_DEFAULT)


def global_size_limit(cfg) -> int:
    g = global_settings(cfg)
    return min(cfg.limits.message_size, g.message_size or cfg.limits.message_size)


def size_limit(cfg, account: str | None) -> int:
    """The largest mail ``account`` may send to the internet."""
    own = account_settings(cfg, account).message_size
    limit = global_size_limit(cfg)
    return min(own, limit) if own else limit


def _check_limits(cfg) -> None:
    """An account's size limit may not exceed the global one (the seed says so)."""
    limit = global_size_limit(cfg)
    for a in cfg.accounts.values():
        own = a.extra.get("outgoing")
        if own is not None and own.message_size > limit:
            raise ConfigError(cfg.config_dir / "accounts" / f"{a.name}.toml",
                              f"is larger than the global limit ({limit} bytes: [outgoing] "
                              "message_size or [limits] message_size)",
                              key="outgoing.message_size")


register_main_section("outgoing", parse_global)
register_account_section("outgoing", parse_account)
register_config_check(_check_limits)
