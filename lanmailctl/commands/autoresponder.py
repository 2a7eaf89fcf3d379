"""``lanmailctl autoresponder show|set|on|off ACCOUNT`` (control API ops
``autoresponder.*``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..cli import JSON_OPTION, emit, fail, state

autoresponder_app = typer.Typer(
    no_args_is_help=True,
    help="An account's autoresponder (its autoresponder section): replies while away, "
         "once per sender per period (RFC 3834). Dates are the server's local time.")

ACCOUNT = typer.Argument(..., metavar="ACCOUNT")
SUBJECT = typer.Option(None, "--subject", help="the reply's subject (empty: 'Auto: ' and the "
                                               "original subject); [SUBJECT] etc. work here")
TEXT = typer.Option(None, "--text", help="the reply text; placeholders [SUBJECT], [FROM], "
                                         "[DATE], [TO]")
TEXT_FILE = typer.Option(None, "--text-file", metavar="FILE",
                         help="read the reply text from a UTF-8 file")
FROM = typer.Option(None, "--from", metavar="WHEN",
                    help="active from (local time, e.g. '2026-12-20 08:00')")
UNTIL = typer.Option(None, "--until", metavar="WHEN", help="active until (local time)")
PERMANENT = typer.Option(False, "--permanent", help="no period: active until switched off")
DOMAIN = typer.Option(None, "--domain", help="alternative domain for the reply's sender")
FORWARD = typer.Option(None, "--forward", metavar="LIST",
                       help="while active, also forward to these local names, groups or "
                            "addresses (separated by ';'); '' for none")
KEEP_COPY = typer.Option(None, "--keep-copy/--no-keep-copy",
                         help="with --forward: keep the mail in this account too")
PERIOD = typer.Option(None, "--period", help="at most one reply per sender per this long "
                                             "(e.g. 7d)")


def _human(r: dict) -> None:
    state_ = "on" if r["enabled"] else "off"
    if r["enabled"]:
        state_ += " (active now)" if r["active"] else " (not active now: outside its period)"
    typer.echo(f"autoresponder of {r['account']}: {state_}")
    for key in ("from", "until", "subject", "domain", "forward", "keep_copy", "period"):
        if r[key] not in ("", None):
            typer.echo(f"  {key}: {r[key]}")
    if r["text"]:
        typer.echo("  text:")
        for line in r["text"].splitlines():
            typer.echo(f"    {line}")


def _values(subject, text, text_file, from_, until, domain, forward, keep_copy,
            period) -> dict:
    if text is not None and text_file is not None:
        fail("give --text or --text-file, not both", 2)
    if text_file is not None:
        try:
            text = Path(text_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--text-file {text_file}: cannot read it as UTF-8 text: {exc}")
    values = {"subject": subject, "text": text, "from": from_, "until": until,
              "domain": domain, "forward": forward, "keep_copy": keep_copy, "period": period}
    return {k: v for k, v in values.items() if v is not None}


@autoresponder_app.command("show")
def show(name: str = ACCOUNT, json_: bool = JSON_OPTION) -> None:
    """Show the autoresponder and whether it is active now."""
    emit(state.call("autoresponder.show", name=name), _human, json_)


@autoresponder_app.command("set")
def set_(name: str = ACCOUNT, subject: str = SUBJECT, text: str = TEXT,
         text_file: Path = TEXT_FILE, from_: str = FROM, until: str = UNTIL,
         permanent: bool = PERMANENT, domain: str = DOMAIN, forward: str = FORWARD,
         keep_copy: bool = KEEP_COPY, period: str = PERIOD, json_: bool = JSON_OPTION) -> None:
    """Change settings without switching it on or off."""
    values = _values(subject, text, text_file, from_, until, domain, forward, keep_copy,
                     period)
    if not values and not permanent:
        fail("nothing to change: give an option (see --help)", 2)
    emit(state.call("autoresponder.set", name=name, permanent=permanent, **values), _human,
         json_)


@autoresponder_app.command("on")
def on(name: str = ACCOUNT, subject: str = SUBJECT, text: str = TEXT,
       text_file: Path = TEXT_FILE, from_: str = FROM, until: str = UNTIL,
       permanent: bool = PERMANENT, domain: str = DOMAIN, forward: str = FORWARD,
       keep_copy: bool = KEEP_COPY, period: str = PERIOD, json_: bool = JSON_OPTION) -> None:
    """Switch the autoresponder on (with any settings given)."""
    values = _values(subject, text, text_file, from_, until, domain, forward, keep_copy,
                     period)
    emit(state.call("autoresponder.set", name=name, enabled=True, permanent=permanent,
                    **values), _human, json_)


@autoresponder_app.command("off")
def off(name: str = ACCOUNT, json_: bool = JSON_OPTION) -> None:
    """Switch the autoresponder off (its settings stay for next time)."""
    emit(state.call("autoresponder.set", name=name, enabled=False), _human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(autoresponder_app, name="autoresponder")
