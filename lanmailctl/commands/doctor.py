"""``lanmailctl doctor`` (op ``doctor``): one line per check with what to do."""

from __future__ import annotations

import typer

from ..cli import JSON_OPTION, emit, state


def doctor(json_: bool = JSON_OPTION) -> None:
    """Check what users would notice: listeners, certificate, DNS (MX, SPF, DKIM, DMARC),
    the smarthost and external logins, disk space, the store's integrity. Exit status 1
    when a check failed."""
    checks = state.call("doctor")

    def human(items: list) -> None:
        for c in items:
            line = f"{c['status'].upper():<5} {c['name']:<12} {c['message']}"
            typer.echo(line + (f"\n      {'':<12} -> {c['fix']}" if c["fix"] and
                               c["status"] in ("warn", "fail") else ""))

    emit(checks, human, json_)
    if any(c["status"] == "fail" for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
