"""The pipeline stage: route the mail of an e-invoice mailbox by the verdict of the scan
(``scan.prescan``, made before the pipeline): e-invoices to ``invoices_to``, the rest to
``others_to`` of ``[einvoice_routing]`` (each optional, with or without a copy in the mailbox)."""

from __future__ import annotations

from ..delivery.mail import Target
from ..delivery.redirect import redirect
from .settings import of


def run(ctx, mail) -> None:
    verdict = mail.einvoice
    if mail.is_command:
        return
    cfg = ctx.config

    def route(target: Target) -> list[Target]:
        settings = of(cfg, target.name) if target.kind == "account" else None
        if settings is None or target.keep:
            return [target]
        invoice = verdict is not None and verdict.found and (
            verdict.en16931 or settings.include_non_en16931)
        items = settings.invoices_to if invoice else settings.others_to
        keep = settings.keep_invoices if invoice else settings.keep_others
        if not items:
            return [target]
        return redirect(ctx, mail, target, items, keep, f"einvoice:{target.name}")

    mail.rewrite_targets(route)
