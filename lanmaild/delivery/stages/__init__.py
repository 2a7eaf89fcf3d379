"""Pipeline stages, in order: groups, einvoice, commands, forwarding, autoresponder, store,
archive, sms. Each module has ``run(ctx, mail)`` and one job (see ``pipeline``)."""
