"""E-invoice mailboxes through lanmaild: corpus files attached to mails (plain, nested in an
attached mail, zipped) are routed as the MANIFEST says; the header field cannot be forged;
big PDFs are scanned off the event loop (LoopProbe); routing settings are checked."""

from __future__ import annotations

import email
import io
import sys
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from lmtest import shared_dir
from loopprobe import LoopProbe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_testlib import (  # noqa: E402
    addr,
    raw_messages,
    send,
    smtp,
    subjects,
    wait_delivered,
)

ROUTES = ('einvoice = true\n[einvoice_routing]\ninvoices_to = "buchhaltung"\n'
          'keep_invoices = false\nothers_to = "info"\nkeep_others = false\n')


def mailbox(daemon_factory, extra: str = ""):
    d = daemon_factory(accounts={"buchhaltung": {}, "info": {}, "meier": {}}, start=False)
    (d.conf / "accounts" / "rechnung.toml").write_text(
        (d.conf / "accounts" / "meier.toml").read_text() + ROUTES + extra)
    (d.conf / "accounts" / "rechnung.toml").chmod(0o600)
    (d.conf / "groups" / "eingang.toml").write_text('members = ["rechnung"]\n')
    d.start()
    return d


def mail_with(subject: str, files: list[tuple[str, bytes]], extra_header: str = "") -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "lieferant@remote.example"
    msg["To"] = addr("rechnung")
    msg["Subject"] = subject
    if extra_header:
        name, value = extra_header.split(": ", 1)
        msg[name] = value
    msg.set_content("Anbei die Rechnung.\n")
    for name, data in files:
        maintype, subtype = ("application", "pdf") if name.endswith(".pdf") else \
            ("application", "zip") if name.endswith(".zip") else ("application", "xml")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def corpus(path: str) -> tuple[str, bytes]:
    p = shared_dir("einvoice") / path
    return p.name, p.read_bytes()


def deliver(d, raw: bytes, to: str = "rechnung") -> None:
    send(d, "lieferant@remote.example", [addr(to)], "", raw=raw)


def test_routes_as_the_manifest_says(daemon_factory):
    d = mailbox(daemon_factory)
    facturx = corpus("positives/pdf-facturx/mustang__corruptedV2PDF.pdf")
    ubl = next((shared_dir("einvoice") / "positives/xml-ubl").glob("*.xml"))
    minimum = corpus("positives/xml-cii/akretion__factur-x-minimum.xml")
    order = corpus("negatives/mustang__ORDER-X_EX01_ORDER_FULL_DATA-COMFORT.pdf")
    inner = mail_with("inner", [facturx])
    nested = EmailMessage(policy=SMTP)
    nested["From"], nested["To"], nested["Subject"] = "x@remote.example", addr("rechnung"), \
        "nested"
    nested.set_content("see attached mail\n")
    nested.add_attachment(email.message_from_bytes(inner, policy=SMTP))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("rechnung.xml", ubl.read_bytes())
    deliver(d, mail_with("pdf", [facturx]))
    deliver(d, mail_with("ubl", [(ubl.name, ubl.read_bytes())]))
    deliver(d, nested.as_bytes())
    deliver(d, mail_with("zip", [("rechnungen.zip", buf.getvalue())]))
    deliver(d, mail_with("minimum", [minimum]))
    deliver(d, mail_with("order", [order]))
    deliver(d, mail_with("forged", [], "X-LANMail-EInvoice: invoice; syntax=cii"))
    deliver(d, mail_with("via group", [facturx]), to="eingang")
    wait_delivered(d)
    assert sorted(subjects(d, "buchhaltung")) == ["nested", "pdf", "ubl", "via group", "zip"]
    assert sorted(subjects(d, "info")) == ["forged", "minimum", "order"]
    assert subjects(d, "rechnung") == []  # keep_* = false
    by_subject = {}
    for raw in raw_messages(d, "buchhaltung") + raw_messages(d, "info"):
        subject = raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        by_subject[subject] = raw
    assert by_subject["pdf"].startswith(b"X-LANMail-EInvoice: invoice; syntax=cii; profile=")
    assert b"en16931=yes" in by_subject["pdf"].split(b"\r\n", 1)[0]
    assert by_subject["minimum"].startswith(b"X-LANMail-EInvoice: invoice; syntax=cii")
    assert b"en16931=no" in by_subject["minimum"].split(b"\r\n", 1)[0]
    forged = by_subject["forged"]
    assert forged.startswith(b"X-LANMail-EInvoice: none\r\n")
    assert forged.count(b"X-LANMail-EInvoice") == 1  # the sender's field is gone


