"""Control API operations, one module per area; importing this registers them all."""

from . import accounts, archive, config, groups, mail, outgoing, queue, system  # noqa: F401
