"""Control API operations, one module per area; importing this registers them all."""

from . import accounts, archive, config, groups, mail, queue, system  # noqa: F401
