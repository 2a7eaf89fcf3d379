"""Archive: every mail in or out of an account with ``archive = true`` gets an entry.

'in' for each such account the mail reached (delivered, or forwarded on), 'out' for the
account that sent it. The entries are written by the worker in the delivery transaction
(``store.archive.add_entry_tx``), so an archived mail and its delivery commit together.
Email commands are not archived (they are not mail, and are not stored either).
"""

from __future__ import annotations


def run(ctx, mail) -> None:
    if mail.is_command and not mail.targets:
        return
    cfg = ctx.config
    for name in mail.reached:
        account = cfg.account(name)
        if account is not None and account.archive and (name, "in") not in mail.archive:
            mail.archive.append((name, "in"))
    if mail.sender_account and mail.source in ("smtp", "submission", "smtps"):
        account = cfg.account(mail.sender_account)
        if account is not None and account.archive and \
                (account.key, "out") not in mail.archive:
            mail.archive.append((account.key, "out"))
