"""Email commands (seed): a user mails their OWN address with the subject

    LMS Forwarding off
    LMS Forwarding on <address>
    LMS Autoresponder off | on [subject]     (``lanmaild.autoresponder.commands``)

(``LMS`` upper case, the rest case-insensitive; the body is ignored, except as the
autoresponder's text). Honoured only when that
same account submitted the mail logged in over SMTP (and a logged-in session may only use
its own addresses as sender, see ``address.may_send_as``). A ``trusted_networks`` client
with the account's address as envelope sender counts only where the admin set
``server.email_commands_trusted``: any host there can forge any envelope sender. Never
from outside and never from fetched mail (``source = fetch``): such a mail is delivered
like any other, and no confirmation goes anywhere.

The change goes through the control API's ``account.modify`` (the same validation,
atomic TOML edit and reload as ``lanmailctl account modify NAME --forward-to ...``), a
confirmation or error mail goes to the user (for "on", that confirmation is then
forwarded to the new address, as the seed says), and the command mail itself is not
stored. The confirmation has a null envelope sender, so it can never bounce back.
"""

from __future__ import annotations

import logging
import re

from ...autoresponder import commands as autoresponder_commands
from ..address import resolve
from ..compose import system_from, text_mail
from ..mail import NewMail

log = logging.getLogger("lanmaild.delivery")

SMTP_SOURCES = ("smtp", "submission", "smtps")
_FORWARDING = re.compile(r"^LMS[ \t]+(?i:forwarding)\b[ \t]*(.*)$", re.S)
_OFF = re.compile(r"^(?i:off)$")
_ON = re.compile(r"^(?i:on)[ \t]+<?([^\s<>]+)>?$")


def _owner(cfg, mail) -> str | None:
    """The account that may give commands with this mail, or None."""
    if mail.source not in SMTP_SOURCES:
        return None
    if mail.auth_account:
        return mail.auth_account
    if cfg.server.email_commands_trusted and mail.trusted and mail.sender_account:
        return mail.sender_account
    return None


def run(ctx, mail) -> None:
    subject = (getattr(mail.parsed, "subject", "") or "").strip()
    if not subject.startswith("LMS"):
        return
    m = _FORWARDING.match(subject)
    handler = _command
    if not m:
        m = autoresponder_commands.PATTERN.match(subject)
        handler = _autoresponder_command
    if not m:
        return
    cfg = ctx.config
    owner = _owner(cfg, mail)
    if owner is None:
        return
    keep = []
    for t in mail.targets:
        if t.direct and t.kind == "account" and t.name == owner and not mail.is_command:
            mail.is_command = True
            handler(ctx, mail, owner, m.group(1).strip())
        else:
            keep.append(t)
    mail.targets = keep


def _autoresponder_command(ctx, mail, name: str, rest: str) -> None:
    cfg = ctx.config
    account = cfg.account(name)
    own = f"{account.key}@{cfg.primary_domain}"
    autoresponder_commands.command(
        ctx, mail, account, own, rest,
        lambda subject, body: _reply(ctx, mail, own, subject, body),
        lambda args, subject, body: _op_action(ctx, mail, own, "autoresponder.set", args,
                                               subject, body, "LMS Autoresponder"))


def _command(ctx, mail, name: str, rest: str) -> None:
    cfg = ctx.config
    account = cfg.account(name)
    own = f"{account.key}@{cfg.primary_domain}"
    if _OFF.match(rest):
        _change(ctx, mail, account, own, "", "LMS Forwarding off: done",
                "Forwarding of your mail is now switched off.")
        return
    on = _ON.match(rest)
    if not on:
        _reply(ctx, mail, own, "LMS Forwarding: command not understood",
               "Use the subject 'LMS Forwarding off' or 'LMS Forwarding on <address>'.")
        return
    address = on.group(1)
    r = resolve(cfg, address)
    if r.kind in ("invalid", "unknown") or ("@" not in address and r.kind == "remote"):
        _reply(ctx, mail, own, "LMS Forwarding on: invalid address",
               "Forwarding was not changed: the address given is not a valid local account, "
               "group or internet address.")
        return
    if r.kind == "account" and r.name == account.key:
        _reply(ctx, mail, own, "LMS Forwarding on: invalid address",
               "Forwarding was not changed: an account cannot forward to itself.")
        return
    if r.kind == "remote" and account.deny_internet:
        _reply(ctx, mail, own, "LMS Forwarding on: not allowed",
               "Forwarding was not changed: this account may not send mail to the internet.")
        return
    _change(ctx, mail, account, own, address, f"LMS Forwarding on: done ({address})",
            f"All mail to {own} is now forwarded to {address}"
            + (" (a copy stays in your mailbox)." if account.keep_copy else "."))


def _reply(ctx, mail, to: str, subject: str, body: str) -> None:
    cfg = ctx.config
    raw = text_mail(cfg.server.hostname, system_from(cfg), to, subject, body)
    mail.new_mail.append(NewMail(raw, "", [(to, "incoming")], "local"))


def _change(ctx, mail, account, own: str, forward_to: str, subject: str, body: str) -> None:
    _op_action(ctx, mail, own, "account.modify",
               {"name": account.name, "forward_to": forward_to}, subject, body,
               "LMS Forwarding")


def _op_action(ctx, mail, own: str, op: str, args: dict, subject: str, body: str,
               what: str) -> None:
    """Run control op ``op`` as the mail's action; confirm, or report the refusal."""

    async def action() -> None:
        from ...config import ConfigError
        from ...control.registry import OPS, OpError

        try:
            await OPS[op].handler(ctx.runtime, args)
        except (OpError, ConfigError) as exc:
            log.warning("email command from %s refused: %s", args["name"], exc)
            _reply(ctx, mail, own, f"{what}: not changed", f"Nothing was changed: {exc}")
            return
        log.info("email command: %s %s %s", args["name"], op,
                 ", ".join(f"{k}={v!r}" for k, v in args.items() if k not in ("name", "text")))
        _reply(ctx, mail, own, subject, body)

    mail.actions.append(action)
