"""The delivery pipeline: one place, ordered stages, each a small module with one job.

    groups -> einvoice -> commands -> forwarding -> autoresponder -> store -> archive -> sms

A ``Mail`` enters with its envelope recipients as ``Target`` objects. The routing stages
rewrite the target list (a group becomes its members, a forwarding account becomes its
forward address, an email command consumes its target); ``store`` turns what is left into
mailbox copies and outbound recipients; ``archive`` adds archive entries. No stage writes
to the store or sends anything: they only fill in the ``Mail``'s result lists, and the
queue worker commits the whole result in ONE transaction (see ``worker``), which is what
makes delivery exactly-once across crashes. Side effects outside the store (an email
command's config change) are idempotent and queued as ``actions`` run before the commit.

Stages filled by later issues (einvoice, autoresponder, sms) are no-ops here; mail
fetched from external accounts enters through ``lanmaild.delivery.submit`` with
``source="fetch"`` and runs the same stages.
"""

from __future__ import annotations

import logging

from .mail import Context, Failure, Mail, NewMail, Stage, Target
from .stages import archive, autoresponder, commands, einvoice, forwarding, groups, sms, store

log = logging.getLogger("lanmaild.delivery")




__all__ = ["Context", "Failure", "Mail", "NewMail", "Stage", "Target", "run", "stages"]


def stages() -> list[tuple[str, Stage]]:
    return [("groups", groups.run), ("einvoice", einvoice.run), ("commands", commands.run),
            ("forwarding", forwarding.run), ("autoresponder", autoresponder.run),
            ("store", store.run), ("archive", archive.run), ("sms", sms.run)]


_STAGES: list[tuple[str, Stage]] | None = None


def run(ctx: Context, mail: Mail, bounce: bool = True) -> Mail:
    """Run every stage in order; afterwards bounces for the failures are made (unless
    ``bounce`` is false: the caller looks at ``mail.failures`` itself)."""
    global _STAGES
    if _STAGES is None:
        _STAGES = stages()
    for _name, stage in _STAGES:
        stage(ctx, mail)
    if mail.failures and bounce:
        from . import dsn

        dsn.bounce(ctx, mail)
    return mail
