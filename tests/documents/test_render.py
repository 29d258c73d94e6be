"""Every kind of invoice Passerelle issues renders in CII and in UBL that pass the XSD, EN 16931 and BR-FR
rules with no finding at all, and each kind of defect is caught, with the same rule id in both syntaxes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from passerelle.documents.facturx_data import InvoiceDataError, data_dict
from passerelle.documents.render import CII, UBL, render_cii, render_data, render_ubl
from passerelle.documents.validation import CiiValidator, Finding, UblValidator
from passerelle.einvoice.amounts import compute
from passerelle.einvoice.model import Invoice, VatPoint
from passerelle_dev import samples

D = Decimal
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


@dataclass(frozen=True)
class Syntax:
    flavor: str
    validator: CiiValidator | UblValidator

    def findings(self, data: dict[str, Any]) -> list[Finding]:
        return self.validator.validate(render_data(data, self.flavor))


@pytest.fixture(params=[CII, UBL])
def syntax(request: pytest.FixtureRequest, cii_validator: CiiValidator, ubl_validator: UblValidator) -> Syntax:
    return Syntax(request.param, cii_validator if request.param == CII else ubl_validator)


def rules(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(finding.layer, finding.rule, finding.severity) for finding in findings}


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_every_sample_passes_all_three_layers(syntax: Syntax, sample: Callable[[str], Invoice], name: str) -> None:
    assert syntax.findings(data_dict(sample(name))) == []


def test_wrong_total_breaks_br_co_15_and_16(syntax: Syntax) -> None:
    data = data_dict(samples.b2b_multi_rate())
    data["BT-112"] = str(D(data["BT-112"]) + 1)
    findings = syntax.findings(data)
    assert rules(findings) == {("en16931", "BR-CO-15", "fatal"), ("en16931", "BR-CO-16", "fatal")}
    assert "BT-112" in next(f.message for f in findings if f.rule == "BR-CO-15")


def test_b2b_buyer_without_siren_breaks_br_fr_11(syntax: Syntax) -> None:
    invoice = samples.b2b_multi_rate()
    no_siren = replace(invoice, buyer=replace(invoice.buyer, siren=None, siret=None))
    assert rules(syntax.findings(data_dict(no_siren))) == {("br-fr", "BR-FR-11_BT-47", "fatal")}
    # With the SIRET still there, BR-FR-09 also finds it no longer starts with the (absent) SIREN.
    siret_only = replace(invoice, buyer=replace(invoice.buyer, siren=None))
    assert rules(syntax.findings(data_dict(siret_only))) == {("br-fr", "BR-FR-11_BT-47", "fatal"),
                                                             ("br-fr", "BR-FR-09_BT-46", "fatal")}


def test_vat_rate_not_french_breaks_br_fr_16(syntax: Syntax) -> None:
    invoice = samples.b2b_multi_rate()
    six = replace(invoice, lines=(replace(invoice.lines[0], vat_rate=D("6")),) + invoice.lines[1:])
    findings = syntax.findings(data_dict(six))
    assert rules(findings) == {("br-fr", "BR-FR-16_BT-152", "fatal"), ("br-fr", "BR-FR-16_BT-119", "fatal")}
    assert all('"6"' in f.message for f in findings)


def test_foreign_buyer_without_electronic_address_breaks_br_fr_12(syntax: Syntax,
                                                                   sample: Callable[[str], Invoice]) -> None:
    invoice = sample("intra_eu")
    unreachable = replace(invoice, buyer=replace(invoice.buyer, electronic_address=None))
    assert rules(syntax.findings(data_dict(unreachable))) == {("br-fr", "BR-FR-12_BT-49", "fatal")}


def test_data_dict_carries_the_computed_amounts() -> None:
    invoice = samples.b2b_multi_rate()
    computed, data = compute(invoice), data_dict(invoice)
    totals = computed.totals
    assert [data[bt] for bt in ("BT-106", "BT-107", "BT-108", "BT-109", "BT-110", "BT-112", "BT-115")] == [
        f"{amount:.2f}" for amount in (totals.line_total, totals.allowance_total, totals.charge_total,
                                       totals.tax_basis_total, totals.tax_total, totals.grand_total,
                                       totals.due_payable)]
    assert [line["BT-131"] for line in data["BG-25"]] == [f"{net:.2f}" for net in computed.line_nets]
    assert [(row["BT-118"], row.get("BT-119"), row["BT-116"], row["BT-117"]) for row in data["BG-23"]] == [
        (row.category.value, format(row.rate.normalize(), "f"), f"{row.taxable_amount:.2f}",
         f"{row.tax_amount:.2f}") for row in computed.vat_breakdown]
    assert "BT-113" not in data and "BT-114" not in data and "BT-6" not in data and "BT-111" not in data


def test_data_dict_maps_lines_allowances_and_exemptions() -> None:
    data = data_dict(samples.b2b_multi_rate())
    discounted = data["BG-25"][1]
    assert (discounted["BT-129"], discounted["BT-130"], discounted["BT-146"], discounted["BT-151"],
            discounted["BT-152"]) == ("12.5", "HUR", "85.00", "S", "20")
    assert discounted["BG-27"] == [{"amount": "106.25", "base_amount": "1062.50", "rate": "10",
                                    "reason": "Remise commerciale", "reason_code": "95"}]
    assert data["BG-20"] == [{"amount": "50.00", "reason": "Remise de fidélité", "reason_code": "95",
                              "vat_category_code": "S", "vat_rate": "20"}]
    assert data["BG-21"][0]["reason_code"] == "FC" and data["BG-21"][0]["amount"] == "35.00"
    exempt = next(row for row in data["BG-23"] if row["BT-118"] == "E")
    assert (exempt["BT-119"], exempt["BT-121"]) == ("0", "VATEX-FR-CGI261-4")
    assert data["BT-84"] == "FR7630006000011234567890189"  # the IBAN without its print spaces


def test_data_dict_notes_end_with_the_bar_processing_rule() -> None:
    invoice = samples.b2c()
    notes = data_dict(invoice)["BG-1"]
    assert [note["BT-21"] for note in notes] == [note.subject for note in invoice.notes] + ["BAR"]
    assert notes[-1]["BT-22"] == "B2C"


def test_foreign_currency_gives_bt_6_and_the_vat_total_in_euros() -> None:
    invoice = samples.export_chf()
    data = data_dict(invoice)
    assert (data["BT-5"], data["BT-6"], data["BT-111"]) == ("CHF", "EUR", f"{compute(invoice).totals.tax_total_eur:.2f}")
    usd = etree.fromstring(render_cii(samples.usd_domestic()))
    amounts = {node.get("currencyID"): node.text for node in usd.iter(f"{{{RAM}}}TaxTotalAmount")}
    assert amounts == {"USD": "777.60", "EUR": "719.98"}  # 777.60 × 0.9259, rounded half-up


@pytest.mark.parametrize(("vat_point", "cii", "ubl"), [(VatPoint.INVOICE, "5", "3"), (VatPoint.DELIVERY, "29", "35"),
                                                       (VatPoint.PAYMENT, "72", "432")])
def test_vat_point_code_in_each_syntax(vat_point: VatPoint, cii: str, ubl: str) -> None:
    invoice = replace(samples.b2b_multi_rate(), vat_point=vat_point)
    codes = {node.text for node in etree.fromstring(render_cii(invoice)).iter(f"{{{RAM}}}DueDateTypeCode")}
    assert codes == {cii}  # repeated in each of the five VAT breakdown rows
    assert etree.fromstring(render_ubl(invoice)).findtext(f".//{{{CBC}}}DescriptionCode") == ubl


def test_credit_note_is_a_ubl_credit_note_referencing_the_invoice() -> None:
    root = etree.fromstring(render_ubl(samples.credit_note()))
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext(f"{{{CBC}}}CreditNoteTypeCode") == "381"
    assert [root.findtext(f"{{*}}BillingReference/{{*}}InvoiceDocumentReference/{{{CBC}}}{tag}")
            for tag in ("ID", "IssueDate")] == ["MS2026-000001", "2026-03-31"]
    assert root.find(f"{{*}}CreditNoteLine/{{{CBC}}}CreditedQuantity") is not None


def test_delivery_address_becomes_the_ship_to_party() -> None:
    invoice = replace(samples.intra_eu(), delivery_name="Entrepôt Anderlecht")
    assert data_dict(invoice)["BG-13"] == {"name": "Entrepôt Anderlecht", "addr_l1": "Rue Neuve 12",
                                           "postcode": "1000", "city": "Bruxelles", "country_code": "BE"}


def test_invoice_without_delivery_date_or_address_is_refused_by_name() -> None:
    invoice = replace(samples.b2b_multi_rate(), number="MS2026-000042", delivery_date=None)
    with pytest.raises(InvoiceDataError, match=r"invoice MS2026-000042: delivery_date \(BT-72\)"):
        data_dict(invoice)


def test_rendering_is_repeatable() -> None:
    invoice = samples.b2b_multi_rate()
    assert render_cii(invoice) == render_cii(invoice) and render_ubl(invoice) == render_ubl(invoice)


def test_rounding_amount_stays_in_the_invoice_currency(syntax: Syntax) -> None:
    """factur-x alone would write the UBL BT-114 in EUR on a USD invoice."""
    invoice = replace(samples.usd_domestic(), rounding_amount=D("0.40"))
    xml = render_data(data_dict(invoice), syntax.flavor)
    [rounding] = [node for node in etree.fromstring(xml).iter() if etree.QName(node).localname in
                  ("RoundingAmount", "PayableRoundingAmount")]
    assert rounding.text == "0.40" and rounding.get("currencyID", "USD") == "USD"
    assert syntax.validator.validate(xml) == []
