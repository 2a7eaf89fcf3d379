"""XOAUTH2 for external mailboxes (``auth = "xoauth2"``): the access token before each
log-in (``lanmaild.oauth.remote.KEEPER``), and writing the refresh token into the mailbox's
``[[external]]`` table (after ``lanmailctl external oauth2-login``, and when the provider
rotates it)."""

from __future__ import annotations

from ..config import ConfigError
from ..config.apply import account_array_edit, apply_change
from ..oauth.remote import KEEPER, RemoteAuthError
from . import client


async def save_refresh_token(runtime, account: str, mailbox: str, token: str) -> None:
    name = runtime.config.account(account).name

    def edit(items) -> None:
        for table in items:
            if str(table.get("name", "")).lower() == mailbox.lower():
                table["oauth2_refresh_token"] = token
                return
        raise ConfigError(f"account {name} has no external mailbox '{mailbox}'")

    await apply_change(runtime, account_array_edit(runtime, name, "external", edit),
                       what=f"account {name}: external mailbox {mailbox}: OAuth2 refresh "
                            "token stored")


async def access_token(runtime, account: str, mb) -> str | None:
    """None for a password mailbox; a FetchError of kind auth when the provider refuses."""
    if mb.oauth is None:
        return None
    try:
        return await KEEPER.access_token(
            (account, mb.name), mb.oauth, client.tls_context(mb),
            lambda new: save_refresh_token(runtime, account, mb.name, new))
    except RemoteAuthError as exc:
        raise client.FetchError("auth", f"OAuth2: {exc}") from None


def refused(account: str, mb) -> None:
    """The provider refused a token at log-in: the next try fetches a fresh one."""
    KEEPER.forget((account, mb.name))
