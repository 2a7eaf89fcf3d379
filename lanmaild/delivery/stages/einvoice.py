"""E-invoice routing (seed: "E-Invoice Mailbox"): filled by its own issue.

It will look at mail for accounts with ``einvoice = true`` and re-route targets by
whether an EN16931/XRechnung attachment was found. Until then: nothing to do.
"""

from __future__ import annotations


def run(ctx, mail) -> None:
    return None
