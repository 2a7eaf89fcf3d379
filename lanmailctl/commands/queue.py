"""``lanmailctl queue list|show|retry|delete|flush`` (control API ops ``queue.*``)."""

from __future__ import annotations

import time

import typer

from ..cli import JSON_OPTION, emit, print_table, state

queue_app = typer.Typer(no_args_is_help=True,
                        help="The mail queue: accepted mail not yet delivered, and mail "
                             "waiting for the outgoing transport (state outbound).")


def _date(ts: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


@queue_app.command("list")
def list_(
    state_: str = typer.Option(None, "--state", metavar="STATE",
                               help="only messages with a recipient in this state "
                                    "(incoming, deferred, outbound, failed)"),
    json_: bool = JSON_OPTION,
) -> None:
    """List queued messages and the state of each recipient."""

    def human(r: dict) -> None:
        if not r["messages"]:
            typer.echo("the queue is empty")
            return
        rows = []
        for m in r["messages"]:
            for i, rc in enumerate(m["recipients"]):
                rows.append([m["id"] if i == 0 else "", _date(m["created"]) if i == 0 else "",
                             (m["sender"] or "<>") if i == 0 else "", rc["address"],
                             rc["state"], _date(rc["next_try"]) if rc["attempts"] else "",
                             rc["error"][:50]])
        print_table(["ID", "QUEUED", "SENDER", "RECIPIENT", "STATE", "NEXT TRY", "LAST ERROR"],
                    rows)

    emit(state.call("queue.list", state=state_), human, json_)


@queue_app.command("show")
def show(qid: int = typer.Argument(..., metavar="ID", help="the queue id"),
         json_: bool = JSON_OPTION) -> None:
    """Show one queued message: envelope, recipients, header."""

    def human(m: dict) -> None:
        typer.echo(f"id:        {m['id']}")
        typer.echo(f"queued:    {_date(m['created'])}")
        typer.echo(f"source:    {m['source']}  client {m['client_ip'] or '-'}  "
                   f"login {m['auth_account'] or '-'}")
        typer.echo(f"sender:    {m['sender'] or '<>'}")
        typer.echo(f"size:      {m['size']}")
        for rc in m["recipients"]:
            extra = (f" (attempts {rc['attempts']}, next try {_date(rc['next_try'])}: "
                     f"{rc['error']})") if rc["error"] else ""
            typer.echo(f"recipient: {rc['address']}  {rc['state']}{extra}")
        typer.echo("")
        typer.echo(m["headers"])

    emit(state.call("queue.show", id=qid), human, json_)


@queue_app.command("delete")
def delete(qid: int = typer.Argument(..., metavar="ID", help="the queue id"),
           json_: bool = JSON_OPTION) -> None:
    """Delete a queued message (it will not be delivered)."""
    emit(state.call("queue.delete", id=qid),
         lambda r: typer.echo(f"queued message {r['deleted']} deleted"), json_)


@queue_app.command("retry")
def retry(qid: int = typer.Argument(..., metavar="ID", help="the queue id"),
          json_: bool = JSON_OPTION) -> None:
    """Try a waiting message again now instead of at its next retry time."""
    emit(state.call("queue.retry", id=qid),
         lambda r: typer.echo(f"queued message {r['id']}: {r['recipients']} recipient(s) "
                              "will be tried now"), json_)


@queue_app.command("flush")
def flush(json_: bool = JSON_OPTION) -> None:
    """Try every waiting message again now (e.g. after the smarthost is back)."""
    emit(state.call("queue.flush"),
         lambda r: typer.echo(f"{r['recipients']} waiting recipient(s) will be tried now"),
         json_)


def register(app: typer.Typer) -> None:
    app.add_typer(queue_app, name="queue")
