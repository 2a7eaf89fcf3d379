"""Forwarding (seed: "Forward All Emails Received by This Account"): an account with
``forward_to`` passes its mail on to a local account, a group or an internet address,
keeping a copy when ``keep_copy`` is set.

Loops never loop: a target remembers the accounts and groups it went through, so A->B->A
(or A->group->A) fails when it would reach A again; mail that already carries
``Delivered-To: A`` (it left through A's forwarding and came back from outside) fails
when A would forward it again; the Received/Delivered-To count is checked against
``limits.forward_hops`` when the mail is accepted. Failures are bounced (DSN).

An account with ``deny_internet`` never forwards to the internet: the mail stays in its
own mailbox instead (and a warning is logged), so nothing is lost.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from ..address import resolve
from ..mail import Target
from . import groups

log = logging.getLogger("lanmaild.delivery")

_DELIVERED_TO = re.compile(rb"^delivered-to[ \t]*:[ \t]*<?([^\r\n>]+)", re.I | re.M)


def delivered_to(mail) -> set[str]:
    cached = getattr(mail, "_delivered_to", None)
    if cached is None:
        header = mail.raw[: mail.parsed.header_size] if mail.parsed else mail.raw
        cached = {m.decode("latin-1").strip().lower() for m in _DELIVERED_TO.findall(header)}
        mail._delivered_to = cached
    return cached


def forward(ctx, mail, target: Target) -> list[Target]:
    if target.kind != "account" or target.keep:
        return [target]
    cfg = ctx.config
    account = cfg.account(target.name)
    if account is None or not account.forward_to:
        return [target]
    marker = f"acct:{account.key}"
    own = f"{account.key}@{cfg.primary_domain}"
    if marker in target.path:
        mail.fail(target, "5.4.6", f"forwarding loop: '{account.name}' forwards back to itself "
                  f"({' -> '.join(p.split(':', 1)[1] for p in target.path)} -> {account.name})")
        return []
    if own in delivered_to(mail):
        mail.fail(target, "5.4.6", f"forwarding loop: the mail was already forwarded by "
                  f"'{account.name}' (Delivered-To)")
        return []
    if len(target.path) >= cfg.limits.forward_hops:
        mail.fail(target, "5.4.6", "too many forwarding hops")
        return []
    mail.reach(account.key)
    out: list[Target] = []
    keep = dataclasses.replace(target, keep=True)
    if account.keep_copy:
        out.append(keep)
    path = target.path + (marker,)
    r = resolve(cfg, account.forward_to)
    if r.kind == "remote":
        if account.deny_internet:
            log.warning("account %s: forwarding to %s suppressed (deny_internet); kept in its "
                        "mailbox", account.name, account.forward_to)
            if not account.keep_copy:
                out.append(keep)
            return out
        out.append(Target(target.rcpt, target.rcpt_id, "remote", "", r.address, path,
                          direct=False, forwarded_by=account.key))
    elif r.kind in ("account", "group"):
        child = Target(target.rcpt, target.rcpt_id, r.kind, r.name, r.address, path,
                       direct=False, forwarded_by=account.key)
        for t in groups.expand(ctx, mail, child):
            out += forward(ctx, mail, t)
    else:
        log.warning("account %s: forward_to %r is not deliverable (%s); kept in its mailbox",
                    account.name, account.forward_to, r.reason)
        if not account.keep_copy:
            out.append(keep)
    return out


def run(ctx, mail) -> None:
    mail.rewrite_targets(lambda target: forward(ctx, mail, target))
