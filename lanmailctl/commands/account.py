"""``lanmailctl account add|modify|delete|list|show`` (control API ops ``account.*``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from lanmaild.config.units import format_size, parse_size

from ..cli import JSON_OPTION, emit, fail, print_table, read_password, state

FLAGS = ("postmaster", "archive", "deny_internet", "save_sent", "einvoice", "keep_copy")

account_app = typer.Typer(no_args_is_help=True,
                          help="Local mail accounts (conf.d/accounts/<name>.toml).")

# Shared options of add and modify: None = not given (modify leaves the value as it is).
DISPLAY_NAME = typer.Option(None, "--display-name", metavar="TEXT",
                            help="full name of the holder")
POSTMASTER = typer.Option(None, "--postmaster/--no-postmaster",
                          help="receives undeliverable mail; only one account can")
ARCHIVE = typer.Option(None, "--archive/--no-archive",
                       help="archive all mail of this account")
DENY_INTERNET = typer.Option(None, "--deny-internet/--allow-internet",
                             help="may send only to local accounts")
SAVE_SENT = typer.Option(None, "--save-sent/--no-save-sent",
                         help="keep mail sent via SMTP in INBOX.SENT")
EINVOICE = typer.Option(None, "--einvoice/--no-einvoice",
                        help="e-invoice mailbox (EN16931/XRechnung)")
FORWARD_TO = typer.Option(None, "--forward-to", metavar="ADDR",
                          help="forward all mail to a local account, group or address "
                               "('' = off)")
KEEP_COPY = typer.Option(None, "--keep-copy/--no-keep-copy",
                         help="keep a copy of forwarded mail here")
SMS_NUMBER = typer.Option(None, "--sms-number", metavar="NUMBER",
                          help="mobile number told about new mail ('' = off)")
QUOTA = typer.Option(None, "--quota", metavar="SIZE",
                     help="mailbox limit in bytes or with K/M/G (500M, 2G); 0 = none")
FORCE = typer.Option(False, "--force", help="with --postmaster: move it from the account "
                                            "that has it")
PASSWORD_STDIN = typer.Option(False, "--password-stdin",
                              help="read the password from the first line of stdin")


def _quota(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--quota") from None


def _settings(**values: Any) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _show_human(acct: dict) -> None:
    flags = [f for f in FLAGS if acct.get(f)]
    rows = [
        ("name", acct["name"]),
        ("display name", acct["display_name"]),
        ("settings", ", ".join(flags) or "-"),
        ("forward to", acct["forward_to"] or "-"),
        ("sms number", acct["sms_number"] or "-"),
        ("quota", format_size(acct["quota"]) if acct["quota"] else "none"),
        ("mail", f"{acct['messages']} messages, {format_size(acct['size'])}"),
        ("file", acct.get("file", "")),
    ]
    if acct.get("sections"):
        rows.append(("sections", ", ".join(acct["sections"])))
    for label, value in rows:
        typer.echo(f"{label + ':':<14}{value}")
    if "folders" in acct:
        typer.echo("")
        print_table(["FOLDER", "MESSAGES", "UNSEEN", "SIZE"],
                    [[f["name"], f["messages"], f["unseen"], format_size(f["size"])]
                     for f in acct["folders"]])


@account_app.command("add")
def add(
    name: str = typer.Argument(..., help="the local part: ASCII letters, digits, . - _"),
    password_stdin: bool = PASSWORD_STDIN,
    display_name: str | None = DISPLAY_NAME,
    postmaster: bool | None = POSTMASTER,
    archive: bool | None = ARCHIVE,
    deny_internet: bool | None = DENY_INTERNET,
    save_sent: bool | None = SAVE_SENT,
    einvoice: bool | None = EINVOICE,
    forward_to: str | None = FORWARD_TO,
    keep_copy: bool | None = KEEP_COPY,
    sms_number: str | None = SMS_NUMBER,
    quota: str | None = QUOTA,
    force: bool = FORCE,
    json_: bool = JSON_OPTION,
) -> None:
    """Add an account (asks for the password twice unless --password-stdin)."""
    size = _quota(quota)
    password = read_password(password_stdin)
    result = state.call("account.add", name=name, password=password, force=force or None,
                        **_settings(display_name=display_name, postmaster=postmaster,
                                    archive=archive, deny_internet=deny_internet,
                                    save_sent=save_sent, einvoice=einvoice,
                                    forward_to=forward_to, keep_copy=keep_copy,
                                    sms_number=sms_number, quota=size))
    emit(result, lambda r: typer.echo(f"account {r['name']} added"), json_)


@account_app.command("modify")
def modify(
    name: str = typer.Argument(..., help="the account"),
    password: bool = typer.Option(False, "--password",
                                  help="set a new password (asked twice on the terminal)"),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="set a new password read from stdin"),
    display_name: str | None = DISPLAY_NAME,
    postmaster: bool | None = POSTMASTER,
    archive: bool | None = ARCHIVE,
    deny_internet: bool | None = DENY_INTERNET,
    save_sent: bool | None = SAVE_SENT,
    einvoice: bool | None = EINVOICE,
    forward_to: str | None = FORWARD_TO,
    keep_copy: bool | None = KEEP_COPY,
    sms_number: str | None = SMS_NUMBER,
    quota: str | None = QUOTA,
    force: bool = FORCE,
    json_: bool = JSON_OPTION,
) -> None:
    """Change an account's settings; options not given stay as they are."""
    size = _quota(quota)
    new_password = read_password(password_stdin, required=password)
    settings = _settings(display_name=display_name, postmaster=postmaster, archive=archive,
                         deny_internet=deny_internet, save_sent=save_sent, einvoice=einvoice,
                         forward_to=forward_to, keep_copy=keep_copy, sms_number=sms_number,
                         quota=size)
    if not settings and new_password is None:
        fail("nothing to change: give at least one option (see 'lanmailctl account modify "
             "--help')", 2)
    result = state.call("account.modify", name=name, password=new_password,
                        force=force or None, **settings)
    emit(result, lambda r: typer.echo(f"account {r['name']} changed"), json_)


