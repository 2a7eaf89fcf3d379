"""``lanmailctl route test --from A --to B [--auth ACCOUNT]`` (op ``route.test``)."""

from __future__ import annotations

import typer

from ..cli import JSON_OPTION, emit, state

route_app = typer.Typer(no_args_is_help=True, help="Explain how mail is routed.")


def _human(r: dict) -> None:
    typer.echo(f"SMTP ({r['source']}):")
    for step in r["smtp"]:
        extra = f"   [{step['resolves_to']}]" if step.get("resolves_to") else ""
        typer.echo(f"  {step['command']:<40} -> {step['reply']}{extra}")
    p = r["pipeline"]
    if p is None:
        typer.echo("nothing accepted: no delivery")
        return
    typer.echo("delivery:")
    for t in p["targets"]:
        via = f" via {' > '.join(t['via'])}" if t["via"] else ""
        fwd = f" (forwarded by {t['forwarded_by']})" if t["forwarded_by"] else ""
        typer.echo(f"  {t['rcpt']} -> {t['kind']} {t['address']}{via}{fwd}")
    for m in p["mailboxes"]:
        typer.echo(f"  stored: {m['account']} / {m['folder']}")
    for a in p["internet"]:
        typer.echo(f"  to the internet: {a}")
    for f in p["failures"]:
        typer.echo(f"  bounced: {f['rcpt']}: {f['status']} {f['reason']}")
    for n in p["new_mail"]:
        typer.echo(f"  new mail ({n['source']}) from <{n['sender']}> to {', '.join(n['to'])}")
    for a in p["autoreplies"]:
        typer.echo(f"  autoreply from {a['account']} to {a['to']} (once per period)")
    for a in p["archive"]:
        typer.echo(f"  archived for {a['account']} ({a['direction']})")
    for a in p["sms"]:
        typer.echo(f"  SMS notification for {a}")
    if p["email_command"]:
        typer.echo("  an email command (carried out, not stored)")
    if p.get("einvoice"):
        typer.echo(f"  e-invoice scan: {p['einvoice']}")
    for out in [r.get("outgoing"), *r.get("outgoing_new_mail", [])]:
        if not out:
            continue
        typer.echo(f"outgoing: {out['transport']}" + (f" {out['smarthost']}"
                                                      if out.get("smarthost") else ""))
        typer.echo(f"  envelope sender {out['envelope_sender']}"
                   + (" (rewritten)" if out["sender_rewritten"] else ""))
        typer.echo(f"  DKIM: {out['dkim'] or 'not signed (no key for the domain)'}; "
                   f"S/MIME: {out['smime'] or 'no'}")
        if out.get("note"):
            typer.echo(f"  {out['note']}")


@route_app.command("test")
def test(sender: str = typer.Option(..., "--from", help="envelope sender"),
         to: list[str] = typer.Option(..., "--to", help="recipient (repeatable)"),
         auth: str = typer.Option(None, "--auth", metavar="ACCOUNT",
                                  help="as if logged in as this account (submission)"),
         trusted: bool = typer.Option(False, "--trusted",
                                      help="as if from a trusted network"),
         subject: str = typer.Option("route test", "--subject",
                                     help="e.g. to try an email command (LMS ...)"),
         json_: bool = JSON_OPTION) -> None:
    """What lanmaild would do with such a mail: the SMTP answers, group expansion,
    forwarding, autoresponder, archive, transport, sender rewriting, signing. Nothing is
    sent or stored."""
    emit(state.call("route.test", **{"from": sender}, to=to, auth=auth, trusted=trusted,
                    subject=subject), _human, json_)


def register(app: typer.Typer) -> None:
    app.add_typer(route_app, name="route")
