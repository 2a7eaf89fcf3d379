"""Find the e-invoice in a file or a mail: every attachment, also in nested multiparts,
attached mails (message/rfc822) and zip archives one level deep; XML checked directly,
PDFs for the XML they carry. The best verdict wins (an EN 16931 invoice over a lesser
invoice over none), so a mail with an invoice and its delivery note is an invoice.

Limits against hostile input: at most ``MAX_PARTS`` parts, ``MAX_NESTING`` attached mails
deep, zip archives with at most ``MAX_ZIP_ENTRIES`` entries and ``MAX_ZIP_BYTES``
uncompressed, and a time budget per mail (``BUDGET``): what is not reached in time is
reported, never waited for.
"""

from __future__ import annotations

import io
import time
import zipfile
from email import message_from_bytes, policy

from . import pdf, xmlcheck
from .xmlcheck import Verdict

MAX_PARTS = 200
MAX_NESTING = 3
MAX_ZIP_ENTRIES = 100
MAX_ZIP_BYTES = 50 * 1024 * 1024
BUDGET = 20.0  # seconds of scanning per mail


def _kind(name: str, data: bytes) -> str | None:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    lower = name.lower()
    if head.startswith(b"%PDF-") or lower.endswith(".pdf"):
        return "pdf"
    if head.startswith(b"<") or lower.endswith(".xml"):
        return "xml"
    if head.startswith(b"PK\x03\x04") or lower.endswith(".zip"):
        return "zip"
    if lower.endswith(".eml") or head[:200].lower().startswith((b"from:", b"received:",
                                                                   b"return-path:",
                                                                   b"message-id:")):
        return "eml"
    return None


def _best(verdicts: list[Verdict], container: str, reasons: list[str]) -> Verdict:
    found = [v for v in verdicts if v.found]
    if not found:
        v = Verdict(container=container)
        v.reasons = reasons + [r for x in verdicts for r in x.reasons] or \
            ["no invoice XML found"]
        return v
    best = max(found, key=lambda v: v.rank())
    best.container = container
    if best.name:
        best.reasons = [f"{best.name}: {r}" for r in best.reasons]
    return best


def check_pdf(data: bytes, name: str = "") -> Verdict:
    files, reasons = pdf.embedded_files(data)
    verdicts = [xmlcheck.check(content, n) for n, content in files
                if _kind(n, content) == "xml"]
    if files and not verdicts:
        reasons.append(f"no XML among the embedded files ({', '.join(n for n, _ in files)})")
    v = _best(verdicts, "pdf", reasons)
    v.name = name
    return v


class _Scan:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.parts = 0
        self.reasons: list[str] = []

    def file(self, name: str, data: bytes, depth: int) -> list[Verdict]:
        if time.monotonic() > self.deadline:
            self.reasons.append(f"{name}: not scanned (time limit per mail)")
            return []
        kind = _kind(name, data)
        if kind == "xml":
            return [xmlcheck.check(data, name)]
        if kind == "pdf":
            return [check_pdf(data, name)]
        if kind == "zip" and depth == 0:
            return self.zip(name, data)
        if kind == "eml" and depth < MAX_NESTING:
            return self.mail(data, depth + 1)
        return []

    def zip(self, name: str, data: bytes) -> list[Verdict]:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            self.reasons.append(f"{name}: broken zip ({exc})")
            return []
        if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            self.reasons.append(f"{name}: zip too large to scan")
            return []
        out = []
        for info in infos:
            if info.is_dir() or info.flag_bits & 0x1:  # encrypted entries: skipped
                continue
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:
                self.reasons.append(f"{name}/{info.filename}: {exc}")
                continue
            out += self.file(f"{name}/{info.filename}", content, 1)
        return out

    def mail(self, raw: bytes, depth: int) -> list[Verdict]:
        msg = message_from_bytes(raw, policy=policy.default)
        out = []
        for part in msg.walk():
            self.parts += 1
            if self.parts > MAX_PARTS:
                self.reasons.append(f"more than {MAX_PARTS} parts: the rest not scanned")
                break
            ctype = part.get_content_type()
            if part.is_multipart():
                continue
            if ctype == "message/rfc822":
                inner = part.get_payload()
                inner = inner[0] if isinstance(inner, list) and inner else inner
                if depth < MAX_NESTING and hasattr(inner, "as_bytes"):
                    out += self.mail(inner.as_bytes(policy=policy.SMTP), depth + 1)
                continue
            name = part.get_filename() or ""
            if not name and not ctype.endswith(("xml", "pdf", "zip")):
                continue
            try:
                data = part.get_payload(decode=True) or b""
            except Exception:  # noqa: BLE001 - a broken encoding: nothing to check
                continue
            out += self.file(name or ctype.replace("/", "."), data, depth)
        return out


def check_mail(raw: bytes, budget: float = BUDGET) -> Verdict:
    scan = _Scan(time.monotonic() + budget)
    try:
        verdicts = scan.mail(raw, 0)
    except Exception as exc:  # noqa: BLE001 - a broken mail is "none", never a crash
        return Verdict(container="eml", reasons=[f"cannot read the mail: {exc}"])
    return _best(verdicts, "eml", scan.reasons)


def check_file(name: str, data: bytes) -> Verdict:
    """``lanmailctl einvoice check``: an .eml, .pdf or .xml (by content, then name)."""
    kind = _kind(name, data)
    try:
        if kind == "pdf":
            return check_pdf(data, name)
        if kind == "xml":
            return xmlcheck.check(data, name)
        if kind == "zip":
            scan = _Scan(time.monotonic() + BUDGET)
            return _best(scan.zip(name, data), "zip", scan.reasons)
        return check_mail(data)
    except Exception as exc:  # noqa: BLE001
        return Verdict(container=kind or "eml", reasons=[f"cannot check: {exc}"])


def scan_and_mark(raw: bytes) -> tuple[bytes, Verdict]:
    """What the scanning process runs for a mail: its verdict and the marked message."""
    from .header import mark

    verdict = check_mail(raw)
    return mark(raw, verdict), verdict
