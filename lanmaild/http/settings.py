"""``[http]`` in lanmaild.toml: how the HTTP listener (``[listen] http``) presents itself.

    [http]
    public_url = "https://mail.firma.lan:6080"   # default: from hostname and the listener
    tls = true        # HTTPS when [tls] has a certificate (false: plain HTTP on a LAN)
    metrics_from = ["10.0.0.5/32"]   # who may read /metrics besides loopback

Plain HTTP: OAuth2 log-ins and tokens are then accepted only from loopback and the
``server.plaintext_auth`` networks, as passwords are for the mail protocols.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config.loader import Table, register_main_section


@dataclass(frozen=True)
class HttpSettings:
    public_url: str = ""
    tls: bool = True
    metrics_from: tuple = ()  # networks besides loopback that may read /metrics


def parse_http(path, text: str, data) -> HttpSettings:
    if data is None:
        return HttpSettings()
    t = Table(path, text, "http", data)
    url = t.get("public_url", str, "").rstrip("/")
    if url:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.netloc or u.query or u.fragment:
            raise t.err("public_url", f"'{url}' is not a base URL like "
                                      "https://mail.firma.lan:6080")
    nets = []
    for text in t.str_list("metrics_from"):
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise t.err("metrics_from", f"'{text}' is not a network (e.g. 10.0.0.0/8)") \
                from None
    cfg = HttpSettings(public_url=url, tls=t.get("tls", bool, True),
                       metrics_from=tuple(nets))
    t.finish()
    return cfg


def http_settings(cfg) -> HttpSettings:
    return cfg.sections.get("http", HttpSettings())


def uses_tls(runtime) -> bool:
    return http_settings(runtime.config).tls and runtime.tls_context is not None


def credentials_allowed(runtime, secure: bool, ip: str) -> bool:
    """May a request carrying a password or token be served? HTTPS always; plain HTTP from
    loopback and the ``server.plaintext_auth`` networks (the mail ports' rule)."""
    if secure:
        return True
    try:
        if ipaddress.ip_address(ip).is_loopback:
            return True
    except ValueError:
        return False
    return runtime.auth.plaintext_allowed(ip, False)


def base_url(runtime) -> str:
    """The URL clients use: ``public_url``, else hostname and the first listener."""
    cfg = runtime.config
    configured = http_settings(cfg).public_url
    if configured:
        return configured
    port = cfg.listen.http[0][1] if cfg.listen.http else 6080
    scheme = "https" if uses_tls(runtime) else "http"
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{cfg.server.hostname}" + ("" if port == default else f":{port}")


register_main_section("http", parse_http)
