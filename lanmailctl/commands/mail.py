"""``lanmailctl mail list|import|export`` (control API ops ``mail.list``, ``mail.import``,
``mail.export``)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ..cli import JSON_OPTION, emit, fail, print_table, state

mail_app = typer.Typer(no_args_is_help=True,
                       help="Look at, import and export the mail stored in mailboxes.")


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


def _source(maildir: Path | None, mbox: Path | None, eml: Path | None,
            out: bool = False) -> tuple[str, Path]:
    given = [(k, p) for k, p in (("maildir", maildir), ("mbox", mbox), ("eml", eml)) if p]
    if len(given) != 1:
        fail("give exactly one of --maildir, --mbox" + ("" if out else ", --eml"), 2)
    kind, path = given[0]
    return kind, path.resolve()


def _batches(op: str, first: dict, step, total_of) -> dict:
    """Call ``op`` until it is done, with a progress bar on a terminal; the summed result."""
    import sys

    summary: dict = {}
    args = dict(first)
    bar = task = None
    if sys.stdout.isatty():
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
    try:
        while True:
            r = state.call(op, **args)
            for k, v in r.items():
                summary[k] = summary.get(k, 0) + v if isinstance(v, int) and \
                    k in ("imported", "skipped", "written") else v
            if bar is not None:
                if task is None:
                    task = bar.add_task(op, total=total_of(r))
                bar.update(task, completed=step(summary))
            nxt = r.get("next") if "next" in r else r.get("cursor")
            if nxt is None:
                return summary
            args["offset" if "next" in r else "cursor"] = nxt
    finally:
        if bar is not None:
            bar.stop()


@mail_app.command("import")
def import_(account: str = typer.Argument(..., help="the account"),
            maildir: Path = typer.Option(None, "--maildir", help="a Maildir (Maildir++ "
                                                                 "folders come along)"),
            mbox: Path = typer.Option(None, "--mbox", help="an mbox file, or a folder of "
                                                           "them (one folder each)"),
            eml: Path = typer.Option(None, "--eml", help=".eml files (a folder is read "
                                                         "recursively, e.g. hMailServer's "
                                                         "Data/DOMAIN/ACCOUNT)"),
            folder: str = typer.Option("INBOX", "--folder", help="target for --mbox FILE "
                                                                 "and --eml"),
            json_: bool = JSON_OPTION) -> None:
    """Import mail with its folders, flags and dates; messages the folder already holds
    are skipped, so an interrupted import can run again. lanmaild reads the files: they
    must be readable by the user it runs as."""
    kind, path = _source(maildir, mbox, eml)
    r = _batches("mail.import", {"name": account, "kind": kind, "path": str(path),
                                 "folder": folder},
                 lambda s: s.get("done", 0), lambda r: r["total"])
    emit(r, lambda r: typer.echo(f"{r['account']}: {r['imported']} imported, "
                                 f"{r['skipped']} already there (of {r['total']})"), json_)


@mail_app.command("export")
def export(account: str = typer.Argument(..., help="the account"),
           maildir: Path = typer.Option(None, "--maildir", help="write a Maildir here"),
           mbox: Path = typer.Option(None, "--mbox", help="write FOLDER.mbox files here"),
           folder: str = typer.Option(None, "--folder", help="only this folder"),
           json_: bool = JSON_OPTION) -> None:
    """Export an account's mail (all folders, or one) as Maildir or mbox, flags and dates
    kept. lanmaild writes the files: the target must be writable by the user it runs as."""
    kind, path = _source(maildir, mbox, None, out=True)
    args = {"name": account, "kind": kind, "path": str(path)}
    if folder:
        args["folder"] = folder
    r = _batches("mail.export", args, lambda s: s.get("written", 0), lambda r: r["total"])
    emit(r, lambda r: typer.echo(f"{r['account']}: {r['written']} messages from "
                                 f"{r['folders']} folder(s) written to {path}"), json_)


def register(app: typer.Typer) -> None:
    app.add_typer(mail_app, name="mail")
