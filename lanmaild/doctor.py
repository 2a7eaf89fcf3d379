"""``lanmailctl doctor``: what is wrong, before the users notice (issue 13).

One result per check: ``ok``, ``warn`` (works, but look), ``fail`` (broken) or ``skip``
(cannot be checked from here), each with a line saying what to do. Checks: every listener
answers; the certificate (expiry, the hostname in it); DNS for each mail domain where it
resolves (MX, SPF, DKIM for each key, DMARC; the resolver of ``[outgoing] dns_servers``);
the smarthost login; every external mailbox's login; free disk space in data_dir; the
store's ``PRAGMA integrity_check``. Checks that wait on the network run concurrently with
short timeouts, so a dead provider costs seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from dataclasses import asdict, dataclass

DNS_TIMEOUT = 3.0
CONNECT_TIMEOUT = 3.0
CERT_WARN_DAYS = 21


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    message: str
    fix: str = ""


async def _port(service: str, host: str, port: int) -> Check:
    target = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection(target, port), CONNECT_TIMEOUT)
        w.close()
        return Check("port", "ok", f"{service} {host}:{port} answers")
    except (OSError, TimeoutError) as exc:
        return Check("port", "fail", f"{service} {host}:{port} does not answer ({exc})",
                     "look at lanmaild's log; a changed [listen] needs a restart")


def _certificate(cfg) -> list[Check]:
    if not cfg.tls.enabled:
        return [Check("certificate", "warn", "no certificate: no STARTTLS, no implicit TLS",
                      "lanmailctl tls selfsigned, or set [tls] cert and key")]
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cfg.tls.cert.read_bytes())
    except (OSError, ValueError) as exc:
        return [Check("certificate", "fail", f"{cfg.tls.cert}: {exc}",
                      "point [tls] cert at a PEM certificate chain")]
    left = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
    out = []
    if left < 0:
        out.append(Check("certificate", "fail", f"expired {-left} days ago",
                         "renew it, then lanmailctl reload"))
    elif left < CERT_WARN_DAYS:
        out.append(Check("certificate", "warn", f"expires in {left} days",
                         "renew it, then lanmailctl reload"))
    else:
        out.append(Check("certificate", "ok", f"valid for {left} more days"))
    try:
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    host = cfg.server.hostname
    if not any(n == host or (n.startswith("*.") and host.endswith(n[1:])) for n in names):
        out.append(Check("certificate", "warn", f"not made for {host} (names: "
                         f"{', '.join(names) or 'none'})",
                         "mail programs will warn: use a certificate for the hostname"))
    return out


def _resolver(runtime):
    """The resolver the MX transport uses ([outgoing] dns_servers or the system's)."""
    from .transports.mx import MxResolver
    from .transports.settings import global_settings

    return MxResolver(global_settings(runtime.config).dns_servers, DNS_TIMEOUT).resolver


async def _txt(resolver, name: str) -> list[str] | None:
    """TXT strings at ``name``; [] when there are none; None when DNS cannot answer."""
    import dns.exception
    import dns.resolver

    try:
        answer = await resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers):
        return None
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


async def _dns(runtime, domain: str) -> list[Check]:
    import dns.exception
    import dns.resolver

    from .transports.prepare import dkim_keys

    cfg = runtime.config
    r = _resolver(runtime)
    try:
        mx = await r.resolve(domain, "MX")
        hosts = sorted(str(x.exchange).rstrip(".").lower() for x in mx)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        hosts = []
    except (dns.exception.Timeout, dns.resolver.NoNameservers):
        return [Check("dns", "skip", f"{domain}: DNS does not answer from here",
                      "check from a machine with DNS, or set [outgoing] dns_servers")]
    out = []
    if not hosts:
        out.append(Check("dns", "warn", f"{domain}: no MX record",
                         "fine for a LAN-only domain; for mail from the internet publish "
                         f"MX 10 {cfg.server.hostname}"))
    elif cfg.server.hostname in hosts:
        out.append(Check("dns", "ok", f"{domain}: MX {', '.join(hosts)}"))
    else:
        out.append(Check("dns", "warn", f"{domain}: MX {', '.join(hosts)} (not "
                         f"{cfg.server.hostname})", "fine behind a provider's MX; else "
                         f"point the MX at {cfg.server.hostname}"))
    spf = [t for t in await _txt(r, domain) or [] if t.lower().startswith("v=spf1")]
    out.append(Check("dns", "ok", f"{domain}: SPF {spf[0]}") if spf else
               Check("dns", "warn", f"{domain}: no SPF record",
                     f'publish TXT "v=spf1 mx -all" for {domain} (or your provider\'s)'))
    for key in dkim_keys(cfg.server.data_dir).list(domain):
        want = key.public_record().split("p=", 1)[1]
        found = await _txt(r, key.dns_name) or []
        ok = any(want in t.replace(" ", "") for t in found)
        out.append(Check("dns", "ok", f"{key.dns_name}: DKIM key published") if ok else
                   Check("dns", "warn", f"{key.dns_name}: DKIM key not published",
                         f"lanmailctl dkim show {domain}: publish that TXT record"))
    dmarc = [t for t in await _txt(r, f"_dmarc.{domain}") or []
             if t.upper().startswith("V=DMARC1")]
    out.append(Check("dns", "ok", f"_dmarc.{domain}: {dmarc[0]}") if dmarc else
               Check("dns", "warn", f"_dmarc.{domain}: no DMARC record",
                     f'publish TXT "v=DMARC1; p=none; rua=mailto:postmaster@{domain}"'))
    return out


