"""Control API operations, one module per area; importing this registers them all."""

from . import system  # noqa: F401
