"""``lanmailctl config check``: validate conf.d locally, with no daemon needed."""

from __future__ import annotations

import typer

from lanmaild.config import ConfigError, load_config

from ..cli import JSON_OPTION, print_json, state

config_app = typer.Typer(no_args_is_help=True, help="The configuration in conf.d.")


@config_app.command("check")
def check(json_: bool = JSON_OPTION) -> None:
    """Validate --config-dir like lanmaild does at start-up and reload (no daemon needed).

    Prints FILE:LINE: key 'KEY': REASON and exits 1 when something is wrong.
    """
    config_dir = state.config_dir
    try:
        cfg = load_config(config_dir)
    except ConfigError as exc:
        if json_ or state.json:
            print_json({"valid": False, "config_dir": str(config_dir.resolve()),
                        "error": str(exc), "file": exc.path, "line": exc.line,
                        "key": exc.key, "reason": exc.reason})
        else:
            typer.echo(f"lanmailctl: {exc}", err=True)
        raise typer.Exit(1) from None
    result = {"valid": True, "config_dir": str(cfg.config_dir), "accounts": len(cfg.accounts),
              "groups": len(cfg.groups)}
    if json_ or state.json:
        print_json(result)
    else:
        typer.echo(f"{cfg.config_dir}: valid ({len(cfg.accounts)} accounts, "
                   f"{len(cfg.groups)} groups)")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
