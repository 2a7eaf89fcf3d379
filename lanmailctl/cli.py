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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from .client import Client, CtlError, socket_path_from_config

AREAS = ("account", "group", "config", "system")

app = typer.Typer(
    name="lanmailctl", no_args_is_help=True, add_completion=False,
    help="Administer LANMail (lanmaild) over its local control socket.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    config_dir: Path = Path(os.environ.get("LANMAIL_CONFIG_DIR", "/etc/lanmail"))
    socket: Path | None = None
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
) -> None:
    if config_dir is not None:
        state.config_dir = config_dir
    state.socket = socket


def fail(message: str, code: int = 1) -> None:
    """One line on stderr and the exit code: what every refused command does."""
    typer.echo(f"lanmailctl: {message}", err=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))


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


if __name__ == "__main__":
    main()
