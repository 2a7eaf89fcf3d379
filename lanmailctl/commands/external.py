"""``lanmailctl external add|modify|delete|list|show|fetch ACCOUNT ...`` (control API ops
``external.*``): the seed's "External Accounts" tab."""

from __future__ import annotations

import sys
import time

import typer

from ..cli import JSON_OPTION, emit, fail, print_table, read_password, state

external_app = typer.Typer(no_args_is_help=True,
                           help="External mailboxes (POP3/IMAP at a provider) fetched into "
                                "an account.")

ACCOUNT = typer.Argument(..., metavar="ACCOUNT")
MAILBOX = typer.Argument(..., metavar="NAME", help="the external mailbox's name")


OAUTH_KEYS = ("provider", "client_id", "tenant", "auth_url", "token_url", "scope")


def _oauth_values(oauth2: list[str] | None, secret_stdin: bool) -> dict:
    """``--oauth2 KEY=VALUE`` -> {"oauth2_KEY": VALUE}, plus auth = xoauth2."""
    values = {}
    for item in oauth2 or ():
        key, eq, value = item.partition("=")
        if not eq or key not in OAUTH_KEYS:
            fail(f"--oauth2 takes KEY=VALUE with KEY one of {', '.join(OAUTH_KEYS)}", 2)
        values[f"oauth2_{key}"] = value
    if secret_stdin:
        values["oauth2_client_secret"] = read_password(True)
    if values:
        values["auth"] = "xoauth2"
    return values


def _opts(protocol, host, port, tls, verify_tls, user, folder, keep, delete_after_days,
          multidrop, fallback, interval, idle, enabled, password_stdin, oauth2=None,
          oauth2_secret_stdin=False) -> dict:
    values = {"protocol": protocol, "host": host, "port": port, "tls": tls,
              "verify_tls": verify_tls, "user": user, "folders": folder or None,
              "keep": keep, "delete_after_days": delete_after_days, "multidrop": multidrop,
              "fallback": fallback, "interval": interval, "idle": idle, "enabled": enabled}
    values = {k: v for k, v in values.items() if v is not None}
    if password_stdin:
        values["password"] = read_password(True)
    return {**values, **_oauth_values(oauth2, oauth2_secret_stdin)}


PROTOCOL = typer.Option(None, "--protocol", help="pop3 or imap")
HOST = typer.Option(None, "--host")
PORT = typer.Option(None, "--port", help="default 995/110 (pop3), 993/143 (imap) by --tls")
TLS = typer.Option(None, "--tls", help="implicit (default), starttls or none")
VERIFY = typer.Option(None, "--verify-tls/--no-verify-tls",
                      help="check the server's certificate (default on; off only for a "
                           "provider's self-signed certificate)")
USER = typer.Option(None, "--user")
FOLDER = typer.Option(None, "--folder", help="IMAP folder to fetch (repeatable; default INBOX)")
KEEP = typer.Option(None, "--keep/--delete", help="leave the mail on the server, or delete "
                                                  "it once delivered")
DAYS = typer.Option(None, "--delete-after-days", help="with --keep: delete after N days")
MULTIDROP = typer.Option(None, "--multidrop/--no-multidrop",
                         help="distribute by recipient to the local accounts")
FALLBACK = typer.Option(None, "--fallback", help="multidrop: account for unmatched mail")
INTERVAL = typer.Option(None, "--interval", help="own check interval (e.g. 10m)")
IDLE = typer.Option(None, "--idle/--no-idle",
                    help="imap: fetch as soon as the server reports new mail (IMAP IDLE)")
ENABLED = typer.Option(None, "--enabled/--disabled")
PASSWORD = typer.Option(False, "--password-stdin", help="read the password from stdin")
OAUTH2 = typer.Option(None, "--oauth2", metavar="KEY=VALUE",
                      help="log in with XOAUTH2 (repeatable): provider=microsoft|google|"
                           "generic, client_id=..., tenant=..., auth_url=..., token_url=..., "
                           "scope=...; then run external oauth2-login")
