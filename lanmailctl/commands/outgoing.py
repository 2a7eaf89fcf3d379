"""``lanmailctl outgoing show|set``, ``lanmailctl account outgoing ACCOUNT show|set``,
``lanmailctl dkim generate|list|show|delete`` and ``lanmailctl transport webspace
upload-scripts`` (control API ops ``outgoing.*``, ``account.outgoing.*``, ``dkim.*``,
``transport.webspace.upload``)."""

from __future__ import annotations

import json
import sys
import time

import typer

from ..cli import JSON_OPTION, emit, fail, print_table, state

outgoing_app = typer.Typer(no_args_is_help=True,
                           help="The global outgoing settings (section outgoing of lanmaild.toml): "
                                "transport, smarthost, retries, limits.")
account_outgoing_app = typer.Typer(no_args_is_help=True,
                                   help="An account's outgoing settings (section outgoing "
                                        "of its file: the seed's Outgoing Mail tab).")
dkim_app = typer.Typer(no_args_is_help=True, help="DKIM keys for signing outgoing mail.")
transport_app = typer.Typer(no_args_is_help=True, help="Transport tools.")
webspace_app = typer.Typer(no_args_is_help=True, help="The webspace (PHP script) transport.")

SETTINGS = typer.Argument(None, metavar="KEY=VALUE...",
                          help="dotted keys of the outgoing section, e.g. transport=smtp "
                               "smtp.host=relay.example smtp.port=587; values are TOML-like "
                               "(true, 25, a JSON list) or text")
UNSET = typer.Option(None, "--unset", metavar="KEY", help="remove a key (repeatable)")
SECRET_STDIN = typer.Option(None, "--secret-stdin", metavar="KEY",
                            help="read this key's value (a password) from the first line of "
                                 "stdin, so it never appears in argv or the shell history")


def _value(text: str):
    if text in ("true", "false"):
        return text == "true"
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, list, str)) and not isinstance(value, float) \
        else text


def _values(pairs: list[str] | None, secret_key: str | None) -> dict:
    values = {}
    for pair in pairs or []:
        key, eq, text = pair.partition("=")
        if not eq or not key:
            fail(f"'{pair}' is not KEY=VALUE (e.g. smtp.host=relay.example)", 2)
        if key.rsplit(".", 1)[-1] in ("password", "script_password", "smtp_password",
                                      "key_password"):
            fail(f"{key}: give passwords with --secret-stdin {key} (not on the command line)",
                 2)
        values[key.strip()] = _value(text.strip())
    if secret_key:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            fail(f"--secret-stdin {secret_key}: stdin held no value (an empty first line)")
        values[secret_key] = secret
    return values


def _print_settings(data: dict, prefix: str = "") -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _print_settings(value, f"{prefix}{key}.")
        else:
            shown = json.dumps(value) if not isinstance(value, str) else value
            typer.echo(f"{prefix}{key} = {shown}")


def _human(data: dict) -> None:
    """Only the parts that matter for the chosen transport, then the common ones."""
    kind = data["transport"]
    section = {"smtp": "smtp", "mx": None, "folder": "folder", "http-post": "http_post",
               "webspace": "webspace"}.get(kind)
    typer.echo(f"transport = {kind}")
    if section:
        _print_settings({section: data[section]})
    common = {k: v for k, v in data.items()
              if k not in ("transport", "smtp", "folder", "http_post", "webspace")}
    _print_settings(common)


@outgoing_app.command("show")
def outgoing_show(json_: bool = JSON_OPTION) -> None:
    """Show the global outgoing settings (passwords as ***)."""
    emit(state.call("outgoing.show"), _human, json_)


@outgoing_app.command("set")
def outgoing_set(pairs: list[str] = SETTINGS, unset: list[str] = UNSET,
                 secret_key: str = SECRET_STDIN, json_: bool = JSON_OPTION) -> None:
    """Change global outgoing settings; the daemon validates and reloads."""
    values = _values(pairs, secret_key)
    if not values and not unset:
        fail("nothing to change: give KEY=VALUE, --unset KEY or --secret-stdin KEY", 2)
    emit(state.call("outgoing.set", values=values, unset=unset or []), _human, json_)


@account_outgoing_app.callback()
def account_outgoing(ctx: typer.Context,
                     name: str = typer.Argument(..., metavar="ACCOUNT")) -> None:
    """lanmailctl account outgoing ACCOUNT show|set ..."""
    ctx.obj = name


@account_outgoing_app.command("show")
def account_outgoing_show(ctx: typer.Context, json_: bool = JSON_OPTION) -> None:
    """Show an account's outgoing settings (passwords as ***)."""
    emit(state.call("account.outgoing.show", name=ctx.obj), _human, json_)


