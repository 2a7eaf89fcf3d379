"""E-invoice routing: the stage lives with its feature in ``lanmaild.einvoice.stage``
(the scan itself runs before the pipeline, off the event loop: ``einvoice.scan``)."""

from __future__ import annotations

from ...einvoice.stage import run

__all__ = ["run"]
