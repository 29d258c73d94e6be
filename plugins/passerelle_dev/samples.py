"""Invoices of every kind Passerelle issues, built from the example seller: tests of the formats and rules, and the benchmark."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

from passerelle.einvoice.amounts import business_process
from passerelle.invoicing.mentions import due_date, legal_notes, payment_terms, seller_party, vat_point
from passerelle.einvoice.model import (
    CREDIT_NOTE, INVOICE, AllowanceCharge, Invoice, InvoiceLine, Party, PostalAddress, PrecedingInvoice,
    ProcessingRule, VatCategory,
)
from passerelle_dev.examples import EXAMPLE_SELLER
from passerelle.invoicing.seller import SellerConfig, load_seller
from passerelle.invoicing.vat import line_vat

D = Decimal


def example_seller(**overrides: object) -> SellerConfig:
    data = json.loads(EXAMPLE_SELLER.read_text(encoding="utf-8"))
    data.update(overrides)
    return load_seller(data)


BUYER_FR = Party("Dupont Industries SARL", PostalAddress("4 avenue Foch", "75016", "Paris", "FR"),
                 siren="100000009", siret="10000000900017", vat_number="FR88100000009",
                 electronic_address="100000009")
BUYER_BE = Party("Brussels Consulting NV", PostalAddress("Rue Neuve 12", "1000", "Bruxelles", "BE"),
                 vat_number="BE0403170701", electronic_address="factures@brussels-consulting.example",
                 electronic_address_scheme="EM")
BUYER_CH = Party("Zürich Handels AG", PostalAddress("Bahnhofstrasse 1", "8001", "Zürich", "CH"),
                 vat_number="CHE116281710", electronic_address="rechnungen@zuerich-handels.example",
                 electronic_address_scheme="EM")
BUYER_B2C = Party("Camille Martin", PostalAddress("3 rue des Lilas", "33000", "Bordeaux", "FR"),
                  electronic_address="camille.martin@example.org", electronic_address_scheme="EM")


def line(line_id: str, name: str, quantity: str, price: str, rate: str | None, *, rule: ProcessingRule,
         goods: bool = False, discount: str | None = None, unit: str = "C62", in_eu: bool = False) -> InvoiceLine:
    vat = line_vat(rule=rule, buyer_in_eu=in_eu, product_rate=D(rate) if rate is not None else None,
                   is_goods=goods, franchise=False)
    allowances = ()
    if discount:
        base = (D(quantity) * D(price)).quantize(D("0.01"))
        allowances = (AllowanceCharge(False, D("0"), "Remise commerciale", "95", base, D(discount)),)
    return InvoiceLine(line_id, name, D(quantity), unit, D(price), vat.category, vat.rate,
                       allowances_charges=allowances, is_goods=goods)


def invoice(buyer: Party, rule: ProcessingRule, lines: list[InvoiceLine], *, number: str = "MS2026-000001",
            issued: date = date(2026, 3, 31), currency: str = "EUR", eur_per_unit: Decimal | None = None,
            seller: SellerConfig | None = None, **extra: object) -> Invoice:
    """An invoice with the exemptions its lines need and the seller's legal mentions."""
    seller = seller or example_seller()
    exemptions = {}
    for item in lines:
        vat = line_vat(rule=rule, buyer_in_eu=buyer.address.country_code in {"BE", "DE", "IT", "ES"},
                       product_rate=item.vat_rate, is_goods=item.is_goods, franchise=False)
        if vat.exemption:
            exemptions[(item.vat_category, item.vat_rate.quantize(D("0.01")))] = vat.exemption
    fields = dict(
        number=number, issue_date=issued, type_code=INVOICE, currency=currency, seller=seller_party(seller),
        buyer=buyer, lines=tuple(lines), processing_rule=rule,
        vat_point=vat_point(seller, has_services=any(not item.is_goods for item in lines)),
        due_date=due_date(seller, issued), payment_terms=payment_terms(seller), notes=legal_notes(seller),
        business_process=business_process(lines), exemptions=exemptions, eur_per_unit=eur_per_unit,
        period_start=date(2026, 3, 1), period_end=date(2026, 3, 31), delivery_date=date(2026, 3, 31),
        iban=seller.iban, bic=seller.bic,
    )
    fields.update(extra)
    return Invoice(**fields)


