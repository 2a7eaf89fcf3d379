"""Stage ``einvoice`` (issue 11): what the e-invoice mailbox costs (lanmaild only; the
anchor has no such feature).

1. ``einvoice.scan``: the detector over the whole shared corpus (../shared/einvoice, 155
   files, 8 MB) in this process: CPU seconds and ms per MB (target: < 2 s CPU).
2. ``einvoice.deliver``: mails of about 10 KB of text, each with one corpus file attached
   (the corpus R times, R=4 [--quick 1]), sent over 8 connections to an e-invoice mailbox
   (``invoices@lan.test``, scanned, routed nowhere) and the same mails to the plain bench
   account; delivered msgs/s for each (IMAP STATUS reaches the count). The plain account's
   rate is the one that must stay within 10 % of what it was before the feature (compare
   the ``smtp`` stage's delivered rate with the last recorded run).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

INVOICE_USER = "invoices@lan.test"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "einvoice"


def account_toml(password_hash: str) -> str:
    return f'password = "{password_hash}"\neinvoice = true\n'


def corpus_files() -> list[Path]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        raise RuntimeError(f"{CORPUS} is missing: the stage needs ../shared beside the checkout")
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as fh:
        return [CORPUS / r["path"] for r in csv.DictReader(fh, delimiter="\t")]


def scan_cpu() -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lanmaild.einvoice.detect import check_file

    files = corpus_files()
    data = [(p.name, p.read_bytes()) for p in files]
    mb = sum(len(d) for _n, d in data) / (1024 * 1024)
    start = time.process_time()
    found = sum(check_file(n, d).found for n, d in data)
    cpu = time.process_time() - start
    return {"files": len(data), "mb": round(mb, 2), "found": found, "cpu_s": round(cpu, 3),
            "ms_per_mb": round(1000 * cpu / mb, 1)}


def mails(rcpt: str) -> list[bytes]:
    text = ("Sehr geehrte Damen und Herren, anbei unsere Rechnung. " * 180)[:10000] + "\n"
    out = []
    for i, p in enumerate(corpus_files()):
        msg = EmailMessage(policy=SMTP)
        msg["From"], msg["To"] = "lieferant@remote.example", rcpt
        msg["Subject"], msg["Message-ID"] = f"Rechnung {i}", f"<einv{i}@bench.test>"
        msg.set_content(text)
        sub = "pdf" if p.suffix == ".pdf" else "xml"
        msg.add_attachment(p.read_bytes(), maintype="application", subtype=sub,
                           filename=p.name)
        out.append(msg.as_bytes())
    return out


def w_send(job, ep, opts):
    from lanmailbench import Conn, ProtoError

    first, count = job
    rcpt, messages = opts
    c = Conn(ep.host, ep.smtp, ep.timeout)
    if c.smtp_reply()[0] != 220:
        raise ProtoError("SMTP greeting")
    c.smtp(b"EHLO bench.client.test", 250)
    for i in range(first, first + count):
        c.smtp(b"MAIL FROM:<lieferant@remote.example>", 250)
        c.smtp(b"RCPT TO:<%s>" % rcpt.encode(), 250)
        c.smtp(b"DATA", 354)
        body = messages[i % len(messages)].replace(b"\r\n.", b"\r\n..")
        c.send(body + b".\r\n")
        code, text = c.smtp_reply()
        if code != 250:
            raise ProtoError(f"end of DATA: {text[:200]!r}")
        c.smtp(b"RSET", 250)
    c.smtp(b"QUIT", 221)
    c.close()
    return {"ok": count}


def deliver_rate(srv, user: str, n: int, deliver_timeout: float) -> dict:
    from lanmailbench import Monitor, mailbox_count, purge, run_workers, split

    ep = dataclasses.replace(srv.ep, user=user)
    purge(ep, "INBOX")
    before = mailbox_count(ep, "INBOX")
    messages = mails(user)
    mon = Monitor(srv.pids)
    wall, t0, res, _ccpu = run_workers(w_send, [*split(n, 8)], srv.ep, mon, (user, messages))
    errs = [x.get("error") for x in res if x.get("error")]
    if errs:
        raise RuntimeError(f"sending failed: {errs[:2]}")
    deadline = time.monotonic() + deliver_timeout
    while mailbox_count(ep, "INBOX") < before + n and time.monotonic() < deadline:
        time.sleep(0.1)
    took = time.monotonic() - t0
    sysm = mon.finish()
    mb = sum(len(messages[i % len(messages)]) for i in range(n)) / (1024 * 1024)
    return {"n": n, "mb": round(mb, 1), "delivered_s": round(took, 2),
            "delivered_msgs_per_s": round(n / took, 1),
            "server_cpu_s": sysm.get("server_cpu_s")}