def test_non_en16931_as_invoice_when_asked(daemon_factory):
    d = mailbox(daemon_factory, "include_non_en16931 = true\n")
    deliver(d, mail_with("minimum", [corpus("positives/xml-cii/akretion__factur-x-minimum.xml")]))
    wait_delivered(d)
    assert subjects(d, "buchhaltung") == ["minimum"]


def test_big_pdfs_do_not_stall_the_loop(daemon_factory, tmp_path):
    d = mailbox(daemon_factory)
    name, pdf = corpus("positives/pdf-facturx/mustang__corruptedV2PDF.pdf")
    # a 20 MB PDF: the real one with 20 MB of incompressible stream data appended
    junk = bytes((i * 7919) & 0xFF for i in range(1 << 16)) * 300
    big = pdf + b"\n1000 0 obj\n<< /Length %d >>\nstream\n" % len(junk) + junk + \
        b"\nendstream\nendobj\n"
    d.limits_toml = "message_size = 60000000"
    d.write_main()
    d.restart()
    raw = mail_with("big", [(name, big)])
    with LoopProbe(d) as probe:
        for _ in range(2):
            deliver(d, raw)
        wait_delivered(d, timeout=60)
    probe.check()
    assert subjects(d, "buchhaltung") == ["big", "big"]


def test_routing_settings_are_checked(daemon_factory):
    d = daemon_factory(accounts={"meier": {}}, start=False)
    path = d.conf / "accounts" / "meier.toml"
    base = path.read_text()
    path.write_text(base + '[einvoice_routing]\ninvoices_to = "buchhaltung"\n')
    out = d.ctl("config", "check")
    assert out.returncode != 0 and "needs einvoice = true" in out.stderr
    path.write_text(base + 'einvoice = true\n[einvoice_routing]\ninvoices_to = "nobody"\n')
    out = d.ctl("config", "check")
    assert out.returncode != 0 and "einvoice_routing.invoices_to" in out.stderr


def test_whole_corpus_through_lanmaild(daemon_factory):
    """Every corpus file, attached directly, inside an attached mail, or zipped (in turn),
    reaches the route its MANIFEST row says (EN 16931 invoices and credit notes to
    invoices_to, everything else to others_to)."""
    import csv

    base = shared_dir("einvoice")
    with open(base / "MANIFEST.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    d = mailbox(daemon_factory)
    d.limits_toml = "message_size = 60000000"
    d.write_main()
    d.restart()
    s = smtp(d)
    for i, row in enumerate(rows):
        name, data = corpus(row["path"])
        if i % 3 == 1:
            inner = email.message_from_bytes(mail_with("inner", [(name, data)]), policy=SMTP)
            msg = EmailMessage(policy=SMTP)
            msg["From"], msg["To"] = "lieferant@remote.example", addr("rechnung")
            msg["Subject"] = row["path"]
            msg.set_content("forwarded\n")
            msg.add_attachment(inner)
            raw = msg.as_bytes()
        elif i % 3 == 2:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(name, data)
            raw = mail_with(row["path"], [(name + ".zip", buf.getvalue())])
        else:
            raw = mail_with(row["path"], [(name, data)])
        s.sendmail("lieferant@remote.example", [addr("rechnung")], raw)
    s.quit()
    wait_delivered(d, timeout=120)
    want = {r["path"] for r in rows if r["expected"] != "none" and r["en16931"] == "yes"}
    assert set(subjects(d, "buchhaltung")) == want
    assert set(subjects(d, "info")) == {r["path"] for r in rows} - want
