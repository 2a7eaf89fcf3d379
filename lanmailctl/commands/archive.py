"""``lanmailctl archive search|show|export|verify`` (control API ops ``archive.*``)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import typer

from ..cli import JSON_OPTION, emit, fail, print_table, state

archive_app = typer.Typer(no_args_is_help=True,
                          help="The tamper-evident mail archive (accounts with "
                               "archive = true).")

ACCOUNT = typer.Option(None, "--account", metavar="A", help="only this account's entries")
FROM = typer.Option(None, "--from", metavar="X", help="From/sender contains X")
TO = typer.Option(None, "--to", metavar="Y", help="To/Cc/recipients contain Y")
SINCE = typer.Option(None, "--since", metavar="D",
                     help="archived on or after D (YYYY-MM-DD[THH:MM])")
UNTIL = typer.Option(None, "--until", metavar="D", help="archived up to and including D")


def _date(ts: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def _search(query, account, from_, to, since, until) -> list[dict]:
    return state.call("archive.search", query=query, account=account, **{"from": from_},
                      to=to, since=since, until=until)["entries"]


def _table(entries: list[dict]) -> None:
    if not entries:
        typer.echo("no matching archive entries")
        return
    print_table(["ID", "ARCHIVED", "ACCOUNT", "DIR", "FROM", "TO", "SUBJECT"],
                [[e["id"], _date(e["archived"]), e["account"], e["direction"],
                  (e["from"] or e["sender"])[:30], (e["to"] or e["recipients"])[:30],
                  e["subject"][:50]] for e in entries])


@archive_app.command("search")
def search(
    query: str = typer.Argument(None, help="full-text query (words; FTS5 syntax such as "
                                           "\"exact phrase\", OR, NOT, prefix*)"),
    account: str = ACCOUNT, from_: str = FROM, to: str = TO, since: str = SINCE,
    until: str = UNTIL, json_: bool = JSON_OPTION,
) -> None:
    """Search the archive (from, to, cc, subject, body text, attachment names)."""
    entries = _search(query, account, from_, to, since, until)
    emit(entries, _table, json_)


@archive_app.command("show")
def show(entry_id: int = typer.Argument(..., metavar="ID"),
         raw: bool = typer.Option(False, "--raw", help="print the message as stored"),
         json_: bool = JSON_OPTION) -> None:
    """Show an archive entry (its header, or the whole message with --raw)."""
    entry = state.call("archive.show", id=entry_id, raw=raw)
    if raw and not (json_ or state.json):
        typer.echo(base64.b64decode(entry["raw"]).decode("utf-8", "replace"), nl=False)
        return

    def human(e: dict) -> None:
        for key in ("id", "account", "direction", "sender", "recipients", "from", "to",
                    "subject", "message_id", "size", "sha256"):
            typer.echo(f"{key + ':':<12}{e[key]}")
        typer.echo(f"{'archived:':<12}{_date(e['archived'])}")
        typer.echo("")
        typer.echo(e["headers"])

    emit(entry, human, json_)


@archive_app.command("export")
def export(
    entry_id: int = typer.Argument(None, metavar="[ID]", help="one entry (else: the search)"),
    to_dir: Path = typer.Option(..., "--to", "--dir", metavar="DIR",
                                help="folder for the .eml files (made if missing)"),
    query: str = typer.Option(None, "--query", "-q", metavar="QUERY", help="full-text query"),
    account: str = ACCOUNT, from_: str = FROM,
    to: str = typer.Option(None, "--recipient", metavar="Y",
                           help="To/Cc/recipients contain Y (the search's --to; here --to "
                                "is the folder)"),
    since: str = SINCE,
    until: str = UNTIL, json_: bool = JSON_OPTION,
) -> None:
    """Write entries as <ID>.eml files: one ID, or everything a search finds."""
    if entry_id is not None:
        ids = [entry_id]
    else:
        if not any((query, account, from_, to, since, until)):
            fail("give an ID or search options (--query, --account, --from, --to, --since, "
                 "--until)", 2)
        ids = [e["id"] for e in _search(query, account, from_, to, since, until)]
    to_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i in ids:
        entry = state.call("archive.show", id=i, raw=True)
        path = to_dir / f"{i}.eml"
        tmp = to_dir / f".{i}.eml.tmp"
        with open(tmp, "wb") as fh:
            fh.write(base64.b64decode(entry["raw"]))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        written.append(str(path))
    emit({"exported": len(written), "files": written},
         lambda r: typer.echo(f"exported {r['exported']} messages to {to_dir}"), json_)


@archive_app.command("anchor")
def anchor(json_: bool = JSON_OPTION) -> None:
    """Print the archive's head (ID:HASH) to keep outside the server, e.g. daily from cron;
    'archive verify --anchor ID:HASH' later proves nothing up to it was removed."""
    emit(state.call("archive.anchor"),
         lambda r: typer.echo(f"{r['anchor']}  ({r['entries']} entries)"), json_)


@archive_app.command("verify")
def verify(
    anchor: str = typer.Option(None, "--anchor", metavar="ID:HASH",
                               help="also check that this earlier head (from 'archive "
                                    "anchor') is still in the chain, unchanged"),
    json_: bool = JSON_OPTION,
) -> None:
    """Check the archive's SHA-256 chain; exit 1 naming the first broken entry."""
    result = state.call("archive.verify", **({"anchor": anchor} if anchor else {}))

    def human(r: dict) -> None:
        if r["ok"]:
            typer.echo(f"archive ok: {r['entries']} entries, chain intact")
        else:
            typer.echo(f"archive BROKEN at entry {r['first_broken']}: {r['reason']}")

    emit(result, human, json_)
    if not result["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(archive_app, name="archive")
