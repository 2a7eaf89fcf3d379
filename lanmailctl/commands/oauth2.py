"""``lanmailctl oauth2 add|list|show|delete|urls|introspect`` (control API ops ``oauth2.*``):
the seed's "OAuth2 Clients" tab."""

from __future__ import annotations

import sys

import typer

from ..cli import JSON_OPTION, emit, fail, print_table, state

oauth2_app = typer.Typer(no_args_is_help=True,
                         help="OAuth2 clients per account (XOAUTH2/OAUTHBEARER log-ins).")

SHORT = ("imap", "pop3", "smtp")


@oauth2_app.command("add")
def add(name: str = typer.Argument(..., metavar="ACCOUNT"),
        scope: str = typer.Option("imap,pop3,smtp", "--scope",
                                  help="what tokens may do: imap, pop3, smtp (comma-separated)"),
        redirect_uri: list[str] = typer.Option(..., "--redirect-uri",
                                               help="where the browser returns the code "
                                                    "(repeatable; exact match, any port for "
                                                    "http://127.0.0.1)"),
        client_name: str = typer.Option("", "--name", help="shown on the sign-in page"),
        public: bool = typer.Option(False, "--public",
                                    help="no secret (a mail program that cannot keep one): "
                                         "PKCE with S256 is then required"),
        json_: bool = JSON_OPTION) -> None:
    """Make a client; prints its id and secret ONCE (only a hash of the secret is kept)."""
    scopes = [s.strip().lower() for s in scope.split(",") if s.strip()]
    bad = [s for s in scopes if s not in SHORT]
    if bad or not scopes:
        fail(f"--scope takes imap, pop3 and smtp, not '{','.join(bad) or scope}'", 2)

    def human(r: dict) -> None:
        typer.echo(f"client_id:     {r['client_id']}")
        if r["client_secret"]:
            typer.echo(f"client_secret: {r['client_secret']}")
            typer.echo("(the secret is shown only now: store it in the application)",
                       err=not sys.stdout.isatty())
        else:
            typer.echo("public client: no secret; the application must use PKCE (S256)")

    emit(state.call("oauth2.add", name=name, scopes=scopes, redirect_uris=redirect_uri,
                    client_name=client_name, public=public), human, json_)


@oauth2_app.command("list")
def list_(name: str = typer.Argument(None, metavar="[ACCOUNT]"),
          json_: bool = JSON_OPTION) -> None:
    """Clients (of one account, or all) with their number of live tokens."""

    def human(items: list) -> None:
        if not items:
            typer.echo("no OAuth2 clients")
            return
        print_table(["ACCOUNT", "CLIENT ID", "NAME", "SCOPES", "TYPE", "TOKENS"],
                    [[c["account"], c["client_id"], c["name"], ",".join(c["scopes"]),
                      "public" if c["public"] else "confidential", c["tokens"]]
                     for c in items])

    emit(state.call("oauth2.list", name=name), human, json_)


@oauth2_app.command("show")
def show(client_id: str = typer.Argument(..., metavar="CLIENT_ID"),
         json_: bool = JSON_OPTION) -> None:
    """One client (never its secret: only a hash is kept)."""

    def human(c: dict) -> None:
        for key in ("account", "client_id", "name", "scopes", "redirect_uris", "public",
                    "created", "tokens"):
            value = c[key]
            typer.echo(f"{key + ':':<15}{', '.join(value) if isinstance(value, list) else value}")

    emit(state.call("oauth2.show", client_id=client_id), human, json_)


@oauth2_app.command("delete")
def delete(client_id: str = typer.Argument(..., metavar="CLIENT_ID"),
           json_: bool = JSON_OPTION) -> None:
    """Delete a client; its tokens stop working at once."""
    emit(state.call("oauth2.delete", client_id=client_id),
         lambda r: typer.echo(f"client {r['client_id']} of {r['account']} deleted "
                              f"({r['tokens_removed']} token(s) removed)"), json_)


@oauth2_app.command("urls")
def urls(json_: bool = JSON_OPTION) -> None:
    """The endpoints to enter in a mail program or script (the seed's "Copy URLs")."""
    emit(state.call("oauth2.urls"),
         lambda r: [typer.echo(f"{k + ':':<24}{v}") for k, v in r.items()], json_)


@oauth2_app.command("introspect")
def introspect(json_: bool = JSON_OPTION) -> None:
    """What a token (first line of stdin) is: active, account, client, scope, expiry."""
    token = sys.stdin.readline().strip()
    if not token:
        fail("give the token on stdin (never in argv: other users see argv)", 2)

    def human(r: dict) -> None:
        if not r["active"]:
            typer.echo("not active (unknown, expired, revoked, or its account, password or "
                       "client changed)")
            return
        for key in ("username", "client_id", "scope", "token_type", "exp"):
            typer.echo(f"{key + ':':<12}{r[key]}")

    emit(state.call("oauth2.introspect", token=token), human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(oauth2_app, name="oauth2")
