"""The HTTP listener (``[listen] http``; off by default, LANMailServer's port is 6080):
aiohttp serving the routes of the packages in ``ROUTE_MODULES`` (each has
``routes(app, runtime)``): the OAuth2 endpoints and login page (``lanmaild.oauth.web``)
the JSON API over the control ops (``api``), the Prometheus ``metrics`` and the
mail programs' ``autoconfig``.

HTTPS when ``[tls]`` has a certificate (unless ``[http] tls = false``). Request bodies are
capped at ``MAX_BODY``; aiohttp caps header lines and counts. Every request is one line in
the log (no query strings: they carry codes and states).
"""

from __future__ import annotations

from . import settings as settings  # registers [http]

ROUTE_MODULES = ("lanmaild.oauth.web", "lanmaild.http.api", "lanmaild.http.metrics",
                 "lanmaild.http.autoconfig")


async def start(runtime) -> list:
    if not runtime.config.listen.http:
        return []
    from .server import HttpService  # aiohttp only when the listener is on

    service = HttpService(runtime)
    await service.start(ROUTE_MODULES)
    runtime.services["http"] = service
    return [service]
