"""The daemon's own failures, shared by every service (kept out of ``daemon`` so services
that raise them need not import the module that starts them)."""

from __future__ import annotations


class StartupError(Exception):
    """Start-up cannot go on; the message is the one line printed to the admin."""


class FatalError(Exception):
    """The daemon cannot go on serving (the store writer died): it stopped its services
    and exits non-zero, so the service manager (systemd Restart=on-failure) restarts it."""
