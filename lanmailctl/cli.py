"""lanmailctl: administer lanmaild from the shell (see lanmailctl(8)).

Each area is a typer sub-app in ``lanmailctl.commands.<area>`` registered in ``AREAS``;
commands call the control API through ``state.client()``. Exit codes: 0 ok, 1 refused or
failed (one line on stderr), 2 usage.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from .client import Client, CtlError, socket_path_from_config

AREAS = ("account", "group", "config", "system", "mail", "queue", "archive", "outgoing",
         "autoresponder", "sms", "einvoice", "external", "oauth2", "apitoken", "backup", "tls",
         "route", "doctor")

app = typer.Typer(
    name="lanmailctl", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
    help="Administer LANMail (lanmaild) over its local control socket.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    config_dir: Path = Path(os.environ.get("LANMAIL_CONFIG_DIR", "/etc/lanmail"))
    socket: Path | None = None
    json: bool = False
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            path = self.socket or socket_path_from_config(self.config_dir)
            self._client = Client(path)
        return self._client

    def call(self, op: str, **args: Any) -> Any:
        return self.client().call(op, **args)


state = State()


@app.callback()
def _global(
    config_dir: Path = typer.Option(None, "--config-dir", metavar="DIR",
                                    help="lanmaild's conf.d (env LANMAIL_CONFIG_DIR; "
                                         "default /etc/lanmail)"),
    socket: Path = typer.Option(None, "--socket", metavar="PATH",
                                help="control socket (default: from the config dir)"),
    json_: bool = typer.Option(False, "--json",
                               help="machine-readable output for every command (see "
                                    "lanmailctl(8) for the keys)"),
) -> None:
    if config_dir is not None:
        state.config_dir = config_dir
    state.socket = socket
    state.json = json_


def fail(message: str, code: int = 1) -> None:
    """One line on stderr and the exit code: what every refused command does."""
    typer.echo(f"lanmailctl: {message}", err=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))


JSON_OPTION = typer.Option(False, "--json", help="machine-readable output (same as the "
                                                 "global --json)")


def emit(data: Any, human: Callable[[Any], None], json_: bool = False) -> None:
    """Print ``data`` as JSON (``--json``, global or per command) or the human way."""
    if json_ or state.json:
        print_json(data)
    else:
        human(data)


def print_table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    """A rich table on a terminal; plain aligned columns otherwise (pipes, grep, tests)."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in cells:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        typer.echo(title)
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    for row in [columns, *cells]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def read_password(from_stdin: bool, required: bool = True) -> str | None:
    """The new password: first line of stdin, or a hidden prompt asked twice on a terminal.

    Never taken from argv (other users see argv in ps).
    """
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("--password-stdin: stdin held no password (an empty first line)")
        return password
    if not required:
        return None
    if not sys.stdin.isatty():
        fail("no password: pipe it in with --password-stdin, or run on a terminal to be "
             "asked", 2)
    password = typer.prompt("New password", hide_input=True,
                            confirmation_prompt="Repeat the password")
    if not password:
        fail("the password must not be empty")
    return password


def _register() -> None:
    for area in AREAS:
        module = importlib.import_module(f"lanmailctl.commands.{area}")
        module.register(app)


def main() -> None:
    _register()
    try:
        app(standalone_mode=True)
    except CtlError as exc:
        typer.echo(f"lanmailctl: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a timeout, a garbled reply: one line, no trace
        typer.echo(f"lanmailctl: {exc.__class__.__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy: the commands share lanmailctl.cli.state.
    from lanmailctl.cli import main as _main

    _main()
