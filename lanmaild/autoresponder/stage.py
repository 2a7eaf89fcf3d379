"""The pipeline stage: forward while active, and plan the replies (see the package doc)."""

from __future__ import annotations

import datetime as dt
import logging

from ..delivery.address import resolve, sender_account
from ..delivery.mail import Target
from ..delivery.redirect import redirect
from . import reply
from .settings import of

log = logging.getLogger("lanmaild.autoresponder")


def run(ctx, mail) -> None:
    if mail.is_command:
        return
    cfg = ctx.config
    now = dt.datetime.now()
    answered: set[str] = set()
    out: list[Target] = []
    for target in mail.targets:
        settings = of(cfg, target.name) if target.kind == "account" else None
        if settings is None or not settings.active(now):
            out.append(target)
            continue
        out += _forward(ctx, mail, target, settings)
        if target.name not in answered:
            answered.add(target.name)
            _plan_reply(ctx, mail, target.name, settings)
    mail.targets = out


def _forward(ctx, mail, target: Target, settings) -> list[Target]:
    """The seed's "forward while the autoresponder is active"."""
    if not settings.forward or target.keep:
        return [target]
    return redirect(ctx, mail, target, settings.forward, settings.keep_copy,
                    f"autoresponder:{target.name}")


def _plan_reply(ctx, mail, name: str, settings) -> None:
    cfg = ctx.config
    own = f"{name}@{settings.domain or cfg.primary_domain}"
    why = reply.refusal(mail, own)
    if why is None and sender_account(cfg, mail.sender) == name:
        why = "sent by the account itself"
    account = cfg.account(name)
    if why is None and account.deny_internet and \
            resolve(cfg, mail.sender).kind == "remote":
        why = "deny_internet: no replies to the internet"
    if why is not None:
        log.debug("autoresponder %s: no reply to <%s>: %s", name, mail.sender, why)
        return
    raw = reply.build(cfg, mail, name, settings)
    mail.autoreplies.append((name, mail.sender.lower(), settings.period, raw,
                             [(mail.sender, "incoming")]))
