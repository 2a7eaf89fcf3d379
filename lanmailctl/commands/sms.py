"""``lanmailctl sms test ACCOUNT`` (control API op ``sms.test``)."""

from __future__ import annotations

import typer

from ..cli import JSON_OPTION, emit, state

sms_app = typer.Typer(no_args_is_help=True,
                      help="SMS notification on new mail (the sms section of lanmaild.toml).")


@sms_app.command("test")
def test(name: str = typer.Argument(..., metavar="ACCOUNT"),
         json_: bool = JSON_OPTION) -> None:
    """Send a test SMS to the account's number and print the gateway's answer."""
    emit(state.call("sms.test", name=name),
         lambda r: typer.echo(f"sent to {r['number']}: HTTP {r['status']} {r['answer']}"),
         json_)


def register(app: typer.Typer) -> None:
    app.add_typer(sms_app, name="sms")
