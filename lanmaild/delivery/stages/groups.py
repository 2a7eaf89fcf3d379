"""Group expansion: a group address becomes its members (groups in groups too).

A group that contains itself, directly or through other groups, is a loop: that branch
fails (and is bounced) instead of being expanded again. Members that are internet
addresses become remote targets; the ``store`` stage queues them for the transport.
"""

from __future__ import annotations

from ..address import resolve
from ..mail import Target


def expand(ctx, mail, target: Target) -> list[Target]:
    if target.kind != "group":
        return [target]
    group = ctx.config.group(target.name)
    if group is None:
        mail.fail(target, "5.1.1", f"group '{target.name}' does not exist")
        return []
    marker = f"group:{group.key}"
    if marker in target.path:
        mail.fail(target, "5.4.6", f"group '{group.name}' contains itself (mail loop)")
        return []
    path = target.path + (marker,)
    out: list[Target] = []
    for member in group.members:
        r = resolve(ctx.config, member)
        child = Target(target.rcpt, target.rcpt_id, r.kind, r.name, r.address, path,
                       direct=False, forwarded_by=target.forwarded_by)
        if r.kind == "group":
            out += expand(ctx, mail, child)
        elif r.kind in ("unknown", "invalid"):
            mail.fail(child, "5.1.1", f"group '{group.name}' member '{member}': {r.reason}")
        else:
            out.append(child)
    return out


def run(ctx, mail) -> None:
    mail.rewrite_targets(lambda target: expand(ctx, mail, target))
