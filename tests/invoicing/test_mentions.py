"""The seller's legal mentions: the notes French law and BR-FR-05/06 require, the VAT point (BT-8), the due
date (BT-9) and payment terms (BT-20), for the example seller and its variants."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from passerelle.invoicing.mentions import (
    credit_terms, due_date, legal_notes, one_vat_point, payment_terms, seller_party, vat_point,
)
from passerelle.einvoice.model import Note, Party, PostalAddress, VatPoint
from passerelle_dev.samples import example_seller


def subjects(notes: tuple[Note, ...]) -> Counter[str]:
    return Counter(note.subject for note in notes)


def text(notes: tuple[Note, ...], subject: str) -> str:
    return next(note.text for note in notes if note.subject == subject)


def test_example_seller_gets_every_mandatory_note_once_and_its_company_mentions() -> None:
    notes = legal_notes(example_seller())
    assert subjects(notes) == Counter({"PMD": 1, "PMT": 1, "AAB": 1, "REG": 1, "ABL": 1})  # BR-FR-05 / BR-FR-06
    assert "taux annuel de 12,15 %" in text(notes, "PMD") and "L441-10" in text(notes, "PMD")
    assert "40 €" in text(notes, "PMT") and "D441-5" in text(notes, "PMT")
    assert text(notes, "AAB") == "Pas d'escompte pour paiement anticipé"
    assert text(notes, "REG") == "SAS au capital de 50 000,00 €"
    assert text(notes, "ABL") == "RCS Lyon 732 829 320"


@pytest.mark.parametrize(("changes", "reg"), [
    ({"legal_form": None, "share_capital": None, "rcs": None}, None),
    ({"share_capital": None}, "SAS"),
    ({"legal_form": None, "share_capital": "1250000"}, "Société au capital de 1 250 000,00 €"),
    ({"legal_form": "SARL", "share_capital": "7500.5"}, "SARL au capital de 7 500,50 €"),
])
def test_company_mentions_only_when_configured(changes: dict[str, object], reg: str | None) -> None:
    notes = legal_notes(example_seller(**changes))
    counts = subjects(notes)
    assert (counts["PMD"], counts["PMT"], counts["AAB"]) == (1, 1, 1)
    assert counts["REG"] == (reg is not None) and (reg is None or text(notes, "REG") == reg)
    assert counts["ABL"] == ("rcs" not in changes)
    assert counts["AAI"] == 0


@pytest.mark.parametrize(("rate", "written"), [("10", "10"), ("12.150", "12,15"), ("3.5", "3,5"), ("40", "40")])
def test_penalty_rate_is_written_the_french_way(rate: str, written: str) -> None:
    assert f"taux annuel de {written} %" in text(legal_notes(example_seller(late_penalty_rate=rate)), "PMD")


def test_configured_discount_terms_go_to_aab() -> None:
    notes = legal_notes(example_seller(discount_terms="Escompte de 2 % pour paiement sous 8 jours"))
    assert text(notes, "AAB") == "Escompte de 2 % pour paiement sous 8 jours"


def test_debits_option_is_written_out_only_when_chosen() -> None:
    notes = legal_notes(example_seller(vat_on_debits=True))
    assert subjects(notes)["AAI"] == 1
    assert text(notes, "AAI") == "Option pour le paiement de la taxe d'après les débits"
    assert max(subjects(notes).values()) == 1  # still each subject once


@pytest.mark.parametrize(("debits", "services", "expected"), [
    (True, True, VatPoint.INVOICE), (True, False, VatPoint.DELIVERY),  # débits covers services only
    (False, True, VatPoint.PAYMENT), (False, False, VatPoint.DELIVERY),
])
def test_vat_point(debits: bool, services: bool, expected: VatPoint) -> None:
    assert vat_point(example_seller(vat_on_debits=debits), has_services=services) is expected


@pytest.mark.parametrize(("days", "issued", "due"), [
    (30, date(2026, 3, 31), date(2026, 4, 30)), (0, date(2026, 3, 31), date(2026, 3, 31)),
    (60, date(2026, 12, 15), date(2027, 2, 13)), (45, date(2028, 1, 31), date(2028, 3, 16)),  # across a leap February
])
def test_due_date_counts_the_payment_terms_from_the_issue_date(days: int, issued: date, due: date) -> None:
    assert due_date(example_seller(payment_terms_days=days), issued) == due


@pytest.mark.parametrize(("days", "terms"), [
    (30, "Paiement à 30 jours date de facture, par virement"),
    (60, "Paiement à 60 jours date de facture, par virement"),
    (0, "Paiement à réception de facture, par virement"),
])
def test_payment_terms(days: int, terms: str) -> None:
    assert payment_terms(example_seller(payment_terms_days=days)) == terms


def test_seller_party_carries_the_identifiers_and_address() -> None:
    assert seller_party(example_seller()) == Party(
        name="Maury Solutions SAS",
        address=PostalAddress("12 rue de la République", "69002", "Lyon", "FR"),
        siren="732829320", siret="73282932000074", vat_number="FR44732829320",
        electronic_address="732829320", electronic_address_scheme="0225",
    )


@pytest.mark.parametrize(("changes", "goods", "services", "one"), [
    ({}, True, True, False), ({"vat_on_debits": True}, True, True, False),  # delivery vs payment / invoice
    ({}, True, False, True), ({}, False, True, True),
    ({"vat_regime": "franchise", "vat_number": None}, True, True, True),  # no VAT becomes due: nothing to date
])
def test_one_vat_point_only_when_goods_and_services_are_not_both_taxed(changes: dict[str, object], goods: bool,
                                                                         services: bool, one: bool) -> None:
    assert one_vat_point(example_seller(**changes), has_goods=goods, has_services=services) is one


@pytest.mark.parametrize(("settlement", "days", "terms"), [
    ("deduction", 30, "Avoir à déduire de votre prochain règlement"),
    ("refund", 30, "Avoir remboursé par virement sous 30 jours"),
    ("refund", 0, "Avoir remboursé par virement à réception"),
])
def test_credit_note_terms_state_the_settlement(settlement: str, days: int, terms: str) -> None:
    assert credit_terms(settlement, days) == terms


def test_unknown_settlement_is_refused() -> None:
    with pytest.raises(ValueError, match="settlement 'cash' must be one of refund, deduction"):
        credit_terms("cash", 30)
