"""The autoresponder (the seed's "Autoresponder" tab): answers mail to an account while
its ``[autoresponder]`` is active, at most once per sender per period, following RFC
3834; optionally forwards the mail meanwhile.

- ``settings``  the account section (registered with the config loader)
- ``reply``     the RFC 3834 rules (who never gets an answer) and the answer itself
- ``stage``     the pipeline stage (``delivery.stages.autoresponder`` calls it): adds the
                forward targets and the replies to the ``Mail``; the store queues a reply
                only if that sender got none within the period, in the same transaction
                that delivers the mail (``store.autoreply``), so a restart never resets
                the memory and a crash never sends a reply twice
- ``commands``  the email commands "LMS Autoresponder on|off"
"""
