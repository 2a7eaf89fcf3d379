"""What flows through the delivery pipeline: the ``Mail`` with its ``Target`` list and the
result lists the stages fill in (``Failure``, ``NewMail``), and the ``Context`` they run in.
Kept apart from ``pipeline`` (which runs the stages) so stages import only these types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..config.model import Config


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
    diagnostic: str = ""  # the remote server's reply, when it came from one
    remote: str = ""  # that server (Remote-MTA)


@dataclass
class NewMail:
    """A message the pipeline makes (DSN, confirmation, forwarded copy): queued in the
    same transaction as the rest of the result."""

    raw: bytes
    sender: str
    recipients: list[tuple[str, str]]  # (address, queue state)
    source: str
    parsed: object = None
    account: str | None = None  # local account it leaves for (its outgoing settings)


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
    # automatic replies (account, sender, period, raw, [(rcpt, state)]): the store queues
    # one only if the sender got none from the account within the period
    autoreplies: list[tuple] = field(default_factory=list)
    notifications: list[tuple[str, str]] = field(default_factory=list)  # (account, SMS number)
    einvoice: object = None  # the scan's verdict (lanmaild.einvoice), made before the pipeline
    rewritten: bool = False  # ``raw`` differs from the queued blob (store it anew)
    actions: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)  # local accounts the mail reached
    sender_account: str | None = None  # local account that sent it (for save_sent/archive)
    is_command: bool = False  # an email command: not stored, not archived

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
