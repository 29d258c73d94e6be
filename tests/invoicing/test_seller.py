"""The seller configuration: the example loads typed, and every bad field is reported by name, all at once."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from passerelle.invoicing.seller import SellerConfigError, VatRegime, load_seller
from passerelle.paths import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "include" / "config" / "seller.example.json"


def example(**changes: Any) -> dict[str, Any]:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for field, value in changes.items():
        if value is None:
            data.pop(field, None)
        else:
            data[field] = value
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SellerConfigError) as raised:
        load_seller(data)
    return raised.value.problems


def test_example_configuration_loads_with_exact_types() -> None:
    seller = load_seller(example())
    assert (seller.siren, seller.siret, seller.vat_number) == ("732829320", "73282932000074", "FR44732829320")
    assert seller.iban == "FR7630006000011234567890189"  # spaces removed
    assert seller.late_penalty_rate == Decimal("12.15") and seller.share_capital == Decimal("50000.00")
    assert seller.vat_regime is VatRegime.REEL_NORMAL_MENSUEL and seller.vat_on_debits is False
    assert (seller.electronic_address, seller.electronic_address_scheme) == ("732829320", "0225")
    assert "40 €" in seller.recovery_indemnity_text and seller.address.country_code == "FR"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"siren": "732829321"}, "seller.siren: '732829321' is not a valid SIREN (the number's checksum or check digit is invalid)"),
    ({"siret": "73282932000075"}, "seller.siret: '73282932000075' is not a valid SIRET"),
    ({"siret": "55208131766522"}, "seller.siret: '55208131766522' does not start with the SIREN '732829320'"),
    ({"vat_number": "FR03552081317"}, "seller.vat_number: 'FR03552081317' is not built on the SIREN '732829320'"),
    ({"vat_number": "FR45732829320"}, "seller.vat_number: 'FR45732829320' is not a valid French VAT number"),
    ({"iban": "FR7630006000011234567890188"}, "seller.iban: 'FR7630006000011234567890188' is not a valid IBAN"),
    ({"bic": "BNPA"}, "seller.bic: 'BNPA' is not a valid BIC"),
    ({"vat_regime": "mensuel"}, "seller.vat_regime: 'mensuel' is not one of reel_normal_mensuel"),
    ({"invoice_prefix": "FACTURE 2026"}, "seller.invoice_prefix: 'FACTURE 2026' must be 1 to 9 characters"),
    ({"payment_terms_days": 90}, "seller.payment_terms_days: 90 must be a whole number of days from 0 to 60"),
    ({"late_penalty_rate": 10.15}, "seller.late_penalty_rate: write it as a string ('10.15'), not a JSON float"),
    ({"late_penalty_rate": "0"}, "seller.late_penalty_rate: 0 must be a positive yearly rate in percent"),
    ({"recovery_indemnity_text": "Frais de recouvrement"}, "seller.recovery_indemnity_text: must state the 40 €"),
    ({"electronic_address": "732829320@pa"}, "seller.electronic_address: '732829320@pa' must be 1 to 125 characters"),
    ({"legal_name": None}, "seller.legal_name: is required"),
    ({"iban": None}, "seller.iban: is required"),
])
def test_each_bad_field_is_named_with_its_value(changes: dict[str, Any], expected: str) -> None:
    found = problems(example(**changes))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_address_problems_name_the_nested_field() -> None:
    found = problems(example(address={"street": "1 Hauptstraße", "postcode": "10115", "city": "Berlin",
                                      "country_code": "DE"}))
    assert found == ["seller.address.country_code: 'DE': the seller must be established in France (FR)"]
    found = problems(example(address={"street": "", "postcode": "6900", "city": "Lyon", "country_code": "FR"}))
    assert found == ["seller.address.street: is required",
                     "seller.address.postcode: '6900' is not a French postcode (5 digits)"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(example(siren="123", iban=None, payment_terms_days=-1, invoice_prefix="A B"))
    assert [problem.split(":")[0] for problem in found] == [
        "seller.siren", "seller.iban", "seller.invoice_prefix", "seller.payment_terms_days"]


def test_franchise_needs_no_vat_number_but_refuses_the_debits_option() -> None:
    seller = load_seller(example(vat_regime="franchise", vat_number=None))
    assert seller.vat_number is None and seller.vat_regime is VatRegime.FRANCHISE
    assert problems(example(vat_regime="franchise", vat_number=None, vat_on_debits=True)) == [
        "seller.vat_on_debits: a seller under the franchise regime charges no VAT: the débits option does not apply"]
    assert problems(example(vat_number=None)) == ["seller.vat_number: is required"]


def test_configuration_comes_from_a_file_or_json_in_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("PASSERELLE_SELLER", raising=False)
    monkeypatch.delenv("PASSERELLE_SELLER_FILE", raising=False)
    with pytest.raises(SellerConfigError, match="no seller configured"):
        load_seller()
    monkeypatch.setenv("PASSERELLE_SELLER", json.dumps(example(invoice_prefix="ENV")))
    assert load_seller().invoice_prefix == "ENV"
    config = tmp_path / "seller.json"
    config.write_text(json.dumps(example(invoice_prefix="FILE")), encoding="utf-8")
    monkeypatch.setenv("PASSERELLE_SELLER_FILE", str(config))  # the file wins over the JSON variable
    assert load_seller().invoice_prefix == "FILE"
    config.write_text("{not json", encoding="utf-8")
    with pytest.raises(SellerConfigError, match="PASSERELLE_SELLER_FILE"):
        load_seller()
