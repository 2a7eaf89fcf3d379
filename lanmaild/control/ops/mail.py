"""mail.list: a page of one folder of an account (``lanmailctl mail list``)."""

from __future__ import annotations

from ..registry import OpError, arg, op
from .config import check_name


@op("mail.list")
async def mail_list(runtime, args: dict) -> dict:
    """The messages of ACCOUNT's folder (default INBOX): uid, size, date, flags, from,
    subject."""
    name = check_name(arg(args, "account"), "account")
    folder = arg(args, "folder", required=False, default="INBOX")
    limit = arg(args, "limit", int, required=False, default=1000)
    offset = arg(args, "offset", int, required=False, default=0)
    account = runtime.config.account(name)
    if account is None:
        raise OpError("not_found", f"no account '{name}'")
    info = await runtime.store.mail.get_folder(account.key, folder)
    if info is None:
        raise OpError("not_found", f"account '{account.name}' has no folder '{folder}'")
    messages = await runtime.store.mail.list_messages(account.key, info.name,
                                                      limit=max(1, min(limit, 100000)),
                                                      offset=max(0, offset))
    return {"account": account.name, "folder": info.name, "total": info.messages,
            "messages": messages}
