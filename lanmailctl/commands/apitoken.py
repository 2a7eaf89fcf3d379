"""``lanmailctl api-token add|list|delete`` (ops ``api_token.*``): admin tokens for the
HTTP JSON API (``/api/v1``; see lanmail-api(7))."""

from __future__ import annotations

import typer

from ..cli import JSON_OPTION, emit, print_table, state

api_token_app = typer.Typer(no_args_is_help=True,
                            help="Admin tokens for the HTTP JSON API (/api/v1).")
NAME = typer.Argument(..., metavar="NAME", help="what the token is for, e.g. backup-script")


@api_token_app.command("add")
def add(name: str = NAME, json_: bool = JSON_OPTION) -> None:
    """Make a token; prints it ONCE (only its hash is kept). It can do all that
    lanmailctl can: keep it like the root password."""

    def human(r: dict) -> None:
        typer.echo(r["token"])
        typer.echo(f"(API token {r['name']}: shown only now; use it as "
                   "'Authorization: Bearer <token>')", err=True)

    emit(state.call("api_token.add", name=name), human, json_)


@api_token_app.command("list")
def list_(json_: bool = JSON_OPTION) -> None:
    """Tokens by name, with when they were made and last used (never the token)."""

    def human(items: list) -> None:
        if not items:
            typer.echo("no API tokens")
            return
        print_table(["NAME", "CREATED", "LAST USED"],
                    [[t["name"], t["created"], t["last_used"] or "never"] for t in items])

    emit(state.call("api_token.list"), human, json_)


@api_token_app.command("delete")
def delete(name: str = NAME, json_: bool = JSON_OPTION) -> None:
    """Delete a token; it stops working at once."""
    emit(state.call("api_token.delete", name=name),
         lambda r: typer.echo(f"API token {r['name']} deleted"), json_)


def register(app: typer.Typer) -> None:
    app.add_typer(api_token_app, name="api-token")


