"""``lanmailctl status`` and ``lanmailctl reload``."""

from __future__ import annotations

import time

import typer

from ..cli import JSON_OPTION, print_json, state


def register(app: typer.Typer) -> None:
    @app.command()
    def status(json_: bool = JSON_OPTION) -> None:
        """Show whether lanmaild runs, its version, listeners and counts."""
        result = state.call("status")
        if json_ or state.json:
            print_json(result)
            return
        typer.echo(f"lanmaild {result['version']} running, pid {result['pid']}, "
                   f"up {result['uptime']} s")
        typer.echo(f"  config   {result['config_dir']}")
        typer.echo(f"  data     {result['data_dir']}")
        typer.echo(f"  domains  {', '.join(result['domains'])}")
        conns = result.get("connections", {})
        open_by = conns.get("per_service", {})
        for service, addrs in result["listen"].items():
            count = f"  ({open_by.get(service, 0)} open)" if service in open_by else ""
            typer.echo(f"  {service:<10} {' '.join(addrs)}{count}")
        typer.echo(f"  accounts {result['accounts']}, groups {result['groups']}")
        if conns:
            typer.echo(f"  connections: at most {conns['limit_per_service']} per service, "
                       f"{conns['limit_per_client']} per client (IPv6: per /64)")
            for item in conns["top_clients"]:
                typer.echo(f"    {item['client']:<24} {item['connections']}")
        services = result.get("services", {})
        if "outgoing" in services:
            o = services["outgoing"]
            typer.echo(f"  outgoing: {o['sent']} sent, {o['deferred']} deferred, "
                       f"{o['failed']} failed since start, {o['in_flight']} in flight")
        for name, f in sorted(services.get("fetch", {}).items()):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(f["last"])) \
                if f["last"] else "never"
            typer.echo(f"  external {name}: last fetch {when}, {f['result']}, "
                       f"{f['fetched']} fetched" + (f"; {f['error']}" if f["error"] else ""))
        if services.get("sms", {}).get("gateway"):
            s = services["sms"]
            typer.echo(f"  sms: {s['sent']} sent, {s['failed']} failed, {s['suppressed']} "
                       f"suppressed (rate limit), {s['queued']} queued"
                       + (f"; last error: {s['last_error']}" if s["last_error"] else ""))

    @app.command()
    def reload(json_: bool = JSON_OPTION) -> None:
        """Re-read conf.d (like SIGHUP); a broken file is refused and the old config stays."""
        result = state.call("reload")
        if json_ or state.json:
            print_json(result)
            return
        typer.echo(f"reloaded: {result['accounts']} accounts, {result['groups']} groups")
