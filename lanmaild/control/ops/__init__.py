"""Control API operations, one module per area; importing this registers them all."""

from . import (  # noqa: F401
    accounts,
    apitoken,
    archive,
    autoresponder,
    backup,
    config,
    doctor,
    external,
    groups,
    mail,
    oauth2,
    outgoing,
    queue,
    route,
    sms,
    system,
    tls,
    transfer,
)
