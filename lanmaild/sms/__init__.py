"""SMS notification on receipt (the seed's "Send SMS on receiving an email").

The pipeline's ``sms`` stage notes which accounts with an ``sms_number`` got the mail in
their INBOX; after the delivery is committed, the queue worker hands that to this service
(``notify``), which returns at once: sending happens in its own task, so a slow or dead
gateway never delays or fails a delivery. Per account at most one SMS per ``interval``
(the rest are counted as suppressed); a failed request is retried (``retries``, after 5,
30, 120 s ...); a failure is logged once per failing streak, and the counters and the
last error are in ``lanmailctl status``. Notifications live in memory only: a crash loses
the ones not yet sent (the mail itself is safe), which is the trade for never touching the
delivery path.

- ``settings``  ``[sms]`` in lanmaild.toml (the gateway template)
- ``gateway``   one request, the GSM-7/UCS-2 text rules
- ``notifier``  the service: queue, per-account rate limit, retries, counters
"""

from __future__ import annotations

from . import settings as settings  # registers [sms]


async def start(runtime) -> list:
    from .notifier import SmsNotifier  # not at import: the config loader imports us

    notifier = SmsNotifier(runtime)
    runtime.services["sms"] = notifier
    notifier.start()
    return [notifier]
