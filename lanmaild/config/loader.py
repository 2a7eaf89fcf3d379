"""Read and validate conf.d (stdlib tomllib: fast, plain types).

Layout: ``DIR/lanmaild.toml``, ``DIR/accounts/<name>.toml``, ``DIR/groups/<name>.toml``.
Validation is strict, so a typo never silently turns a feature off: an unknown key, a wrong
type or a bad value is a ``ConfigError`` naming the file, the line (found by scanning the
text, tomllib gives none) and the key. Start-up stops on it; a reload keeps the old config.

Later modules add their own sections to an account file (autoresponder, external accounts,
outgoing, oauth2): they register a validator with ``register_account_section`` and read
the validated value from ``Account.extra[section]``. Sections of ``lanmaild.toml`` itself
(``[outgoing]``) work the same way with ``register_main_section`` (``Config.sections``);
a check that needs the whole configuration (an account limit under the global one) is a
``register_config_check``.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..auth.passwords import is_password_hash
from ..syntax import ADDRESS_RE, DOMAIN_RE, NAME_RE, name_problem
from .errors import ConfigError
from .model import (
    Account,
    Config,
    Group,
    LimitsConfig,
    ListenConfig,
    Network,
    ServerConfig,
    TLSConfig,
)
from .units import parse_duration, parse_size

MAIN_FILE = "lanmaild.toml"
SMS_RE = re.compile(r"^\+?[0-9][0-9 ()/.-]{2,30}$")

IMPLICIT_TLS_SERVICES = ("smtps", "pop3s", "imaps")

SectionValidator = Callable[[Path, str, Any], Any]
Overlay = dict[Path, "str | None"]
_account_sections: dict[str, SectionValidator] = {}
_main_sections: dict[str, SectionValidator] = {}
_config_checks: list[Callable[[Config], None]] = []
# The files a load validates from staged text (a change about to be written): their
# mode on disk is not what they will have (the writer makes files with secrets 0600/0640).
STAGED: contextvars.ContextVar[frozenset] = contextvars.ContextVar("staged", default=frozenset())


def register_account_section(name: str, validator: SectionValidator) -> None:
    """Let a later module own ``[name]`` in account files; validator(path, text, value)."""
    _account_sections[name] = validator


def register_main_section(name: str, validator: SectionValidator) -> None:
    """Let a later module own ``[name]`` in lanmaild.toml; validator(path, text, value)
    gets the table (or None when it is absent) and its result is ``Config.sections[name]``."""
    _main_sections[name] = validator


def register_config_check(check: Callable[[Config], None]) -> None:
    """A check over the complete configuration; raises ConfigError."""
    _config_checks.append(check)


def _load_extensions() -> None:
    """Modules that own sections register them at import; import them before a load so
    that ``lanmailctl`` (which never starts the services) validates them too."""
    import importlib

    for module in EXTENSIONS:
        importlib.import_module(module)


EXTENSIONS = ("lanmaild.transports.settings", "lanmaild.autoresponder.settings",
              "lanmaild.sms.settings", "lanmaild.einvoice.settings",
              "lanmaild.fetch.settings", "lanmaild.oauth.clients", "lanmaild.http.settings",
              "lanmaild.mdns.settings")


# --------------------------------------------------------------------------- helpers


def find_line(text: str, table: str | None, key: str | None) -> int | None:
    """Best-effort line number of ``key`` inside ``[table]`` (or of the table header)."""
    current: str | None = None
    header_line = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = re.match(r"^\[+\s*([^\]]+?)\s*\]+", line)
        if m:
            current = m.group(1)
            if current == table:
                header_line = number
            continue
        if key and current == table and re.match(rf'^"?{re.escape(key)}"?\s*=', line):
            return number
    return header_line


def _error(path: Path, text: str, table: str | None, key: str | None, reason: str) -> ConfigError:
    dotted = ".".join(k for k in (table, key) if k)
    return ConfigError(path, reason, key=dotted or None, line=find_line(text, table, key))


def read_toml(path: Path, overlay: Overlay | None = None) -> tuple[dict, str]:
    """Parse one file; ``overlay`` maps paths to staged text (None = deleted) to use instead."""
    try:
        if overlay is not None and path in overlay:
            text = overlay[path]
            if text is None:
                raise FileNotFoundError(path)
        else:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read: {exc}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else None
        reason = re.sub(r"\s*\(at (line|end of document).*\)", "", msg)
        if m:
            reason += f" (column {m.group(2)})"
        elif "end of document" in msg:
            line = max(1, len(text.splitlines()))
            reason += " (at the end of the file)"
        raise ConfigError(path, f"invalid TOML: {reason}", line=line) from None


class _Table:
    """Typed access to one TOML table that remembers which keys were used."""

    def __init__(self, path: Path, text: str, name: str | None, data: Any) -> None:
        self.path, self.text, self.name = path, text, name
        if not isinstance(data, dict):
            raise _error(path, text, None, name, "must be a table")
        self.data = data
        self.used: set[str] = set()

    def err(self, key: str, reason: str) -> ConfigError:
        return _error(self.path, self.text, self.name, key, reason)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool) or not isinstance(value, kinds):
            names = " or ".join(_type_name(k) for k in kinds)
            raise self.err(key, f"must be {names}, not {_type_name(type(value))}")
        return value

    def str_list(self, key: str) -> list[str]:
        value = self.get(key, list, [])
        if not all(isinstance(v, str) for v in value):
            raise self.err(key, "must be a list of strings")
        return value

    def duration(self, key: str, default: int) -> int:
        """Seconds, from an integer or a text like "30s", "5m", "4h", "5d" ("" = default)."""
        value = self.get(key, (str, int), default)
        try:
            return parse_duration(default if value == "" else value)
        except ValueError as exc:
            raise self.err(key, str(exc)) from None

    def size(self, key: str, default: int = 0) -> int:
        """Bytes, from an integer or a text like "500K", "10M"."""
        try:
            return parse_size(self.get(key, (str, int), default))
        except ValueError as exc:
            raise self.err(key, str(exc)) from None

    def secret(self, key: str) -> str:
        """A password or token: kept in clear text (lanmaild logs in with it), so the file
        holding it must not be readable by everybody (``check_secret_file``)."""
        value = self.get(key, str, "")
        if value:
            check_secret_file(self.path, ".".join(k for k in (self.name, key) if k))
        return value

    def non_negative(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if value < 0:
            raise self.err(key, "must be 0 or more")
        return value

    def finish(self, allowed_extra: set[str] = frozenset()) -> None:
        for key in self.data:
            if key not in self.used and key not in allowed_extra:
                raise self.err(key, "unknown key")


Table = _Table  # for the modules that own sections (register_*_section)


def check_secret_file(path: Path, key: str) -> None:
    """A file holding a secret must be 0600/0640; ConfigError naming ``key`` otherwise.
    A file lanmaild itself is about to write (``STAGED``) gets that mode from the writer."""
    if path in STAGED.get():
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # validated from an overlay before the file exists: the writer makes it 0600
    if mode & stat.S_IROTH:
        raise ConfigError(path, "holds a password but is readable by everybody: "
                          f"chmod 600 {path.name} (or 640)", key=key)


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", list: "a list",
            dict: "a table", float: "a number"}.get(kind, kind.__name__)


def resolve_path(base: Path, value: str) -> Path:
    """A path from a config file: relative ones are relative to conf.d."""
    return _resolve(base, value)


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def _networks(table: _Table, key: str) -> tuple[Network, ...]:
    nets = []
    for item in table.str_list(key):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise table.err(key, f"'{item}' is not an IP network (e.g. 192.168.1.0/24)") from None
    return tuple(nets)


def parse_hostport(item: str) -> tuple[str, int]:
    """'127.0.0.1:25' / '[::1]:25' / ':25' -> (host, port)."""
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d+)$", item) or re.match(r"^([^:\[\]]*):(\d+)$", item)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ValueError(item)
    return m.group(1) or "0.0.0.0", int(m.group(2))


# --------------------------------------------------------------------------- main file


def _server(path: Path, text: str, data: dict, base: Path) -> ServerConfig:
    t = _Table(path, text, "server", data.get("server", {}))
    hostname = t.get("hostname", str, "localhost")
    if not DOMAIN_RE.match(hostname):
        raise t.err("hostname", f"'{hostname}' is not a host name")
    domains = t.str_list("domains")
    if not domains:
        raise t.err("domains", "list at least one local mail domain, e.g. [\"lan.example\"]")
    for d in domains:
        if not DOMAIN_RE.match(d):
            raise t.err("domains", f"'{d}' is not a domain name")
    data_dir = _resolve(base, t.get("data_dir", str, "data"))
    sock = t.get("control_socket", str, "")
    cfg = ServerConfig(
        hostname=hostname.lower(),
        domains=tuple(dict.fromkeys(d.lower().rstrip(".") for d in domains)),
        data_dir=data_dir,
        control_socket=_resolve(base, sock) if sock else data_dir / "lanmaild.sock",
        trusted_networks=_networks(t, "trusted_networks"),
        plaintext_auth=_networks(t, "plaintext_auth"),
        email_commands_trusted=t.get("email_commands_trusted", bool, False),
        user=_system_name(t, "user", "getpwnam"),
        admin_group=_system_name(t, "admin_group", "getgrnam"),
    )
    t.finish()
    return cfg


def _system_name(t: _Table, key: str, lookup: str) -> str:
    """A user (``getpwnam``) or group (``getgrnam``) name that must exist on this machine
    (the packaging's sysusers snippet makes ``lanmail`` and ``lanmail-admin``)."""
    import grp
    import pwd

    name = t.get(key, str, "")
    try:
        if name:
            getattr(pwd if lookup == "getpwnam" else grp, lookup)(name)
        exists = True
    except KeyError:
        exists = False
    if not exists:
        raise t.err(key, f"'{name}' does not exist on this machine (systemd-sysusers "
                         "lanmail.sysusers makes the lanmail user and lanmail-admin group)")
    return name


def _listen(path: Path, text: str, data: dict) -> ListenConfig:
    t = _Table(path, text, "listen", data.get("listen", {}))
    values = {}
    for service in ListenConfig.__dataclass_fields__:
        addrs = []
        for item in t.str_list(service):
            try:
                addrs.append(parse_hostport(item))
            except ValueError:
                raise t.err(service, f"'{item}' is not \"host:port\" (e.g. \"127.0.0.1:2525\")") \
                    from None
        values[service] = tuple(addrs)
    t.finish()
    return ListenConfig(**values)


def _tls(path: Path, text: str, data: dict, base: Path) -> TLSConfig:
    t = _Table(path, text, "tls", data.get("tls", {}))
    cert, key = t.get("cert", str, ""), t.get("key", str, "")
    t.finish()
    if bool(cert) != bool(key):
        raise t.err("cert" if not cert else "key", "set both cert and key, or neither")
    if not cert:
        return TLSConfig()
    cfg = TLSConfig(cert=_resolve(base, cert), key=_resolve(base, key))
    for name, p in (("cert", cfg.cert), ("key", cfg.key)):
        if not p.is_file():
            raise t.err(name, f"file not found: {p}")
    return cfg


def _limits(path: Path, text: str, data: dict) -> LimitsConfig:
    t = _Table(path, text, "limits", data.get("limits", {}))
    defaults = LimitsConfig()
    values = {k: t.non_negative(k, getattr(defaults, k)) for k in LimitsConfig.__dataclass_fields__}
    t.finish()
    for key in ("message_size", "recipients", "connections_per_ip", "line_length",
                "connections_per_service", "prelogin_literal"):
        if values[key] == 0:
            raise t.err(key, "must be at least 1")
    if values["line_length"] < 1000:
        raise t.err("line_length", "must be at least 1000 (RFC 5321 4.5.3.1.6)")
    return LimitsConfig(**values)


# --------------------------------------------------------------------------- accounts, groups


def load_account(path: Path, overlay: Overlay | None = None) -> Account:
    data, text = read_toml(path, overlay)
    name = path.stem
    problem = name_problem(name, "account")
    if problem:
        raise ConfigError(path, f"bad file name: {problem}")
    t = _Table(path, text, None, data)
    password = t.get("password", str, "")
    if not password:
        raise t.err("password", "missing: set it with 'lanmailctl account modify "
                    f"{name} --password-stdin'")
    if not is_password_hash(password):
        raise t.err("password", "is not a password hash; never put a clear-text password "
                    "here, set it with 'lanmailctl account modify NAME --password-stdin'")
    forward_to = t.get("forward_to", str, "").strip()
    if forward_to and not (NAME_RE.match(forward_to) or ADDRESS_RE.match(forward_to)):
        raise t.err("forward_to", f"'{forward_to}' is neither a local name nor an address")
    sms_number = t.get("sms_number", str, "").strip()
    if sms_number:
        compact = re.sub(r"[ ()/.-]", "", sms_number)
        if not SMS_RE.match(sms_number) or not re.fullmatch(r"\+[1-9][0-9]{6,14}", compact):
            raise t.err("sms_number", f"'{sms_number}' is not a phone number in international "
                        "form (E.164, e.g. +491701234567)")
        sms_number = compact
    einvoice = t.get("einvoice", bool, False)
    for key, value in (("forward_to", forward_to), ("sms_number", sms_number)):
        if einvoice and value:
            raise t.err(key, "is not available on an e-invoice mailbox (einvoice = true)")
    extra = {}
    for section, validator in _account_sections.items():
        if section in data:
            t.used.add(section)
            extra[section] = validator(path, text, data[section])
    account = Account(
        name=name,
        password=password,
        display_name=t.get("display_name", str, ""),
        postmaster=t.get("postmaster", bool, False),
        archive=t.get("archive", bool, False),
        deny_internet=t.get("deny_internet", bool, False),
        save_sent=t.get("save_sent", bool, False),
        einvoice=einvoice,
        forward_to=forward_to,
        keep_copy=t.get("keep_copy", bool, False),
        sms_number=sms_number,
        quota=t.non_negative("quota", 0),
        send_as=_send_as(t),
        extra=extra,
    )
    t.finish()
    return account


def _send_as(t: _Table) -> tuple[str, ...]:
    """``send_as``: full addresses, ``*@domain`` or ``*`` (any sender)."""
    items = []
    for item in t.str_list("send_as"):
        value = item.strip().lower()
        if value == "*" or ADDRESS_RE.match(value) or (
                value.startswith("*@") and DOMAIN_RE.match(value[2:])):
            items.append(value)
        else:
            raise t.err("send_as", f"'{item}' is not an address, \"*@domain\" or \"*\"")
    return tuple(items)


def load_group(path: Path, overlay: Overlay | None = None) -> Group:
    data, text = read_toml(path, overlay)
    name = path.stem
    problem = name_problem(name, "group")
    if problem:
        raise ConfigError(path, f"bad file name: {problem}")
    t = _Table(path, text, None, data)
    members = t.str_list("members")
    for m in members:
        if not (NAME_RE.match(m) or ADDRESS_RE.match(m)):
            raise t.err("members", f"'{m}' is neither a local name nor an address")
    group = Group(name=name, members=tuple(members), description=t.get("description", str, ""))
    t.finish()
    return group


def _load_dir(directory: Path, loader: Callable[..., Any], overlay: Overlay | None
              ) -> dict[str, Any]:
    items: dict[str, Any] = {}
    paths = set(directory.glob("*.toml")) if directory.is_dir() else set()
    for path, text in (overlay or {}).items():
        if path.parent == directory and path.suffix == ".toml":
            if text is None:
                paths.discard(path)
            else:
                paths.add(path)
    for path in sorted(p for p in paths if not p.name.startswith(".")):
        item = loader(path, overlay)
        if item.key in items:
            raise ConfigError(path, f"'{item.name}' exists twice (names are case-insensitive)")
        items[item.key] = item
    return items


def check_local_targets(cfg: Config, account, items, key: str,
                        allow_self: bool = False) -> None:
    """Forwarding-style targets of ``account`` (names, groups, addresses): every local one
    (a bare name, or name@ a local domain) is an existing account or group (other than the
    account itself unless ``allow_self``), or ConfigError naming ``key``: a typo must not
    drop mail."""
    path = cfg.config_dir / "accounts" / f"{account.name}.toml"
    for item in items:
        local, at, domain = item.rpartition("@")
        name = local if at and cfg.is_local_domain(domain) else None if at else item
        if name is None:
            continue
        if name.lower() == account.key and not allow_self:
            raise ConfigError(path, "an account cannot forward to itself", key=key)
        if cfg.account(name) is None and cfg.group(name) is None:
            raise ConfigError(path, f"'{item}' is not a local account or group", key=key)


def _check_cross_refs(cfg_path: Path, accounts: dict, groups: dict, domains: tuple) -> None:
    base = cfg_path.parent

    def local_name(addr: str) -> str | None:
        """The local name ``addr`` points to (bare name or name@local-domain), else None."""
        if "@" not in addr:
            return addr.lower()
        local, domain = addr.rsplit("@", 1)
        return local.lower() if domain.lower().rstrip(".") in domains else None

    postmasters = [a for a in accounts.values() if a.postmaster]
    if len(postmasters) > 1:
        names = ", ".join(sorted(a.name for a in postmasters))
        raise ConfigError(base / "accounts", f"more than one postmaster ({names}); "
                          "at most one account may have postmaster = true")
    for account in accounts.values():
        target = local_name(account.forward_to) if account.forward_to else None
        if target is None:
            continue
        path = base / "accounts" / f"{account.name}.toml"
        if target == account.key:
            raise ConfigError(path, "an account cannot forward to itself", key="forward_to")
        if target not in accounts and target not in groups:
            raise ConfigError(path, f"'{account.forward_to}' is not a local account or group",
                              key="forward_to")
    for key, group in groups.items():
        path = base / "groups" / f"{group.name}.toml"
        if key in accounts:
            raise ConfigError(path, f"a group and an account cannot share the name "
                              f"'{group.name}'")
        for member in group.members:
            target = local_name(member)
            if target is not None and target not in accounts and target not in groups:
                raise ConfigError(path, f"member '{member}' is not a local account or group",
                                  key="members")
    # Groups may contain groups, but not in a circle (mail would go round for ever).
    edges = {k: [t for m in g.members if (t := local_name(m)) in groups]
             for k, g in groups.items()}
    done: set[str] = set()

    def visit(key: str, trail: list[str]) -> None:
        if key in trail:
            loop = " -> ".join(groups[k].name for k in trail[trail.index(key):] + [key])
            raise ConfigError(base / "groups" / f"{groups[key].name}.toml",
                              f"groups contain each other in a circle ({loop})", key="members")
        if key in done:
            return
        for nxt in edges[key]:
            visit(nxt, trail + [key])
        done.add(key)

    for key in groups:
        visit(key, [])


def load_config(config_dir: Path | str, overlay: Overlay | None = None) -> Config:
    """Load and validate all of conf.d; raises ConfigError with file, line and key.

    ``overlay`` (used by the control API before it writes anything) maps absolute file paths
    to the text they are about to get, or None for a file about to be removed, so a change
    is validated as part of the complete configuration while the disk is still untouched.
    """
    _load_extensions()
    token = STAGED.set(frozenset(overlay or ()))
    try:
        return _load_config(config_dir, overlay)
    finally:
        STAGED.reset(token)


def _load_config(config_dir: Path | str, overlay: Overlay | None) -> Config:
    base = Path(config_dir).resolve()
    if not base.is_dir():
        raise ConfigError(base, "config directory not found")
    main = base / MAIN_FILE
    data, text = read_toml(main, overlay)
    known = {"server", "listen", "tls", "limits", *_main_sections}
    for key in data:
        if key not in known:
            raise _error(main, text, key if isinstance(data[key], dict) else None,
                         None if isinstance(data[key], dict) else key, "unknown section or key")
    server = _server(main, text, data, base)
    listen = _listen(main, text, data)
    tls = _tls(main, text, data, base)
    for service in IMPLICIT_TLS_SERVICES:
        if getattr(listen, service) and not tls.enabled:
            raise _error(main, text, "listen", service,
                         "implicit TLS needs a certificate: set [tls] cert and key, "
                         "or leave this list empty")
    limits = _limits(main, text, data)
    accounts = _load_dir(base / "accounts", load_account, overlay)
    groups = _load_dir(base / "groups", load_group, overlay)
    _check_cross_refs(main, accounts, groups, server.domains)
    sections = {name: validator(main, text, data.get(name))
                for name, validator in _main_sections.items()}
    config = Config(config_dir=base, server=server, listen=listen, tls=tls, limits=limits,
                    accounts=accounts, groups=groups, sections=sections)
    for check in _config_checks:
        check(config)
    return config
