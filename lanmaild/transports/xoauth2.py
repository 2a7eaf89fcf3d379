"""XOAUTH2 towards the smarthost (``[outgoing.smtp] auth = "xoauth2"``): the access token
before each log-in (``lanmaild.oauth.remote.KEEPER``), and the refresh token written into
the file the settings came from (after ``lanmailctl outgoing oauth2-login``, and when the
provider rotates it)."""

from __future__ import annotations

import ssl
from pathlib import Path

from ..config.apply import apply_change
from ..net.tls import client_context
from ..oauth.remote import KEEPER


def key(settings) -> tuple:
    return ("outgoing", settings.source)


def tls_context(settings) -> ssl.SSLContext:
    return client_context(settings.ca_file, settings.verify)


async def save_refresh_token(runtime, source: str, token: str) -> None:
    path = Path(source)

    def build(change) -> None:
        doc = change.doc(path)
        doc["outgoing"]["smtp"]["oauth2_refresh_token"] = token
        change.put(path, doc, 0o600)

    await apply_change(runtime, build, what=f"{path.name}: [outgoing.smtp] OAuth2 refresh "
                                            "token stored")


async def access_token(runtime, settings) -> str:
    return await KEEPER.access_token(
        key(settings), settings.oauth, tls_context(settings),
        lambda new: save_refresh_token(runtime, settings.source, new))