@account_outgoing_app.command("set")
def account_outgoing_set(ctx: typer.Context, pairs: list[str] = SETTINGS,
                         unset: list[str] = UNSET, secret_key: str = SECRET_STDIN,
                         json_: bool = JSON_OPTION) -> None:
    """Change an account's outgoing settings (e.g. transport=folder folder.path=/srv/out,
    sender=%localpart%@firma.de, max_recipients=1, message_size=10M)."""
    values = _values(pairs, secret_key)
    if not values and not unset:
        fail("nothing to change: give KEY=VALUE, --unset KEY or --secret-stdin KEY", 2)
    emit(state.call("account.outgoing.set", name=ctx.obj, values=values, unset=unset or []),
         _human, json_)


def _date(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _print_key(k: dict) -> None:
    typer.echo(f"{k['domain']}  selector {k['selector']}  {k['bits']} bits  "
               f"created {_date(k['created'])}")
    typer.echo(f"  publish: {k['dns_name']}. IN TXT \"{k['dns_record']}\"")


@dkim_app.command("generate")
def dkim_generate(domain: str = typer.Argument(..., metavar="DOMAIN"),
                  selector: str = typer.Option("lanmail", "--selector", metavar="S",
                                               help="the DNS selector (default lanmail)"),
                  bits: int = typer.Option(2048, "--bits", help="RSA key size"),
                  json_: bool = JSON_OPTION) -> None:
    """Make a DKIM key for DOMAIN and print the DNS TXT record to publish."""
    emit(state.call("dkim.generate", domain=domain, selector=selector, bits=bits), _print_key,
         json_)


@dkim_app.command("list")
def dkim_list(json_: bool = JSON_OPTION) -> None:
    """List the DKIM keys (the newest key of a domain signs its mail)."""

    def human(keys: list) -> None:
        if not keys:
            typer.echo("no DKIM keys: make one with 'lanmailctl dkim generate DOMAIN'")
            return
        print_table(["DOMAIN", "SELECTOR", "BITS", "CREATED"],
                    [[k["domain"], k["selector"], k["bits"], _date(k["created"])]
                     for k in keys])

    emit(state.call("dkim.list"), human, json_)


@dkim_app.command("show")
def dkim_show(domain: str = typer.Argument(..., metavar="DOMAIN"),
              json_: bool = JSON_OPTION) -> None:
    """Show a domain's DKIM keys and the DNS records to publish."""
    emit(state.call("dkim.show", domain=domain), lambda keys: [_print_key(k) for k in keys],
         json_)


@dkim_app.command("delete")
def dkim_delete(domain: str = typer.Argument(..., metavar="DOMAIN"),
                selector: str = typer.Option(..., "--selector", metavar="S"),
                json_: bool = JSON_OPTION) -> None:
    """Delete a DKIM key."""
    emit(state.call("dkim.delete", domain=domain, selector=selector),
         lambda r: typer.echo(f"DKIM key {r['selector']} of {r['domain']} deleted"), json_)


@webspace_app.command("upload-scripts")
def upload_scripts(name: str = typer.Argument(None, metavar="ACCOUNT",
                                              help="the account whose webspace settings to "
                                                   "use"),
                   global_: bool = typer.Option(False, "--global",
                                                help="use the global webspace settings"),
                   json_: bool = JSON_OPTION) -> None:
    """Upload the PHP scripts to the webspace and test the call (the seed's "Perform
    Upload of PHP Scripts"); a failure names the step (login, directory, http)."""
    if bool(name) == global_:
        fail("give an ACCOUNT or --global (not both)", 2)
    result = state.call("transport.webspace.upload", name=name)
    emit(result, lambda r: typer.echo(f"uploaded {', '.join(r['uploaded'])}; script test: "
                                      f"{r['test']}"), json_)


@outgoing_app.command("oauth2-login")
def oauth2_login(account: str = typer.Option(None, "--account",
                                             help="the account's own [outgoing.smtp] "
                                                  "(default: the global smarthost)"),
                 port: int = typer.Option(0, "--port", help="loopback port to wait on (for "
                                                            "ssh -L; default: any free one)"),
                 timeout: int = typer.Option(300, "--timeout", help="seconds to wait"),
                 json_: bool = JSON_OPTION) -> None:
    """Sign in at a smarthost that takes XOAUTH2 (Microsoft 365, Gmail), once: open the
    printed address in a browser; lanmaild keeps the refresh token (never shown)."""
    from .oauth_loopback import login

    args = {"account": account} if account else {}
    emit(login("outgoing.oauth2_start", timeout, port, json_, **args),
         lambda r: typer.echo(f"signed in: {r['target']} logs in with XOAUTH2 (scope "
                              f"{r['scope'] or 'as granted'})"), json_)


def register(app: typer.Typer) -> None:
    from .account import account_app

    app.add_typer(outgoing_app, name="outgoing")
    account_app.add_typer(account_outgoing_app, name="outgoing")
    app.add_typer(dkim_app, name="dkim")
    transport_app.add_typer(webspace_app, name="webspace")
    app.add_typer(transport_app, name="transport")