@account_app.command("delete")
def delete(
    name: str = typer.Argument(..., help="the account"),
    yes: bool = typer.Option(False, "--yes", "-y", help="really delete it and all its mail"),
    keep_mail: Path | None = typer.Option(
        None, "--keep-mail", metavar="DIR",
        help="first export all mail to DIR/<folder>/<uid>.eml (DIR must be new or empty; "
             "lanmaild writes it)"),
    json_: bool = JSON_OPTION,
) -> None:
    """Delete an account: its file and ALL its mail (export it first with --keep-mail)."""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"refusing to delete account '{name}' and all its mail without --yes")
        typer.confirm(f"Delete account '{name}' and all its mail?", abort=True)
    target = str(keep_mail.expanduser().resolve()) if keep_mail else None
    result = state.call("account.delete", name=name, yes=True, keep_mail=target)

    def human(r: dict) -> None:
        extra = f", {r['exported']} messages exported to {r['keep_mail']}" \
            if r.get("keep_mail") else ""
        typer.echo(f"account {r['name']} deleted{extra}")

    emit(result, human, json_)


@account_app.command("list")
def list_(json_: bool = JSON_OPTION) -> None:
    """List the accounts with their settings and mail totals."""
    result = state.call("account.list")

    def human(accounts: list) -> None:
        if not accounts:
            typer.echo("no accounts (add one with 'lanmailctl account add NAME')")
            return
        print_table(
            ["NAME", "DISPLAY NAME", "SETTINGS", "FORWARD TO", "QUOTA", "MESSAGES", "SIZE"],
            [[a["name"], a["display_name"], ",".join(f for f in FLAGS if a[f]),
              a["forward_to"], format_size(a["quota"]) if a["quota"] else "",
              a["messages"], format_size(a["size"])] for a in accounts])

    emit(result, human, json_)


@account_app.command("show")
def show(name: str = typer.Argument(..., help="the account"), json_: bool = JSON_OPTION
         ) -> None:
    """Show one account's settings and its folders with message counts and sizes."""
    emit(state.call("account.show", name=name), _show_human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account")
