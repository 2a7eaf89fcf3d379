"""sms.test: send a test SMS to an account's number through the configured gateway."""

from __future__ import annotations

from ...sms import gateway
from ...sms.settings import of
from ..registry import OpError, arg, op


@op("sms.test")
async def sms_test(runtime, args: dict) -> dict:
    """Send a test SMS to the account's sms_number; the gateway's answer."""
    name = arg(args, "name")
    account = runtime.config.account(name)
    if account is None:
        raise OpError("not_found", f"no account '{name}'")
    if not account.sms_number:
        raise OpError("invalid", f"account {account.name} has no sms_number: set it with "
                      f"'lanmailctl account modify {account.name} --sms-number +49...'")
    if not of(runtime.config).enabled:
        raise OpError("config", "no SMS gateway: set [sms] url (and body) in lanmaild.toml")
    notifier = runtime.services.get("sms")
    try:
        status, answer = await notifier.send_now(account.sms_number, "lanmailctl sms test",
                                                 "LANMail test message")
    except gateway.GatewayError as exc:
        raise OpError("failed", f"the gateway refused or failed: {exc}") from None
    return {"account": account.name, "number": account.sms_number, "status": status,
            "answer": answer}