async def _smarthost(runtime) -> list[Check]:
    from .transports.settings import global_settings
    from .transports.smtp import SmtpTransport
    from .transports.xoauth2 import access_token

    g = global_settings(runtime.config)
    if g.transport != "smtp" or not g.smtp.host:
        return []
    s = g.smtp
    t = SmtpTransport(s, runtime.config.server.hostname, 1,
                      token=lambda: access_token(runtime, s))
    try:
        error = await asyncio.wait_for(t.check(), s.timeout + 5)
    except TimeoutError:
        error = "no answer"
    finally:
        await t.close()
    where = f"{s.host}:{s.port}"
    if error is None:
        return [Check("smarthost", "ok", f"{where}: connected" +
                      (" and logged in" if s.user else ""))]
    return [Check("smarthost", "fail", f"{where}: {error}",
                  "check [outgoing.smtp] host, port, tls, user and password "
                  "(lanmailctl outgoing set ...)")]


async def _external(runtime) -> list[Check]:
    from .fetch.run import check_login
    from .fetch.settings import mailboxes

    async def one(account: str, mb) -> Check:
        error = await check_login(runtime, account, mb)
        name = f"{account}/{mb.name} ({mb.protocol} {mb.host}:{mb.port})"
        if error is None:
            return Check("external", "ok", f"{name}: logged in")
        return Check("external", "fail", f"{name}: {error}",
                     f"lanmailctl external modify {account} {mb.name} ... "
                     "(--password-stdin, or oauth2-login)")

    return list(await asyncio.gather(*(one(a, mb) for a, mb in
                                       mailboxes(runtime.config) if mb.enabled)))


def _disk(cfg) -> list[Check]:
    usage = shutil.disk_usage(cfg.server.data_dir)
    free_gb = usage.free / 2**30
    share = usage.free / usage.total if usage.total else 1
    if usage.free < 2**30 or share < 0.05:
        return [Check("disk", "fail" if usage.free < 2**28 else "warn",
                      f"{cfg.server.data_dir}: {free_gb:.1f} GB free ({share:.0%})",
                      "free space or move data_dir: a full disk stops mail (451)")]
    return [Check("disk", "ok", f"{cfg.server.data_dir}: {free_gb:.1f} GB free "
                                f"({share:.0%})")]


async def _store(runtime) -> list[Check]:
    try:
        problems = await runtime.store.integrity_check()
    except Exception as exc:  # noqa: BLE001 - reported
        return [Check("store", "fail", f"integrity check failed to run: {exc}",
                      "look at lanmaild's log")]
    if problems == ["ok"]:
        return [Check("store", "ok", "integrity_check: ok")]
    return [Check("store", "fail", f"integrity_check: {'; '.join(problems[:3])}",
                  "stop lanmaild, lanmailctl restore the last backup (or ask for help "
                  "with sqlite3 .recover)")]


async def run(runtime) -> list[dict]:
    cfg = runtime.config
    ports = [_port(name, host, port) for name in cfg.listen.__dataclass_fields__
             for host, port in getattr(cfg.listen, name)]
    groups = await asyncio.gather(
        asyncio.gather(*ports), *(_dns(runtime, d) for d in cfg.server.domains),
        _smarthost(runtime), _external(runtime), _store(runtime))
    checks: list[Check] = list(groups[0])
    checks += _certificate(cfg)
    for group in groups[1:]:
        checks += group
    checks += _disk(cfg)
    return [asdict(c) for c in checks]
