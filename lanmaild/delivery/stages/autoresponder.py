"""Autoresponder: filled by its own issue.

It will add reply mails to ``mail.new_mail`` for targets whose account has an active
autoresponder (never to the internet for ``deny_internet`` accounts, never to a null
sender, RFC 3834 rules). Until then: nothing to do.
"""

from __future__ import annotations


def run(ctx, mail) -> None:
    return None
