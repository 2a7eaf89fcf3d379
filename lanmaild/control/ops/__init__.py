"""Control API operations, one module per area; importing this registers them all."""

from . import (  # noqa: F401
    accounts,
    archive,
    autoresponder,
    config,
    external,
    groups,
    mail,
    outgoing,
    queue,
    sms,
    system,
)
