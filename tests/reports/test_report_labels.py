"""The report's catalogue speaks both languages for every code the warehouse can store, and words what
readiness finds missing in French."""

from __future__ import annotations

import importlib
import re
import string
from pathlib import Path

import pytest

import passerelle.payments.matching as matching
from passerelle.einvoice.model import ProcessingRule, VatCategory
from passerelle.ereporting.payments import STATUS_LABELS
from passerelle.reports.labels import LABELS, TEXTS, check_language, label, missing_item, text

MIGRATION = importlib.import_module("passerelle.warehouse.migrations.versions.0006_compliance_reports")


def fields(sentence: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(sentence) if name}


def test_every_sentence_has_both_languages_with_the_same_fields() -> None:
    for key, (french, english) in TEXTS.items():
        assert french and english, key
        assert fields(french) == fields(english), key


@pytest.mark.parametrize("kind, codes", [
    ("regime", MIGRATION.REGIMES),
    ("flux", MIGRATION.FLUXES),
    ("status", [str(code) for code, *_ in MIGRATION.STATUSES] + [str(code) for code in STATUS_LABELS]),
    ("rule", [rule.value for rule in ProcessingRule]),
    ("category", [category.value for category in VatCategory]),
    # every reason code the matching of payments gives (marts.unmatched_payments.reason_code)
    ("reason", set(re.findall(r'"([a-z_0-9]+)", f"', Path(matching.__file__).read_text(encoding="utf-8")))),
])
def test_every_stored_code_has_a_label_in_both_languages(kind: str, codes) -> None:
    assert codes
    for code in codes:
        assert code in LABELS[kind], (kind, code)
        assert code not in (label(kind, code, "fr"), label(kind, code, "en")), (kind, code)


def test_statuses_keep_the_annex_wording_in_french() -> None:
    assert all(label("status", code, "fr") == f"{code} {name}" for code, name in STATUS_LABELS.items())


def test_an_unknown_code_is_shown_as_stored() -> None:
    assert label("regime", "micro_entreprise", "fr") == "micro_entreprise"
    assert label("regime", None, "en") == "—"


def test_french_sets_a_no_break_space_before_a_colon() -> None:
    assert text("ledger_customers", "fr", linked=2, left=1).startswith("Clients de la comptabilité\u00a0: 2 ")
    assert text("ledger_customers", "en", linked=2, left=1).startswith("Customers of the books: 2 ")


def test_a_language_the_report_does_not_speak_is_refused() -> None:
    assert check_language("en") == "en"
    with pytest.raises(ValueError, match="report language 'de': expected one of fr, en"):
        check_language("de")


@pytest.mark.parametrize("item, french", [
    ("billing street: missing", "rue de facturation\u00a0: manquante"),
    ("e-invoicing address (BT-49): missing", "adresse de facturation électronique (BT-49)\u00a0: manquante"),
    ("customer type: missing (B2B, B2B_INTL or B2C)", "type de client\u00a0: manquant (B2B, B2B_INTL ou B2C)"),
    ("customer type: unknown 'X' (B2B, B2B_INTL or B2C)", "type de client\u00a0: 'X' inconnu (B2B, B2B_INTL ou B2C)"),
    ("billing country: 'Atlantis' is not a known country", "pays de facturation\u00a0: 'Atlantis' n'est pas un pays connu"),
    ("quarantined: customers.siren_valid: 123", "en quarantaine\u00a0: customers.siren_valid: 123"),
    ("BR-FR-10 (buyer.siren): SIREN invalide", "BR-FR-10 (buyer.siren): SIREN invalide"),  # the checker's words
])
def test_missing_items_read_in_french(item: str, french: str) -> None:
    assert missing_item(item, "fr") == french
    assert missing_item(item, "en") == item
