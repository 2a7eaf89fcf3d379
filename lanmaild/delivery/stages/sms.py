"""SMS notification on receipt (seed: "Send SMS on Receiving an Email"): notes the accounts
with an ``sms_number`` that got the mail in their INBOX. The queue worker hands them to
the ``sms`` service only after the delivery is committed (``lanmaild.sms``), so the SMS
never delays the mail nor announces one that was not stored."""

from __future__ import annotations


def run(ctx, mail) -> None:
    if mail.is_command:
        return
    cfg = ctx.config
    seen: set[str] = set()
    for account, folder, _flags in mail.deliveries:
        a = cfg.account(account)
        if folder == "INBOX" and a is not None and a.sms_number and account not in seen:
            seen.add(account)
            mail.notifications.append((account, a.sms_number))
