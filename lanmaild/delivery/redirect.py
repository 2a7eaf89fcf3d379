"""Send a target's mail on to other places (local names, groups, addresses), keeping a
copy or not: what the autoresponder's "forward while active" and the e-invoice routes
share. Loops are cut by the target's path marker; a ``deny_internet`` account never sends
to the internet this way (the mail is kept instead, nothing is lost)."""

from __future__ import annotations

import dataclasses
import logging

from .address import resolve
from .mail import Target
from .stages import groups

log = logging.getLogger("lanmaild.delivery")


def redirect(ctx, mail, target: Target, items: tuple[str, ...], keep_copy: bool,
             marker: str) -> list[Target]:
    """The targets that replace ``target``."""
    cfg = ctx.config
    account = cfg.account(target.name)
    keep = dataclasses.replace(target, keep=True)
    if marker in target.path:
        return [keep]
    out = [keep] if keep_copy else []
    path = target.path + (marker,)
    for item in items:
        r = resolve(cfg, item)
        if r.kind == "remote":
            if account.deny_internet:
                log.warning("account %s: %s to %s suppressed (deny_internet)", account.name,
                            marker.split(":")[0], item)
                continue
            out.append(Target(target.rcpt, target.rcpt_id, "remote", "", r.address, path,
                              direct=False, forwarded_by=account.key))
        elif r.kind == "account" and r.name != account.key:
            out.append(Target(target.rcpt, target.rcpt_id, "account", r.name, r.address, path,
                              direct=False, forwarded_by=account.key, keep=True))
        elif r.kind == "group":
            child = Target(target.rcpt, target.rcpt_id, "group", r.name, r.address, path,
                           direct=False, forwarded_by=account.key)
            out += [dataclasses.replace(t, keep=True) for t in groups.expand(ctx, mail, child)]
        else:
            log.warning("account %s: %s target %r is not deliverable", account.name,
                        marker.split(":")[0], item)
    if not any(t.kind in ("account", "remote") for t in out):
        out.append(keep)  # nothing usable: keep the mail rather than lose it
    return out
