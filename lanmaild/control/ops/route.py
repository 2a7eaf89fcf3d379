"""route.test: what lanmaild would do with a mail, without sending or storing anything.

The SMTP policy is the handler's own (``smtp.handler.rcpt_refusal``, ``may_send_as``); the
routing is the delivery pipeline itself, run in memory on a small test message exactly as
the direct path runs it before a commit (its results are only described, never
committed: no mailbox copy, no queue row, no email command's action); for internet
recipients the outgoing settings show the transport, the sender rewriting and the signing.
"""

from __future__ import annotations

import email.utils

from ...delivery import pipeline
from ...delivery.address import may_send_as, resolve, sender_account
from ...delivery.mail import Context, Mail, Target
from ...mime import parse_message
from ...smtp.handler import rcpt_refusal
from ..registry import OpError, arg, op


def _test_message(sender: str, rcpts: list[str], subject: str) -> bytes:
    return (f"From: <{sender or 'MAILER-DAEMON'}>\r\nTo: {', '.join(rcpts)}\r\n"
            f"Subject: {subject}\r\nDate: {email.utils.formatdate()}\r\n"
            f"Message-ID: {email.utils.make_msgid('routetest')}\r\n\r\n"
            "lanmailctl route test\r\n").encode()


def _smtp(cfg, sender: str, rcpts: list[str], auth, trusted: bool) -> tuple[list, list]:
    """The replies MAIL and RCPT would get; the accepted recipients."""
    steps = []
    if auth is not None and not may_send_as(cfg, auth, sender):
        steps.append({"command": f"MAIL FROM:<{sender}>",
                      "reply": f"553 5.7.1 <{sender}>: Sender address not owned by "
                               f"{auth.name}"})
        return steps, []
    steps.append({"command": f"MAIL FROM:<{sender}>", "reply": "250 2.1.0 Ok"})
    sending = auth if auth is not None else (
        cfg.account(sender_account(cfg, sender) or "") if trusted else None)
    accepted = []
    for r in rcpts:
        target = resolve(cfg, r)
        refusal = rcpt_refusal(r, target, auth is not None or trusted, sending)
        steps.append({"command": f"RCPT TO:<{r}>", "reply": refusal or "250 2.1.5 Ok",
                      "resolves_to": f"{target.kind} {target.name}".strip()})
        if refusal is None:
            accepted.append(r)
    return steps, accepted


def _outgoing(runtime, account: str | None, sender: str, rcpts: list[str]) -> dict:
    from ...transports.prepare import dkim_keys
    from ...transports.rewrite import domain_of, expand
    from ...transports.settings import account_settings, global_settings

    cfg = runtime.config
    g = global_settings(cfg)
    a = account_settings(cfg, account)
    kind = a.transport if a.transport != "default" else g.transport
    settings = a if a.transport != "default" else g
    pattern = a.sender or g.sender
    new_sender = expand(pattern, account) if (account and pattern and sender) else sender
    key = None
    if a.dkim and g.dkim and domain_of(new_sender):
        key = dkim_keys(cfg.server.data_dir).signing_key(domain_of(new_sender))
    out = {"recipients": rcpts, "transport": kind,
           "envelope_sender": new_sender,
           "sender_rewritten": new_sender.lower() != (sender or "").lower(),
           "dkim": f"{key[0].selector}._domainkey.{key[0].domain}" if key else None,
           "smime": None}
    if kind == "smtp":
        s = settings.smtp
        out["smarthost"] = f"{s.host}:{s.port} ({s.tls}" + (
            ", XOAUTH2" if s.oauth else ", login" if s.user else "") + ")"
    if a.smime is not None:
        out["smime"] = "sign" + (" and encrypt where a recipient certificate is known"
                                 if a.smime.recipient_certs else "")
    if kind == "none":
        out["note"] = ("no outgoing transport configured: the mail would wait in the queue "
                       "([outgoing] transport)")
    return out


@op("route.test")
async def route_test(runtime, args: dict) -> dict:
    """What lanmaild would do with a mail from ``from`` to ``to`` (logged in as ``auth``,
    or from a ``trusted`` network), without sending or storing anything."""
    cfg = runtime.config
    sender = arg(args, "from")
    rcpts = arg(args, "to", list)
    if not rcpts or not all(isinstance(r, str) for r in rcpts):
        raise OpError("bad_request", "'to' is a list of addresses")
    auth = None
    if arg(args, "auth", required=False):
        auth = cfg.account(args["auth"])
        if auth is None:
            raise OpError("not_found", f"no account '{args['auth']}'")
    trusted = arg(args, "trusted", bool, required=False, default=False)
    smtp, accepted = _smtp(cfg, sender, rcpts, auth, trusted)
    result = {"smtp": smtp, "source": "submission" if auth else "smtp"}
    if not accepted:
        result["pipeline"] = None
        return result
    raw = _test_message(sender, accepted, arg(args, "subject", required=False,
                                              default="route test"))
    from ...einvoice.scan import prescan  # lxml, pypdf: only when needed

    parsed, verdict = parse_message(raw), None
    scanned = await prescan(cfg, raw, accepted)  # as delivery does, for e-invoice mailboxes
    if scanned is not None:
        raw, parsed, verdict = scanned
    mail = Mail(queue_id=0, blob_id=None, raw=raw, parsed=parsed, sender=sender,
                source=result["source"], auth_account=auth.key if auth else None,
                trusted=trusted, einvoice=verdict)
    mail.sender_account = auth.key if auth else (
        sender_account(cfg, sender) if trusted else None)
    for i, address in enumerate(accepted):
        r = resolve(cfg, address)
        mail.targets.append(Target(address, i, r.kind, r.name, r.address))
    pipeline.run(Context(runtime, cfg), mail, bounce=False)
    # the envelope recipients that stay internet recipients (forwarded copies are new mail)
    outbound = [accepted[i] for i in mail.outbound]
    result["pipeline"] = {
        "targets": [{"rcpt": t.rcpt, "kind": t.kind, "address": t.address,
                     "via": list(t.path), "forwarded_by": t.forwarded_by}
                    for t in mail.targets],
        "mailboxes": [{"account": a, "folder": f} for a, f, _flags in mail.deliveries],
        "internet": outbound,
        "failures": [{"rcpt": f.rcpt, "status": f.status, "reason": f.reason}
                     for f in mail.failures],
        "new_mail": [{"sender": n.sender, "to": [a for a, _s in n.recipients],
                      "source": n.source} for n in mail.new_mail],
        "autoreplies": [{"account": r[0], "to": r[1]} for r in mail.autoreplies],
        "archive": [{"account": a, "direction": d} for a, d in mail.archive],
        "sms": [a for a, _n in mail.notifications],
        "email_command": mail.is_command,
        "einvoice": None if verdict is None else (getattr(verdict, "kind", None) or "none"),
    }
    if outbound:
        result["outgoing"] = _outgoing(runtime, mail.sender_account, sender, outbound)
    for n in mail.new_mail:
        internet = [a for a, state in n.recipients if state == "outbound"]
        if internet:
            result.setdefault("outgoing_new_mail", []).append(
                _outgoing(runtime, n.account, n.sender, internet))
    return result
