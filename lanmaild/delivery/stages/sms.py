"""SMS notification on receipt (seed: "Send SMS on Receiving an Email"): filled by its
own issue. It will look at ``mail.deliveries`` for accounts with ``sms_number``.
Until then: nothing to do."""

from __future__ import annotations


def run(ctx, mail) -> None:
    return None