OAUTH2_SECRET = typer.Option(False, "--oauth2-secret-stdin",
                             help="read the OAuth2 client secret from stdin")


@external_app.command("add")
def add(name: str = ACCOUNT, mailbox: str = MAILBOX, protocol: str = PROTOCOL,
        host: str = HOST, port: int = PORT, tls: str = TLS, verify_tls: bool = VERIFY,
        user: str = USER, folder: list[str] = FOLDER, keep: bool = KEEP,
        delete_after_days: int = DAYS, multidrop: bool = MULTIDROP, fallback: str = FALLBACK,
        interval: str = INTERVAL, idle: bool = IDLE, enabled: bool = ENABLED,
        password_stdin: bool = PASSWORD, oauth2: list[str] = OAUTH2,
        oauth2_secret_stdin: bool = OAUTH2_SECRET, json_: bool = JSON_OPTION) -> None:
    """Add an external mailbox (the password from stdin: --password-stdin; or --oauth2)."""
    if not password_stdin and not oauth2:
        fail("give the mailbox's password on stdin with --password-stdin (or --oauth2 ...)",
             2)
    values = _opts(protocol, host, port, tls, verify_tls, user, folder, keep,
                   delete_after_days, multidrop, fallback, interval, idle, enabled,
                   password_stdin, oauth2, oauth2_secret_stdin)
    emit(state.call("external.add", name=name, mailbox=mailbox, **values),
         lambda r: typer.echo(f"external mailbox {r['mailbox']} added to {r['account']}"),
         json_)


@external_app.command("modify")
def modify(name: str = ACCOUNT, mailbox: str = MAILBOX, protocol: str = PROTOCOL,
           host: str = HOST, port: int = PORT, tls: str = TLS, verify_tls: bool = VERIFY,
           user: str = USER, folder: list[str] = FOLDER, keep: bool = KEEP,
           delete_after_days: int = DAYS, multidrop: bool = MULTIDROP,
           fallback: str = FALLBACK, interval: str = INTERVAL, idle: bool = IDLE,
           enabled: bool = ENABLED, password_stdin: bool = PASSWORD,
           oauth2: list[str] = OAUTH2, oauth2_secret_stdin: bool = OAUTH2_SECRET,
           json_: bool = JSON_OPTION) -> None:
    """Change settings of an external mailbox."""
    values = _opts(protocol, host, port, tls, verify_tls, user, folder, keep,
                   delete_after_days, multidrop, fallback, interval, idle, enabled,
                   password_stdin, oauth2, oauth2_secret_stdin)
    if not values:
        fail("nothing to change: give an option (see --help)", 2)
    emit(state.call("external.modify", name=name, mailbox=mailbox, **values),
         lambda r: typer.echo(f"external mailbox {r['mailbox']} of {r['account']} changed"),
         json_)


@external_app.command("delete")
def delete(name: str = ACCOUNT, mailbox: str = MAILBOX, json_: bool = JSON_OPTION) -> None:
    """Remove an external mailbox (mail fetched so far stays)."""
    emit(state.call("external.delete", name=name, mailbox=mailbox),
         lambda r: typer.echo(f"external mailbox {r['mailbox']} of {r['account']} deleted"),
         json_)


