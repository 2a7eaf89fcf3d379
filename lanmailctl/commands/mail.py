"""``lanmailctl mail list ACCOUNT [--folder F] [--json]`` (control API op ``mail.list``)."""

from __future__ import annotations

import time

import typer

from ..cli import JSON_OPTION, emit, print_table, state

mail_app = typer.Typer(no_args_is_help=True, help="Look at the mail stored in mailboxes.")


def _date(ts: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


@mail_app.command("list")
def list_(
    account: str = typer.Argument(..., help="the account"),
    folder: str = typer.Option("INBOX", "--folder", "-f", metavar="FOLDER",
                               help="the folder (default INBOX), e.g. INBOX.SENT"),
    limit: int = typer.Option(1000, "--limit", metavar="N", help="at most N messages"),
    json_: bool = JSON_OPTION,
) -> None:
    """List the messages of one folder: UID, date, size, flags, from, subject."""

    def human(r: dict) -> None:
        typer.echo(f"{r['account']} {r['folder']}: {r['total']} messages")
        print_table(["UID", "DATE", "SIZE", "FLAGS", "FROM", "SUBJECT"],
                    [[m["uid"], _date(m["internaldate"]), m["size"], " ".join(m["flags"]),
                      m["from"][:40], m["subject"][:60]] for m in r["messages"]])

    emit(state.call("mail.list", account=account, folder=folder, limit=limit), human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(mail_app, name="mail")
