"""External accounts (the seed's "External Accounts" tab): fetch mail from provider
mailboxes over POP3 and IMAP into the local accounts, exactly once.

- ``settings``  ``[[external]]`` per account, ``[fetch]`` (interval, time window)
- ``client``    poplib/imaplib calls (blocking: run in threads); downloads streamed to a
                spool file and read back once
- ``run``       one mailbox: list, queue what is new (remembered in the same commit,
                ``store.fetchstate``), then delete on the server
- ``service``   the scheduler: every mailbox on its interval and within the window, at most
                ``concurrency`` at once, each in its own task (a slow provider holds up
                nobody); status per mailbox; errors logged once per change of state; a
                refused login backs off (doubling up to 6 hours) so the provider does not
                lock the account
- ``idle``      IMAP IDLE push (``idle = true``): a watcher connection per mailbox that
                asks the scheduler for a fetch when the server reports new mail

Fetched mail enters the pipeline with ``source = "fetch"`` (forwarding, autoresponder,
e-invoice, archive and SMS apply; email commands never do).
"""

from __future__ import annotations

from . import settings as settings  # registers [[external]] and [fetch]


async def start(runtime) -> list:
    from .service import Fetcher  # not at import: the config loader imports us

    fetcher = Fetcher(runtime)
    runtime.services["fetch"] = fetcher
    fetcher.start()
    return [fetcher]