def _when(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "never"


@external_app.command("list")
def list_(name: str = typer.Argument(None, metavar="[ACCOUNT]"),
          json_: bool = JSON_OPTION) -> None:
    """External mailboxes with their last fetch (time, result, messages, error)."""

    def human(items: list) -> None:
        if not items:
            typer.echo("no external mailboxes")
            return
        print_table(["ACCOUNT", "NAME", "PROTOCOL", "SERVER", "USER", "LAST FETCH", "RESULT",
                     "FETCHED", "ERROR"],
                    [[m["account"], m["name"], m["protocol"], f"{m['host']}:{m['port']}",
                      m["user"], _when(m["status"].get("last", 0)), m["status"]["result"],
                      m["status"].get("fetched", 0), m["status"].get("error", "")[:60]]
                     for m in items])

    emit(state.call("external.list", name=name), human, json_)


@external_app.command("show")
def show(name: str = ACCOUNT, json_: bool = JSON_OPTION) -> None:
    """An account's external mailboxes with all settings (password as ***)."""

    def human(items: list) -> None:
        for m in items:
            typer.echo(f"{m['name']}:")
            for k, v in m.items():
                if k not in ("name", "status", "account"):
                    typer.echo(f"  {k}: {v}")
            typer.echo(f"  last fetch: {_when(m['status'].get('last', 0))} "
                       f"{m['status']['result']} {m['status'].get('error', '')}")

    emit(state.call("external.list", name=name), human, json_)


@external_app.command("fetch")
def fetch(name: str = ACCOUNT, mailbox: str = typer.Argument(None, metavar="[NAME]"),
          json_: bool = JSON_OPTION) -> None:
    """Fetch now and print what happened."""

    def human(items: list) -> None:
        for r in items:
            if r["error"]:
                typer.echo(f"{r['mailbox']}: FAILED: {r['error']}")
            else:
                typer.echo(f"{r['mailbox']}: {r['fetched']} fetched, {r['deleted']} deleted "
                           f"on the server, {r['seen']} fetched before ({r['seconds']} s)")

    if sys.stdout.isatty() and not (json_ or state.json):
        result = _with_progress(name, mailbox)
    else:
        result = state.call("external.fetch", name=name, mailbox=mailbox)
    emit(result, human, json_)
    if any(r["error"] for r in result):
        raise typer.Exit(1)


def _with_progress(name: str, mailbox: str | None) -> list:
    """Run the fetch and show a progress bar from the daemon's status (polled on a second
    connection) while it runs."""
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..client import Client, socket_path_from_config

    done: dict = {}

    def call() -> None:
        try:
            done["result"] = state.call("external.fetch", name=name, mailbox=mailbox)
        except Exception as exc:  # noqa: BLE001 - re-raised below, in the main thread
            done["error"] = exc

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    poller = Client(state.socket or socket_path_from_config(state.config_dir))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  transient=True) as bar:
        tasks: dict[str, int] = {}
        while worker.is_alive():
            worker.join(0.3)
            try:
                items = poller.call("external.list", name=name)
            except Exception:  # noqa: BLE001 - the bar is a nicety
                continue
            for m in items:
                p = m["status"].get("progress")
                if p is None or p["todo"] == 0:
                    continue
                if m["name"] not in tasks:
                    tasks[m["name"]] = bar.add_task(m["name"], total=p["todo"])
                bar.update(tasks[m["name"]], completed=p["fetched"], total=p["todo"])
    if "error" in done:
        raise done["error"]
    return done["result"]


@external_app.command("oauth2-login")
def oauth2_login(name: str = ACCOUNT, mailbox: str = MAILBOX,
                 port: int = typer.Option(0, "--port", help="loopback port to wait on (for "
                                                            "ssh -L; default: any free one)"),
                 timeout: int = typer.Option(300, "--timeout", help="seconds to wait"),
                 json_: bool = JSON_OPTION) -> None:
    """Sign in at the provider once (OAuth2 authorization code with PKCE): open the printed
    address in a browser; it comes back to lanmailctl on 127.0.0.1, and lanmaild keeps the
    refresh token (never shown)."""
    from .oauth_loopback import login

    emit(login("external.oauth2_start", timeout, port, json_, name=name, mailbox=mailbox),
         lambda r: typer.echo(f"signed in: {r['target']} logs in with XOAUTH2 (scope "
                              f"{r['scope'] or 'as granted'})"), json_)


def register(app: typer.Typer) -> None:
    app.add_typer(external_app, name="external")
