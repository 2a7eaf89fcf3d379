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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..config.model import Config

log = logging.getLogger("lanmaild.delivery")


@dataclass
class Target:
    """One place the message is headed for; ``rcpt`` is the envelope recipient it came
    from (what a DSN names), ``path`` the accounts and groups it went through."""

    rcpt: str
    rcpt_id: int
    kind: str  # account | group | remote | unknown | invalid
    name: str  # account/group key ('' for remote)
    address: str  # the address this target stands for now
    path: tuple[str, ...] = ()
    direct: bool = True  # the envelope recipient itself (not via group or forward)
    forwarded_by: str | None = None  # account whose forwarding produced this target
    keep: bool = False  # a keep_copy target: deliver here, do not forward again


@dataclass
class Failure:
    rcpt: str
    rcpt_id: int
    status: str  # RFC 3463 code, e.g. 5.4.6
    reason: str


@dataclass
class NewMail:
    """A message the pipeline makes (DSN, confirmation, forwarded copy): queued in the
    same transaction as the rest of the result."""

    raw: bytes
    sender: str
    recipients: list[tuple[str, str]]  # (address, queue state)
    source: str
    parsed: object = None


@dataclass
class Mail:
    queue_id: int
    blob_id: int | None
    raw: bytes
    parsed: object
    sender: str  # envelope sender, '' = null sender (a bounce)
    source: str  # smtp | submission | smtps | local | dsn | fetch
    auth_account: str | None = None
    trusted: bool = False
    client_ip: str | None = None
    targets: list[Target] = field(default_factory=list)
    # results, filled by the stages
    deliveries: list[tuple[str, str, int]] = field(default_factory=list)  # account, folder, flags
    outbound: list[int] = field(default_factory=list)  # rcpt ids -> state 'outbound'
    failures: list[Failure] = field(default_factory=list)
    archive: list[tuple[str, str]] = field(default_factory=list)  # account, 'in' | 'out'
    new_mail: list[NewMail] = field(default_factory=list)
    actions: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)  # local accounts the mail reached
    sender_account: str | None = None  # local account that sent it (for save_sent/archive)
    is_command: bool = False  # an email command: not stored, not archived
    hops: int = 0

    def fail(self, target: Target, status: str, reason: str) -> None:
        self.failures.append(Failure(target.rcpt, target.rcpt_id, status, reason))

    def reach(self, account: str) -> None:
        if account not in self.reached:
            self.reached.append(account)

    def rewrite_targets(self, fn: Callable[[Target], list[Target]]) -> None:
        """Replace each target by what ``fn`` makes of it (group expansion, forwarding)."""
        self.targets = [new for target in self.targets for new in fn(target)]


@dataclass
class Context:
    runtime: object
    config: Config


Stage = Callable[[Context, Mail], None]


def stages() -> list[tuple[str, Stage]]:
    from .stages import (
        archive,
        autoresponder,
        commands,
        einvoice,
        forwarding,
        groups,
        sms,
        store,
    )

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
