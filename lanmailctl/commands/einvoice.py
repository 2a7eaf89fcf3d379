"""``lanmailctl einvoice check FILE...``: the e-invoice verdict for .eml, .pdf, .xml (or
.zip) files, computed right here (no daemon needed): the bookkeeper's test by hand."""

from __future__ import annotations

from pathlib import Path

import typer

from ..cli import JSON_OPTION, emit, fail

einvoice_app = typer.Typer(no_args_is_help=True,
                           help="E-invoices (ZUGFeRD, Factur-X, XRechnung, UBL): check files.")

MAX_FILE = 100 * 1024 * 1024


@einvoice_app.command("check")
def check(files: list[Path] = typer.Argument(..., metavar="FILE..."),
          json_: bool = JSON_OPTION) -> None:
    """Is each file (an .eml, .pdf or .xml) an e-invoice? Prints the verdict and why."""
    from lanmaild.einvoice.detect import check_file

    results = []
    for path in files:
        try:
            if path.stat().st_size > MAX_FILE:
                fail(f"{path}: larger than {MAX_FILE // (1024 * 1024)} MB")
            data = path.read_bytes()
        except OSError as exc:
            fail(f"{path}: cannot read it: {exc.strerror or exc}")
        results.append(check_file(path.name, data).as_json(str(path)))

    def human(items: list) -> None:
        for r in items:
            if r["kind"] == "none":
                verdict = "no e-invoice"
            else:
                verdict = (f"{r['kind']} ({r['syntax'].upper()} in {r['container']}"
                           + (f", {r['profile']}" if r["profile"] else "") + ", "
                           + ("EN 16931" if r["en16931"] else "not EN 16931") + ")")
            typer.echo(f"{r['file']}: {verdict}")
            for reason in r["reasons"]:
                typer.echo(f"  {reason}")

    emit(results, human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(einvoice_app, name="einvoice")
