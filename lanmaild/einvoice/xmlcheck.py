"""Is this XML an invoice or credit note, in which syntax, which profile, EN 16931 or not?

Syntaxes (matched on namespace URIs, never on prefixes):

- UN/CEFACT CII ``CrossIndustryInvoice`` (ZUGFeRD 2.x, Factur-X, XRechnung CII)
- UBL 2.1 ``Invoice`` and ``CreditNote`` (XRechnung UBL, Peppol BIS)
- ZUGFeRD 1.0 ``CrossIndustryDocument``

An invoice needs what every invoice has: number, issue date, type code (UBL CreditNote:
optional, the root says it), seller, buyer, currency and a total; a missing one makes it
"none" with a reason naming it. Credit notes: UBL ``CreditNote``, or a type code of
UNTDID 1001's credit-note codes. No schema or schematron validation (the seed: "does not
validate the XML data").

EN 16931: the specification id (CII guideline / UBL CustomizationID) names EN 16931 or
XRechnung (Peppol BIS ids contain ``urn:cen.eu:en16931``); Factur-X/ZUGFeRD MINIMUM and
BASIC WL and ZUGFeRD 1.0 do not conform.

Safety: lxml parser without entity resolution, DTD loading or network, no huge trees; a
document over ``MAX_XML`` bytes is not parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

MAX_XML = 10 * 1024 * 1024
CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
ZF1_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"
UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CREDIT_CODES = {"381", "261", "262", "296", "308", "396", "420", "458", "532"}


@dataclass
class Verdict:
    kind: str = "none"  # invoice | creditnote | none
    syntax: str | None = None  # cii | ubl | zugferd1
    profile: str | None = None
    en16931: bool = False
    container: str = "xml"  # xml | pdf | eml
    reasons: list[str] = field(default_factory=list)
    name: str = ""  # the attachment it came from

    @property
    def found(self) -> bool:
        return self.kind != "none"

    def rank(self) -> int:
        """Which verdict of several attachments describes the mail."""
        return (2 if self.en16931 else 1) if self.found else 0

    def header(self) -> str:
        """The value of X-LANMail-EInvoice."""
        if not self.found:
            return "none"
        parts = [self.kind, f"syntax={self.syntax}"]
        if self.profile:
            parts.append(f"profile={_safe(self.profile)}")
        parts.append(f"en16931={'yes' if self.en16931 else 'no'}")
        return "; ".join(parts)

    def as_json(self, file: str) -> dict:
        return {"file": file, "kind": self.kind, "syntax": self.syntax,
                "container": self.container, "profile": self.profile,
                "en16931": self.en16931, "reasons": self.reasons}


def _safe(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in ";\"\\")[:200]


PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False,
                      dtd_validation=False, huge_tree=False, remove_comments=True,
                      remove_pis=True)


def parse(data: bytes):
    """The root element, or a reason why there is none."""
    if len(data) > MAX_XML:
        return None, f"XML larger than {MAX_XML // (1024 * 1024)} MB: not parsed"
    try:
        parser = etree.XMLParser(**PARSER_OPTIONS)
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return None, f"not well-formed XML: {str(exc)[:120]}"
    except (ValueError, etree.LxmlError) as exc:
        return None, f"not XML: {str(exc)[:120]}"
    if root is None:
        return None, "empty XML"
    return root, ""


def _local(el) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el, name: str):
    for c in el:
        if _local(c) == name:
            return c
    return None


def _path(el, *names: str):
    for name in names:
        if el is None:
            return None
        el = _child(el, name)
    return el


def _text(el) -> str:
    if el is None:
        return ""
    return "".join(el.itertext()).strip()


def _cii_fields(root, doc: str, trans: str, agree: str, settle: str, summ: str, ctx: str):
    header = _child(root, doc)
    t = _child(root, trans)
    agreement = _child(t, agree) if t is not None else None
    settlement = _child(t, settle) if t is not None else None
    summation = _child(settlement, summ) if settlement is not None else None
    total = None
    for name in ("GrandTotalAmount", "DuePayableAmount", "TaxBasisTotalAmount",
                 "LineTotalAmount"):
        total = total or (_text(_child(summation, name)) if summation is not None else "")
    return {
        "number": _text(_child(header, "ID")) if header is not None else "",
        "issue date": _text(_path(header, "IssueDateTime", "DateTimeString")) if header
        is not None else "",
        "type code": _text(_child(header, "TypeCode")) if header is not None else "",
        "seller": agreement is not None and _child(agreement, "SellerTradeParty") is not None,
        "buyer": agreement is not None and _child(agreement, "BuyerTradeParty") is not None,
        "currency": _text(_child(settlement, "InvoiceCurrencyCode")) if settlement is not None
        else "",
        "total": total,
    }, _text(_path(root, ctx, "GuidelineSpecifiedDocumentContextParameter", "ID"))


def _ubl_fields(root, credit: bool):
    type_code = _text(_child(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode"))
    total = _path(root, "LegalMonetaryTotal")
    amount = ""
    if total is not None:
        for name in ("PayableAmount", "TaxInclusiveAmount", "TaxExclusiveAmount"):
            amount = amount or _text(_child(total, name))
    return {
        "number": _text(_child(root, "ID")),
        "issue date": _text(_child(root, "IssueDate")),
        "type code": type_code or ("381" if credit else ""),
        "seller": _child(root, "AccountingSupplierParty") is not None,
        "buyer": _child(root, "AccountingCustomerParty") is not None,
        "currency": _text(_child(root, "DocumentCurrencyCode")),
        "total": amount,
    }, _text(_child(root, "CustomizationID"))


def _conforms(profile: str) -> bool:
    p = profile.lower()
    if "minimum" in p or "basicwl" in p or "basic-wl" in p:
        return False
    return "en16931" in p or "xrechnung" in p


def check(data: bytes, name: str = "") -> Verdict:
    """The verdict for one XML document."""
    root, why = parse(data)
    if root is None:
        return Verdict(reasons=[why], name=name)
    ns = etree.QName(root).namespace or ""
    local = _local(root)
    if ns == CII_NS and local == "CrossIndustryInvoice":
        syntax = "cii"
        fields, profile = _cii_fields(root, "ExchangedDocument", "SupplyChainTradeTransaction",
                                      "ApplicableHeaderTradeAgreement",
                                      "ApplicableHeaderTradeSettlement",
                                      "SpecifiedTradeSettlementHeaderMonetarySummation",
                                      "ExchangedDocumentContext")
        en = _conforms(profile)
    elif ns == ZF1_NS and local == "CrossIndustryDocument":
        syntax = "zugferd1"
        fields, profile = _cii_fields(root, "HeaderExchangedDocument",
                                      "SpecifiedSupplyChainTradeTransaction",
                                      "ApplicableSupplyChainTradeAgreement",
                                      "ApplicableSupplyChainTradeSettlement",
                                      "SpecifiedTradeSettlementMonetarySummation",
                                      "SpecifiedExchangedDocumentContext")
        en = False  # ZUGFeRD 1.0 predates EN 16931
    elif (ns, local) in ((UBL_INVOICE_NS, "Invoice"), (UBL_CREDIT_NS, "CreditNote")):
        syntax = "ubl"
        fields, profile = _ubl_fields(root, local == "CreditNote")
        en = _conforms(profile)
    else:
        what = f"{{{ns}}}{local}" if ns else local
        return Verdict(reasons=[f"root element {what} is no invoice (CII, UBL or ZUGFeRD 1)"],
                       name=name)
    missing = [k for k, v in fields.items() if not v]
    if missing:
        return Verdict(syntax=None, reasons=[f"{syntax.upper()} document without "
                                             f"{', '.join(missing)}"], name=name)
    credit = (syntax == "ubl" and local == "CreditNote") or fields["type code"] in CREDIT_CODES
    kind = "creditnote" if credit else "invoice"
    reasons = [f"{kind} {fields['number']} in {syntax.upper()}"
               + (f", profile {profile}" if profile else "")]
    if not en:
        reasons.append("not an EN 16931 e-invoice (profile below the norm or ZUGFeRD 1.0)")
    return Verdict(kind=kind, syntax=syntax, profile=profile or None, en16931=en,
                   reasons=reasons, name=name)
