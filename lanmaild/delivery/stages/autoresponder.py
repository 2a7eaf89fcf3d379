"""Autoresponder: the stage lives with its feature in ``lanmaild.autoresponder.stage``
(forward while active, replies per RFC 3834); this module plugs it into the pipeline."""

from __future__ import annotations

from ...autoresponder.stage import run

__all__ = ["run"]
