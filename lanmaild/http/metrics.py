"""``GET /metrics``: Prometheus text format 0.0.4 (issue 13) on the HTTP listener.

Counters since the start of lanmaild (messages delivered and their mailbox copies, the
outgoing results, log-ins per protocol and result, fetched messages) and gauges read at
scrape time (queue by state, connections, uptime). Only loopback and the networks in
``[http] metrics_from`` may scrape (counts of log-ins are nobody else's business).
"""

from __future__ import annotations

import ipaddress
import time

from aiohttp import web

from .settings import http_settings


def routes(app: web.Application, runtime) -> None:
    async def handler(request: web.Request) -> web.Response:
        if not _allowed(runtime, request.remote or ""):
            return web.Response(status=403, text="metrics: not from this address\n")
        text = await render(runtime)
        return web.Response(text=text, content_type="text/plain",
                            headers={"Cache-Control": "no-store"}, charset="utf-8")

    app.router.add_get("/metrics", handler)


def _allowed(runtime, ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return addr.is_loopback or any(addr in net for net in
                                   http_settings(runtime.config).metrics_from)


def _metric(out: list[str], name: str, kind: str, help_: str,
            samples: list[tuple[dict, float]]) -> None:
    out.append(f"# HELP {name} {help_}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        label = ",".join(f'{k}="{v}"' for k, v in labels.items())
        out.append(f"{name}{{{label}}} {value:g}" if label else f"{name} {value:g}")


async def render(runtime) -> str:
    services = runtime.services
    out: list[str] = []
    worker = services.get("delivery")
    stats = worker.stats if worker is not None else {}
    _metric(out, "lanmail_messages_delivered_total", "counter",
            "Messages through the delivery pipeline.", [({}, stats.get("messages", 0))])
    _metric(out, "lanmail_mailbox_copies_total", "counter",
            "Copies stored in mailboxes.", [({}, stats.get("copies", 0))])
    _metric(out, "lanmail_delivery_queued_seconds_sum", "counter",
            "Seconds from acceptance to the mailbox, summed over queued messages.",
            [({}, stats.get("queued_seconds", 0))])
    _metric(out, "lanmail_delivery_queued_seconds_count", "counter",
            "Messages that went through the queue.", [({}, stats.get("queued_messages", 0))])
    outgoing = services.get("outgoing")
    if outgoing is not None:
        _metric(out, "lanmail_outgoing_total", "counter", "Outgoing results per recipient.",
                [({"result": k}, v) for k, v in outgoing.stats.items()])
    _metric(out, "lanmail_logins_total", "counter", "Log-ins per protocol and result.",
            [({"service": s, "result": r}, n)
             for (s, r), n in sorted(runtime.auth.counts.items())])
    fetcher = services.get("fetch")
    if fetcher is not None:
        status = fetcher.status()
        _metric(out, "lanmail_fetched_total", "counter",
                "Messages fetched from external mailboxes.",
                [({"mailbox": k}, v.get("total", 0)) for k, v in sorted(status.items())])
        _metric(out, "lanmail_fetch_failing", "gauge",
                "1 while an external mailbox's last fetch failed.",
                [({"mailbox": k}, 1 if v.get("result") == "error" else 0)
                 for k, v in sorted(status.items())])
    counts = await runtime.store.queue.counts()
    _metric(out, "lanmail_queue_messages", "gauge", "Recipients in the queue by state.",
            [({"state": k}, v) for k, v in sorted(counts.items())])
    per_service = runtime.limiter.snapshot().get("per_service", {})
    _metric(out, "lanmail_connections", "gauge", "Open client connections per service.",
            [({"service": k}, v) for k, v in per_service.items()])
    _metric(out, "lanmail_uptime_seconds", "gauge", "Seconds since lanmaild started.",
            [({}, int(time.time() - runtime.started))])
    return "\n".join(out) + "\n"
