"""Ops about the daemon itself: status, reload, help."""

from __future__ import annotations

import os
import time

from ... import __version__
from ..registry import OPS, op


@op("status")
async def status(runtime, args: dict) -> dict:
    """Version, pid, uptime, listeners and counts."""
    cfg = runtime.config
    listen = {name: [f"{h}:{p}" for h, p in getattr(cfg.listen, name)]
              for name in cfg.listen.__dataclass_fields__}
    return {
        "version": __version__,
        "pid": os.getpid(),
        "uptime": int(time.time() - runtime.started),
        "config_dir": str(cfg.config_dir),
        "data_dir": str(cfg.server.data_dir),
        "hostname": cfg.server.hostname,
        "domains": list(cfg.server.domains),
        "listen": {k: v for k, v in listen.items() if v},
        "tls": cfg.tls.enabled,
        "accounts": len(cfg.accounts),
        "groups": len(cfg.groups),
        "connections": runtime.limiter.snapshot(),
        "services": {name: svc.status() for name, svc in runtime.services.items()
                     if hasattr(svc, "status")},
    }


@op("reload")
async def reload(runtime, args: dict) -> dict:
    """Re-read conf.d; on an error the running config stays and the error is returned."""
    cfg = await runtime.reload()
    return {"accounts": len(cfg.accounts), "groups": len(cfg.groups)}


@op("help")
async def help_(runtime, args: dict) -> list:
    """The list of ops with one line each."""
    return [{"op": o.name, "summary": o.summary} for o in sorted(OPS.values(),
                                                                key=lambda o: o.name)]
