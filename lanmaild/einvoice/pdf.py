"""The XML files a PDF carries (ZUGFeRD/Factur-X/XRechnung in PDF/A-3), with pypdf.

Two places are looked at, since real files use either: the ``/EmbeddedFiles`` name tree
(what ``PdfReader.attachments`` reads) and the ``/AF`` associated-files arrays of the
catalog and the pages (PDF 2.0 / PDF/A-3; some files have a broken name tree and only
``/AF``). Limits: the PDF's size, the number of files looked at, each file's decompressed
size (pypdf's own limits on streams apply too). An encrypted PDF is tried with the empty
user password. Anything broken ends as "no XML" plus a reason, never an exception.
"""

from __future__ import annotations

import logging

MAX_PDF = 50 * 1024 * 1024
MAX_FILES = 32
MAX_EMBEDDED = 10 * 1024 * 1024

logging.getLogger("pypdf").setLevel(logging.ERROR)  # broken PDFs are expected here


def _file_spec_data(spec) -> tuple[str, bytes] | None:
    spec = spec.get_object()
    name = str(spec.get("/UF") or spec.get("/F") or "")
    ef = spec.get("/EF")
    if ef is None:
        return None
    ef = ef.get_object()
    stream = ef.get("/F") or ef.get("/UF")
    if stream is None:
        return None
    stream = stream.get_object()
    length = stream.get("/Length")
    params = stream.get("/Params")
    size = params.get_object().get("/Size") if params is not None else None
    for value in (length, size):
        try:
            if value is not None and int(value.get_object()) > MAX_EMBEDDED:
                return None
        except (TypeError, ValueError):
            pass
    data = stream.get_data()
    if len(data) > MAX_EMBEDDED:
        return None
    return name, data


def embedded_files(data: bytes) -> tuple[list[tuple[str, bytes]], list[str]]:
    """((name, bytes) of the embedded files, reasons) of a PDF."""
    import io

    from pypdf import PdfReader

    if len(data) > MAX_PDF:
        return [], [f"PDF larger than {MAX_PDF // (1024 * 1024)} MB: not opened"]
    out: list[tuple[str, bytes]] = []
    reasons: list[str] = []
    seen: set[int] = set()
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:  # noqa: BLE001 - wrong password or missing crypto
                return [], ["encrypted PDF: cannot be opened without a password"]
        specs = []
        try:
            for name, items in (reader.attachments or {}).items():
                for item in items[:MAX_FILES]:
                    if len(out) < MAX_FILES and len(item) <= MAX_EMBEDDED:
                        out.append((name, item))
        except Exception as exc:  # noqa: BLE001 - a broken name tree: /AF may still work
            reasons.append(f"broken /EmbeddedFiles: {str(exc)[:80]}")
        root = reader.trailer["/Root"].get_object()
        af = root.get("/AF")
        if af is not None:
            specs += list(af.get_object())
        for page in reader.pages[:50]:
            page_af = page.get("/AF")
            if page_af is not None:
                specs += list(page_af.get_object())
        names = {n for n, _ in out}
        for spec in specs[:MAX_FILES]:
            ref = getattr(spec, "idnum", None)
            if ref is not None and ref in seen:
                continue
            seen.add(ref)
            try:
                item = _file_spec_data(spec)
            except Exception:  # noqa: BLE001
                continue
            if item is not None and (item[0] not in names or not out):
                out.append(item)
                names.add(item[0])
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on broken files
        reasons.append(f"broken PDF: {exc.__class__.__name__}: {str(exc)[:100]}")
    if not out and not reasons:
        reasons.append("PDF without embedded files")
    return out, reasons
