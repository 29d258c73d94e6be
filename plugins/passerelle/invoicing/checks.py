"""Checks run on a draft before it takes a number: what the schematrons cannot see, or see too late.

An issued invoice cannot be corrected (only credited), so everything the document, the platform flow
and the e-reporting (Flux 10) will need is checked here and a failing draft is held with the rule id:

- text XML 1.0 cannot carry, in any field (``PASSERELLE-XML-CHAR``; W3C XML 1.0 §2.2 ``Char``);
- seller and buyer identifiers by python-stdnum (``PASSERELLE-ID-*``): the schematrons check shapes
  (BR-FR-09/10/11, BR-CO-09) but not check digits; a non-EU buyer's tax identifier by its country's scheme;
- the Flux 10 buyer identifier (G6.28: mandatory for B2BINT; G2.19: scheme 0223/0227 at most 18
  characters; G2.01: ISO 3166 alpha-2 country);
- amounts given with more decimals than EN 16931 allows (BR-DEC-*): refused, never rounded, since the
  rounding would happen before the schematron ever sees the value;
- ``marts.customer_readiness``: a customer the report says is not ready is held with the report's reasons
  (``PASSERELLE-READINESS``), so the report and issuing can never disagree silently.

Identifier verdicts come from :mod:`passerelle.quality.identifiers`, the same functions the staging
quality suite quarantines with; the readiness report (:mod:`passerelle.reports.readiness`) runs these very
checks on each customer, so the two agree by construction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from passerelle.documents.validation import Finding
from passerelle.einvoice.amounts import round2
from passerelle.einvoice.model import Invoice, Party, ProcessingRule
from passerelle.quality.identifiers import COUNTRY_CODES, EU_VAT_PREFIXES, iban_problem, identifier_problem, tax_id_problem
from passerelle.quality.xml_text import unsafe_reason
from stdnum.fr import siren as stdnum_siren

LAYER = "issue"
FATAL = "fatal"
XML_CHAR = "PASSERELLE-XML-CHAR"
READINESS = "PASSERELLE-READINESS"
RENDER = "PASSERELLE-RENDER"
DRAFT = "PASSERELLE-DRAFT"  # the draft itself could not be built (a line's VAT rate, its customer gone)
GLYPH = "PASSERELLE-PDF-GLYPH"  # a printed character no invoice font can draw (UnrenderableTextError)
FLUX10_ID_MAX = 18  # G2.19: CompanyId of scheme 0223 (EU) or 0227 (outside the EU)
EU_COUNTRIES = (EU_VAT_PREFIXES - {"EL", "XI"}) | {"GR"}


def finding(rule: str, location: str, message: str) -> Finding:
    return Finding(LAYER, rule, FATAL, location, message)


def issue_checks(invoice: Invoice, customer_ready: tuple[bool, list[str]] | None = None) -> list[Finding]:
    """Every issue-time finding of ``invoice`` (all fatal); ``customer_ready`` is the readiness row, if any."""
    found = list(text_findings(invoice))
    found += party_findings(invoice.seller, "seller", seller=True)
    found += party_findings(invoice.buyer, "buyer", seller=False, rule=invoice.processing_rule)
    if invoice.iban:
        problem = iban_problem(invoice.iban)
        if problem != "valid":
            found.append(finding("PASSERELLE-ID-IBAN_BT-84", "iban", f"IBAN '{invoice.iban}' is invalid ({problem})"))
    found += flux10_findings(invoice)
    found += decimal_findings(invoice)
    if customer_ready is not None and not customer_ready[0]:
        found.append(finding(READINESS, "marts.customer_readiness",
                             "marts.customer_readiness says the customer is not ready: "
                             + "; ".join(customer_ready[1] or ["in quarantine"])))
    return found


def text_findings(invoice: Invoice) -> Iterator[Finding]:
    for path, text in _texts(invoice, ""):
        reason = unsafe_reason(path, text)
        if reason:
            yield finding(XML_CHAR, path, reason)


def party_findings(party: Party, role: str, *, seller: bool, rule: ProcessingRule | None = None) -> list[Finding]:
    """Check digits of SIREN, SIRET and VAT/tax number (BT-30/29/31 for the seller, BT-47/46/48 for the buyer)."""
    terms = ("BT-30", "BT-29", "BT-31") if seller else ("BT-47", "BT-46", "BT-48")
    found = []
    for kind, value, term in (("siren", party.siren, terms[0]), ("siret", party.siret, terms[1])):
        if value is not None:
            problem = identifier_problem(kind, value)
            if problem != "valid":
                found.append(finding(f"PASSERELLE-ID-{kind.upper()}_{term}", f"{role}.{kind}",
                                     f"{role} {kind.upper()} '{value}' is invalid ({problem})"))
    if party.siren and party.siret and not party.siret.startswith(party.siren):
        found.append(finding(f"PASSERELLE-ID-SIRET_{terms[1]}", f"{role}.siret",
                             f"{role} SIRET '{party.siret}' does not start with the SIREN '{party.siren}'"))
    if party.vat_number is not None:
        problem = tax_id_problem(party.vat_number, None if seller else party.address.country_code)
        if problem != "valid":
            found.append(finding(f"PASSERELLE-ID-VAT_{terms[2]}", f"{role}.vat_number",
                                 f"{role} VAT/tax number '{party.vat_number}' is invalid ({problem})"))
        elif party.siren and party.vat_number.startswith("FR") and party.vat_number[4:] != party.siren:
            # A French VAT number is FR, a two-character key and the SIREN itself.
            found.append(finding(f"PASSERELLE-ID-VAT_{terms[2]}", f"{role}.vat_number",
                                 f"{role} VAT number '{party.vat_number}' is not built on the SIREN '{party.siren}'"
                                 f" (expected {_french_vat(party.siren)})"))
    return found


def _french_vat(siren: str) -> str:
    try:
        return "FR" + stdnum_siren.to_tva(siren)
    except ValueError:  # a SIREN too broken to derive from: its own finding says why
        return "a number built on a valid SIREN"


def flux10_findings(invoice: Invoice) -> list[Finding]:
    """What the e-reporting of a B2BINT invoice needs from the buyer (Flux 10 Annexe 7 rules)."""
    buyer = invoice.buyer
    country = buyer.address.country_code
    found = []
    if not isinstance(country, str) or country not in COUNTRY_CODES:
        found.append(finding("G2.01", "buyer.address.country_code",
                             f"buyer country '{country}' is not an ISO 3166-1 alpha-2 code"))
    if invoice.processing_rule is ProcessingRule.B2BINT:
        if not buyer.vat_number:
            where = "EU VAT number" if country in EU_COUNTRIES else "tax identifier"
            found.append(finding("G6.28", "buyer.vat_number",
                                 f"a buyer outside France needs its {where} (BT-48): Flux 10 reports it as the "
                                 "buyer's identifier"))
        elif len(buyer.vat_number) > FLUX10_ID_MAX:
            found.append(finding("G2.19", "buyer.vat_number",
                                 f"buyer identifier '{buyer.vat_number}' is longer than {FLUX10_ID_MAX} characters"))
    return found


def decimal_findings(invoice: Invoice) -> list[Finding]:
    """Amounts stated (not computed) with more than 2 decimals: refused with their BR-DEC rule."""
    found = []

    def check(value: Decimal | None, rule: str, location: str, term: str) -> None:
        if value is not None and value != round2(value):
            found.append(finding(rule, location, f"{term} {value} has more than 2 decimals"))

    for position, item in enumerate(invoice.allowances_charges, 1):
        amount, base = ("BR-DEC-05", "BR-DEC-06") if item.is_charge else ("BR-DEC-01", "BR-DEC-02")
        terms = ("BT-99", "BT-100") if item.is_charge else ("BT-92", "BT-93")
        if item.percent is None or item.base_amount is None:
            check(item.amount, amount, f"allowances_charges[{position}].amount", terms[0])
        check(item.base_amount, base, f"allowances_charges[{position}].base_amount", terms[1])
    for line in invoice.lines:
        for position, item in enumerate(line.allowances_charges, 1):
            amount, base = ("BR-DEC-27", "BR-DEC-28") if item.is_charge else ("BR-DEC-24", "BR-DEC-25")
            terms = ("BT-141", "BT-142") if item.is_charge else ("BT-136", "BT-137")
            where = f"lines[{line.line_id}].allowances_charges[{position}]"
            if item.percent is None or item.base_amount is None:
                check(item.amount, amount, f"{where}.amount", terms[0])
            check(item.base_amount, base, f"{where}.base_amount", terms[1])
    check(invoice.prepaid_amount, "BR-DEC-16", "prepaid_amount", "BT-113")
    check(invoice.rounding_amount, "BR-DEC-17", "rounding_amount", "BT-114")
    return found


def render_finding(error: BaseException) -> Finding:
    """A draft whose rendering, validation or writing raised: held with what was raised."""
    location = getattr(error, "field", None) or type(error).__name__
    rule = GLYPH if hasattr(error, "character") else RENDER
    return finding(rule, str(location), f"{type(error).__name__}: {error}")


def customer_readiness(cur: Any, customer_key: str) -> tuple[bool, list[str]] | None:
    """(ready, missing) from ``marts.customer_readiness``, or None when the report has no row for it."""
    cur.execute("SELECT ready, missing FROM marts.customer_readiness WHERE customer_key = %s", (customer_key,))
    row = cur.fetchone()
    return (bool(row[0]), list(row[1] or [])) if row else None


def _texts(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every text of the model with its path (``buyer.name``, ``lines[2].description``...)."""
    if isinstance(value, str):
        yield path, value
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from _texts(getattr(value, field.name), f"{path}.{field.name}" if path else field.name)
    elif isinstance(value, (tuple, list)):
        for position, item in enumerate(value, 1):
            yield from _texts(item, f"{path}[{position}]")
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item, path)
