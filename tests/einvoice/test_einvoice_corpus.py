"""The detector over the shared corpus: every MANIFEST row must match (type, syntax,
EN 16931), without exceptions, network or entity expansion; and lanmailctl einvoice check."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import pytest
from lmtest import shared_dir

from lanmaild.einvoice.detect import check_file


def rows() -> list[dict]:
    base = shared_dir("einvoice")
    with open(base / "MANIFEST.tsv", encoding="utf-8") as fh:
        return [dict(r, file=base / r["path"]) for r in csv.DictReader(fh, delimiter="\t")]


def manifest_view(v) -> tuple[str, str, str]:
    """The corpus's columns: syntax 'pdf+cii' for a PDF, 'zugferd1' for both containers."""
    if v.kind == "none":
        return ("none", "-", "-")
    prefix = "pdf+" if v.container == "pdf" and v.syntax != "zugferd1" else ""
    return (v.kind, prefix + v.syntax, "yes" if v.en16931 else "no")


def test_every_manifest_row_matches():
    wrong = []
    start = time.process_time()
    for row in rows():
        v = check_file(row["file"].name, row["file"].read_bytes())
        want = (row["expected"], row["syntax"], row["en16931"])
        if manifest_view(v) != want:
            wrong.append((row["path"], want, manifest_view(v), v.reasons[:2]))
        assert v.reasons, row["path"]  # every verdict says why
    cpu = time.process_time() - start
    assert wrong == [], wrong
    assert len(rows()) >= 150
    assert cpu < 10, f"the corpus took {cpu:.1f} s of CPU"  # generous: the bench measures


def test_xxe_and_billion_laughs_are_not_expanded():
    base = shared_dir("einvoice") / "negatives"
    for name in ("synthetic__billion-laughs.xml", "synthetic__xxe-external-entity.xml"):
        t0 = time.monotonic()
        v = check_file(name, (base / name).read_bytes())
        assert v.kind == "none" and time.monotonic() - t0 < 2
        assert "root:" not in " ".join(v.reasons)  # /etc/passwd was not read


def test_profile_and_reasons_for_missing_details():
    missing = (b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:'
               b'schema:xsd:Invoice-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:'
               b'xsd:CommonBasicComponents-2"><cbc:ID>R-1</cbc:ID></Invoice>')
    v = check_file("x.xml", missing)
    assert v.kind == "none"
    assert "issue date" in v.reasons[0] and "total" in v.reasons[0]


def test_cli_check_json_and_human():
    base = shared_dir("einvoice")
    files = [base / "positives/pdf-facturx/mustang__corruptedV2PDF.pdf",
             next((base / "positives/xml-ubl").glob("*.xml")),
             base / "negatives/synthetic__truncated-facturx.pdf"]
    out = subprocess.run([sys.executable, "-m", "lanmailctl.cli", "--json", "einvoice",
                          "check", *map(str, files)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [d["kind"] for d in data] == ["invoice", "invoice", "none"]
    assert data[0]["syntax"] == "cii" and data[0]["container"] == "pdf"
    assert data[0]["en16931"] is True and data[0]["profile"]
    assert data[1]["syntax"] == "ubl" and data[1]["container"] == "xml"
    assert set(data[2]) == {"file", "kind", "syntax", "container", "profile", "en16931",
                            "reasons"}
    human = subprocess.run([sys.executable, "-m", "lanmailctl.cli", "einvoice", "check",
                            str(files[0]), "/no/such/file"], capture_output=True, text=True,
                           timeout=60)
    assert human.returncode == 1 and "cannot read it" in human.stderr


@pytest.mark.parametrize("garbage", [b"", b"%PDF-1.7\n" + b"\x00" * 1000, b"<a><b>",
                                     b"PK\x03\x04broken"])
def test_garbage_is_none_not_a_crash(garbage):
    assert check_file("x", garbage).kind == "none"