def b2b_multi_rate() -> Invoice:
    """Domestic B2B: 20, 10, 5.5 and 2.1 %, an exempt training day, a discounted line, goods and services."""
    rule = ProcessingRule.B2B
    return invoice(BUYER_FR, rule, [
        line("1", "Journée de conseil", "3", "950.00", "20", rule=rule, unit="DAY"),
        line("2", "Développement spécifique", "12.5", "85.00", "20", rule=rule, unit="HUR", discount="10"),
        line("3", "Déjeuner de formation", "8", "28.00", "10", rule=rule),
        line("4", "Manuel de formation imprimé", "8", "39.00", "5.5", rule=rule, goods=True),
        line("5", "Revue professionnelle", "2", "96.00", "2.1", rule=rule, goods=True),
        line("6", "Formation inter-entreprises", "2", "650.00", "0", rule=rule, unit="DAY"),
    ], allowances_charges=(
        AllowanceCharge(False, D("50.00"), "Remise de fidélité", "95", vat_category=VatCategory.STANDARD,
                        vat_rate=D("20")),
        AllowanceCharge(True, D("35.00"), "Frais de port", "FC", vat_category=VatCategory.STANDARD, vat_rate=D("20")),
    ))


def intra_eu() -> Invoice:
    """A Belgian company: services reverse-charged (AE), goods as an intra-community supply (K)."""
    rule = ProcessingRule.B2BINT
    return invoice(BUYER_BE, rule, [
        line("1", "Audit de conformité e-invoicing", "1", "2800.00", None, rule=rule, in_eu=True),
        line("2", "Écran 27 pouces", "4", "289.00", None, rule=rule, goods=True, in_eu=True),
    ], delivery_address=BUYER_BE.address)


def export_chf() -> Invoice:
    """A Swiss company billed in CHF: export (G), VAT total given in EUR (BT-111)."""
    rule = ProcessingRule.B2BINT
    return invoice(BUYER_CH, rule, [
        line("1", "Intégration facturation électronique", "1", "4230.00", None, rule=rule),
    ], currency="CHF", eur_per_unit=D("1.0638"))


def b2c() -> Invoice:
    rule = ProcessingRule.B2C
    return invoice(BUYER_B2C, rule, [
        line("1", "Formation intra-entreprise", "1", "1400.00", "20", rule=rule, unit="DAY"),
        line("2", "Manuel de formation imprimé", "1", "39.00", "5.5", rule=rule, goods=True),
    ])


def usd_domestic() -> Invoice:
    """A French company billed in USD: French VAT, with the VAT total in EUR (BR-FR-CO-12)."""
    rule = ProcessingRule.B2B
    return invoice(BUYER_FR, rule, [
        line("1", "Licence CRM - utilisateur annuel", "10", "388.80", "20", rule=rule),
    ], currency="USD", eur_per_unit=D("0.9259"))


def credit_note(original: Invoice | None = None) -> Invoice:
    """381 cancelling part of an invoice, referencing it (BT-25/BT-26)."""
    original = original or b2b_multi_rate()
    return replace(original, number="MS2026-000002", type_code=CREDIT_NOTE, issue_date=date(2026, 4, 2),
                   due_date=date(2026, 4, 2), lines=original.lines[:1], allowances_charges=(),
                   preceding=(PrecedingInvoice(original.number, original.issue_date),),
                   exemptions={}, business_process=business_process(original.lines[:1]))


ALL = {"b2b_multi_rate": b2b_multi_rate, "intra_eu": intra_eu, "export_chf": export_chf, "b2c": b2c,
       "usd_domestic": usd_domestic, "credit_note": credit_note}
