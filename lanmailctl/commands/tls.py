"""``lanmailctl tls selfsigned``: a certificate for a LAN without a public name."""

from __future__ import annotations

import typer

from ..cli import JSON_OPTION, emit, state

tls_app = typer.Typer(no_args_is_help=True, help="TLS certificates.")


@tls_app.command("selfsigned")
def selfsigned(days: int = typer.Option(3 * 365, "--days", help="validity (1-3650)"),
               name: list[str] = typer.Option(None, "--name",
                                              help="another name or IP address the clients "
                                                   "use (repeatable)"),
               force: bool = typer.Option(False, "--force",
                                          help="replace the certificate in [tls]"),
               json_: bool = JSON_OPTION) -> None:
    """Make a self-signed certificate for server.hostname (and the mail domains) and use
    it at once (STARTTLS; implicit-TLS listeners that were off start at the next restart).
    Mail programs warn once; installing cert.pem on the machines as trusted avoids it."""

    def human(r: dict) -> None:
        typer.echo(f"certificate for {', '.join(r['names'])}, valid {r['days']} days:")
        typer.echo(f"  {r['cert']}\n  {r['key']}")
        if r["restart_needed"]:
            typer.echo("restart lanmaild to start the implicit-TLS listeners")

    emit(state.call("tls.selfsigned", days=days, names=name or [], force=force), human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(tls_app, name="tls")
