"""The local control API (Unix socket, JSON lines) used by lanmailctl and scripts."""

from .server import start

__all__ = ["start"]
