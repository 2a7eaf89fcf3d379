"""Authentication shared by SMTP, IMAP and POP3 (passwords, SASL, throttling)."""

from .authenticator import Authenticator
from .passwords import hash_password, verify_password

__all__ = ["Authenticator", "hash_password", "verify_password"]
