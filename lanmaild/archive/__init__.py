"""The tamper-evident mail archive (seed: "Archive all incoming/outgoing emails").

Policy: which mail is archived is decided by the delivery pipeline's ``archive`` stage
(``lanmaild.delivery.stages.archive``: every mail in or out of an account with
``archive = true``); the entries are written in the same transaction as the delivery.
Storage, full-text search (FTS5) and the SHA-256 chain are in ``lanmaild.store.archive``;
the admin interface is ``lanmailctl archive search|show|export|verify`` (control ops
``archive.*``).
"""

from __future__ import annotations


async def verify(runtime) -> dict:
    """Check the chain: ``{"ok", "entries", "first_broken", "reason"}``."""
    return await runtime.store.archive.verify()
