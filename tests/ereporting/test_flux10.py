"""Flux 10 reports built from the sample invoices, checked for real against the PPF's XSD and schematron."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest
from lxml import etree
from stdnum.ch import uid

from passerelle.documents.validation import Finding, has_fatal
from passerelle.ereporting.flux10 import (
    B2cCategory, B2cDay, B2cPaymentDay, Platform, RateAmount, RateTotal, Transmission, invoice_payment,
    payments_report, transactions_report,
)
from passerelle.ereporting.schematron import Flux10Validator
from passerelle.einvoice.amounts import compute, line_net, round2
from passerelle.einvoice.model import Invoice, InvoiceLine, ProcessingRule, VatCategory
from tests.ereporting import flux10_artefacts
from passerelle_dev import samples

D = Decimal
SWISS_UID = "CHE" + "10932255" + uid.calc_check_digit("10932255")


@pytest.fixture(scope="module")
def validator() -> Flux10Validator:
    return Flux10Validator(flux10_artefacts())  # XSD and schematron compiled once for the module


def transmission(**changes: object) -> Transmission:
    base = Transmission("MS-F10-2026-03-D3", datetime(2026, 4, 1, 6, 30, 0), Platform("PA42", "Plateforme Exemple"),
                        "732829320", "Maury Solutions SAS", date(2026, 3, 21), date(2026, 3, 31))
    return replace(base, **changes)


def intra_eu() -> Invoice:
    return replace(samples.intra_eu(), number="MS2026-000101")


def export_chf() -> Invoice:
    """The Swiss sample buyer carries no identifier at all; Flux 10 needs one (G6.28), here its UID."""
    invoice = replace(samples.export_chf(), number="MS2026-000102")
    return replace(invoice, buyer=replace(invoice.buyer, vat_number=SWISS_UID))


def credit_note() -> Invoice:
    return replace(samples.credit_note(intra_eu()), number="MS2026-000103", business_process="S1")


def b2c_days(invoices: list[Invoice]) -> list[B2cDay]:
    """What the marts' SQL produces: per day × goods/services, the bases and VAT per rate."""
    bases: dict[tuple[date, B2cCategory], dict[Decimal, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: dict[tuple[date, B2cCategory], set[str]] = defaultdict(set)
    for invoice in invoices:
        for line in invoice.lines:
            key = (invoice.issue_date, B2cCategory.GOODS if line.is_goods else B2cCategory.SERVICES)
            bases[key][line.vat_rate] += line_net(line)
            counts[key].add(invoice.number)
    return [B2cDay(day, category, tuple(RateTotal(rate, base, round2(base * rate / 100))
                                        for rate, base in sorted(bases[(day, category)].items())),
                   len(counts[(day, category)]))
            for day, category in sorted(bases)]


def b2c_invoices() -> list[Invoice]:
    first = samples.b2c()
    return [first, replace(first, number="MS2026-000104"), replace(first, number="MS2026-000105",
                                                                   issue_date=date(2026, 3, 30))]


def transactions() -> bytes:
    return transactions_report(transmission(), [intra_eu(), export_chf(), credit_note()], b2c_days(b2c_invoices()))


def service_abroad() -> Invoice:
    """A B2B-international service taxed in France on receipt (training held in Lyon, 20 %, lunches at 10 %):
    the case that needs 10.2 payment data."""
    rule = ProcessingRule.B2BINT
    return samples.invoice(samples.BUYER_BE, rule, [
        InvoiceLine("1", "Formation en présentiel à Lyon", D("2"), "DAY", D("1250.00"), VatCategory.STANDARD, D("20")),
        InvoiceLine("2", "Déjeuners", D("6"), "C62", D("24.50"), VatCategory.STANDARD, D("10")),
    ], number="MS2026-000106")


def edited(xml: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(xml)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def set_text(path: str, value: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        root.find(path).text = value
    return change


def rules(findings: list[Finding]) -> set[str]:
    return {finding.rule for finding in findings}


def test_b2b_international_invoices_credit_note_and_b2c_days_pass_xsd_and_schematron(
        validator: Flux10Validator) -> None:
    xml = transactions()
    assert validator.validate(xml) == []
    root = etree.fromstring(xml)
    assert [node.text for node in root.iterfind("TransactionsReport/Invoice/ID")] == [
        "MS2026-000101", "MS2026-000102", "MS2026-000103"]
    assert root.findtext("ReportDocument/Sender/Id") == "PA42"
    assert root.find("ReportDocument/Issuer/Id").get("schemeId") == "0002"


def test_invoice_carries_buyer_scheme_vat_in_eur_and_breakdown_with_exemptions() -> None:
    invoices = etree.fromstring(transactions()).findall("TransactionsReport/Invoice")
    belgian, swiss, credit = invoices
    assert belgian.find("Buyer/CompanyId").get("schemeId") == "0223"
    assert belgian.findtext("Buyer/CompanyId") == "BE0403170701"
    assert swiss.find("Buyer/CompanyId").get("schemeId") == "0227"
    assert swiss.findtext("CurrencyCode") == "CHF"
    assert swiss.find("MonetaryTotal/TaxAmount").get("CurrencyCode") == "EUR"
    assert [(node.findtext("TaxCategory/Code"), node.findtext("TaxableAmount"),
             node.findtext("TaxCategory/TaxExemptionReasonCode")) for node in belgian.iterfind("TaxSubTotal")] == [
        ("AE", "2800.00", "VATEX-EU-AE"), ("K", "1156.00", "VATEX-EU-IC")]
    assert belgian.findtext("MonetaryTotal/TaxExclusiveAmount") == "3956.00"
    assert belgian.findtext("BusinessProcess/ID") == "M1"
    assert belgian.findtext("TaxDueDateTypeCode") == "72"  # services on receipt (no débits option)
    assert (credit.findtext("TypeCode"), credit.findtext("ReferencedDocument/ID"),
            credit.findtext("ReferencedDocument/IssueDate")) == ("381", "MS2026-000101", "20260331")


def test_b2c_days_are_totalled_per_day_and_category_with_per_rate_rows() -> None:
    days = etree.fromstring(transactions()).findall("TransactionsReport/Transactions")
    summary = [(day.findtext("Date"), day.findtext("CategoryCode"), day.findtext("TaxExclusiveAmount"),
                day.findtext("TaxTotal"), day.findtext("TransactionsCount"),
                [(row.findtext("TaxPercent"), row.findtext("TaxableAmount"), row.findtext("TaxTotal"))
                 for row in day.iterfind("TaxSubtotal")]) for day in days]
    assert summary == [
        ("20260330", "TLB1", "39.00", "2.15", "1", [("5.50", "39.00", "2.15")]),
        ("20260330", "TPS1", "1400.00", "280.00", "1", [("20.00", "1400.00", "280.00")]),
        ("20260331", "TLB1", "78.00", "4.29", "2", [("5.50", "78.00", "4.29")]),
        ("20260331", "TPS1", "2800.00", "560.00", "2", [("20.00", "2800.00", "560.00")]),
    ]


def test_payments_report_with_unitary_and_b2c_payments_passes(validator: Flux10Validator) -> None:
    invoice = service_abroad()
    assert compute(invoice).totals.grand_total == D("3161.70")
    paid = invoice_payment(invoice, D("1000.00"), date(2026, 4, 15))
    xml = payments_report(transmission(period_start=date(2026, 4, 1), period_end=date(2026, 4, 30)), [paid], [
        B2cPaymentDay(date(2026, 4, 2), (RateAmount(D("20"), D("1680.00")), RateAmount(D("5.5"), D("41.15")))),
    ])
    assert validator.validate(xml) == []
    root = etree.fromstring(xml)
    amounts = [(row.findtext("TaxPercent"), row.findtext("Amount"))
               for row in root.iterfind("PaymentsReport/Invoice/Payment/SubTotals")]
    assert amounts == [("20.00", "948.86"), ("10.00", "51.14")]  # 1000 × 3000.00 / 3161.70, 1000 × 161.70 / 3161.70
    assert sum(D(amount) for _, amount in amounts) == D("1000.00")
    assert root.findtext("PaymentsReport/Invoice/Payment/Date") == "20260415"
    assert root.find("TransactionsReport") is None


def test_a_foreign_buyer_without_identifier_misses_only_that(validator: Flux10Validator) -> None:
    sample = samples.export_chf()
    bare = replace(sample, number="MS2026-000102", buyer=replace(sample.buyer, vat_number=None))
    findings = validator.validate(transactions_report(transmission(), [bare]))
    assert [(f.rule, f.location) for f in findings] == [("G6.28", "/Report[1]/TransactionsReport[1]/Invoice[1]")]
    assert findings[0].message.startswith("Invoice MS2026-000102: [G6.28]") and has_fatal(findings)


@pytest.mark.parametrize("change, expected", [
    (set_text("TransactionsReport/Invoice/MonetaryTotal/TaxExclusiveAmount", "3956.50"), {"G1.53"}),
    (set_text("TransactionsReport/Transactions/TaxTotal", "3.15"), {"G1.53"}),
    (set_text("TransactionsReport/Invoice/TaxSubTotal/TaxCategory/Percent", "19"), {"G1.24"}),
    (set_text("TransactionsReport/Invoice/MonetaryTotal/TaxAmount", "0.001"), {"G1.14"}),
    (set_text("TransactionsReport/Invoice/ID", "MS2026#101"), {"G1.05"}),
    (set_text("TransactionsReport/Invoice/BusinessProcess/TypeID", "urn:cen.eu:en16931:2017"), {"S1.12"}),
    (set_text("ReportDocument/Sender/Id", "PA4"), {"G6.22"}),
    (set_text("ReportDocument/Id", "X" * 51), {"G1.104"}),
    (set_text("TransactionsReport/Transactions/CategoryCode", "TPS2"), {"G1.68"}),
])
def test_each_defect_is_reported_with_the_ppf_rule_id(validator: Flux10Validator, change: Callable,
                                                     expected: set[str]) -> None:
    findings = validator.validate(edited(transactions(), change))
    assert rules(findings) == expected and has_fatal(findings)


def test_a_b2c_rate_outside_the_french_list_is_refused_by_g1_24(validator: Flux10Validator) -> None:
    day = B2cDay(date(2026, 3, 31), B2cCategory.GOODS, (RateTotal(D("19"), D("100.00"), D("19.00")),), 1)
    findings = validator.validate(transactions_report(transmission(), [], [day]))
    assert rules(findings) == {"G1.24"}
    assert findings[0].message.startswith("Transactions 20260331:")


def test_a_buyer_without_identifier_is_refused_by_g6_28(validator: Flux10Validator) -> None:
    invoice = intra_eu()
    anonymous = replace(invoice, buyer=replace(invoice.buyer, vat_number=None))
    assert rules(validator.validate(transactions_report(transmission(), [anonymous]))) == {"G6.28"}


def test_transactions_and_payments_in_one_transmission_break_g6_29(validator: Flux10Validator) -> None:
    payments = etree.fromstring(payments_report(transmission(), [invoice_payment(service_abroad(), D("10.00"),
                                                                                   date(2026, 3, 25))]))

    def add_payments(root: etree._Element) -> None:
        root.append(payments.find("PaymentsReport"))
    assert rules(validator.validate(edited(transactions(), add_payments))) == {"G6.29"}


def test_structure_errors_are_reported_by_the_xsd(validator: Flux10Validator) -> None:
    def drop_sender_name(root: etree._Element) -> None:
        sender = root.find("ReportDocument/Sender")
        sender.remove(sender.find("Name"))
    findings = validator.validate(edited(transactions(), drop_sender_name))
    assert [(f.layer, f.rule) for f in findings] == [("xsd", "XSD")] and "Name" in findings[0].message
    assert validator.validate(b"<Report>")[0].message.startswith("not well-formed XML")


def test_records_that_cannot_be_written_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="invoice MS2026-000001: processing rule B2C"):
        transactions_report(transmission(), [samples.b2c()])
    with pytest.raises(ValueError, match="period ends 2026-03-01 before it starts 2026-03-21"):
        transactions_report(transmission(period_end=date(2026, 3, 1)))
    with pytest.raises(ValueError, match="invoice MS2026-000102: currency CHF"):
        invoice_payment(export_chf(), D("10.00"), date(2026, 4, 1))
    with pytest.raises(ValueError, match="B2C day 2026-03-31 TLB1: no VAT rate row"):
        transactions_report(transmission(), [], [B2cDay(date(2026, 3, 31), B2cCategory.GOODS, (), 0)])


def test_corrective_transmission_and_amount_format() -> None:
    day = B2cDay(date(2026, 3, 31), B2cCategory.SERVICES, (RateTotal(D("20"), D("1E+2"), D("20")),), 1)
    root = etree.fromstring(transactions_report(transmission(corrective=True), [], [day]))
    assert root.findtext("ReportDocument/TypeCode") == "RE"
    assert root.findtext("ReportDocument/IssueDateTime/DateTimeString") == "20260401063000"
    assert root.findtext("TransactionsReport/Transactions/TaxSubtotal/TaxableAmount") == "100.00"
