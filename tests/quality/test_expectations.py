"""The custom expectations: identifiers, currencies and countries, NULLs left to not-null rules."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pytest
from stdnum import luhn, vatin
from stdnum.fr import siren, siret

from passerelle.quality import expectations as x
from passerelle.quality import identifiers as ids
from passerelle.quality.gx_context import run_suite
from passerelle.quality.outcomes import read_outcome
from passerelle.quality.rules import QUARANTINE, Rule, between, in_set


@pytest.mark.parametrize(("check", "value", "valid"), [
    (ids.siren_valid, "732829320", True),
    (ids.siren_valid, "732829321", False),  # Luhn
    (ids.siren_valid, "732 829 320", False),  # staging stores it compact
    (ids.siren_valid, "73282932", False),
    (ids.siren_valid, "７３２８２９３２０", False),  # full-width digits are not ASCII digits
    (ids.siren_valid, 732829320, False),
    (ids.siret_valid, "73282932000074", True),
    (ids.siret_valid, "73282932000075", False),
    (ids.siret_valid, "35600000000048", True),  # La Poste head office: Luhn
    (ids.siret_valid, "35600000049837", True),  # a La Poste establishment: digit sum multiple of 5
    (ids.siret_valid, "35600000049838", False),
    (ids.vat_valid, "FR44732829320", True),
    (ids.vat_valid, "FR00732829320", False),
    (ids.vat_valid, "FR96552100554", True),
    (ids.vat_valid, "FR44 732829320", False),
    (ids.vat_valid, "DE136695976", True),
    (ids.vat_valid, "BE0403019261", True),
    (ids.vat_valid, "ZZ123456789", False),
    (ids.currency_valid, "EUR", True),
    (ids.currency_valid, "CHF", True),
    (ids.currency_valid, "EUX", False),
    (ids.currency_valid, "eur", False),
    (ids.country_valid, "FR", True),
    (ids.country_valid, "GB", True),
    (ids.country_valid, "UK", False),
])
def test_identifier_and_code_checks(check, value: str, valid: bool) -> None:
    assert ids.one(check, value) is valid


def test_vectorised_checks_agree_with_stdnum() -> None:
    rng = random.Random(4217)
    sirens = [f"{rng.randrange(10**9):09d}" for _ in range(3000)]
    sirens += [s[:8] + luhn.calc_check_digit(s[:8]) for s in sirens[:1000]]  # valid ones
    sirets = [s + f"{rng.randrange(10**5):05d}" for s in sirens]
    sirets += [s[:13] + luhn.calc_check_digit(s[:13]) for s in sirets[:1500]]
    sirets += [f"356000000{rng.randrange(10**5):05d}" for _ in range(200)]  # La Poste
    vats = [f"FR{rng.randrange(100):02d}{s}" for s in sirens]
    vats += [f"FR{(int(s) * 100 + 12) % 97:02d}{s}" for s in sirens[:1500]] + ["FR1A732829320", "FR0X123456789"]

    for check, values, reference in [(ids.siren_valid, sirens, siren.is_valid),
                                     (ids.siret_valid, sirets, siret.is_valid),
                                     (ids.vat_valid, vats, vatin.is_valid)]:
        found = check(pd.Series(values, dtype=object))
        expected = [reference(value) for value in values]
        assert found.tolist() == expected
        assert 0 < sum(expected) < len(expected)  # both outcomes are exercised


@pytest.mark.parametrize(("kind", "value", "problem"), [
    ("siren", "123456789", "checksum"),
    ("siren", "12345678", "length"),
    ("siren", "12345678A", "format"),
    ("siren", "732 829 320", "not compact"),
    ("siret", "73282932000075", "checksum"),
    ("vat", "FR00732829320", "checksum"),
    ("vat", "ZZ123456789", "unknown country prefix"),
])
def test_identifier_problem_names_the_defect(kind: str, value: str, problem: str) -> None:
    assert ids.identifier_problem(kind, value) == problem


def test_map_expectations_skip_nulls_and_report_failing_keys() -> None:
    frame = pd.DataFrame({
        "k": ["a", "b", "c", "d", "e"],
        "siren": ["732829320", None, "123456789", "732829320", "123456789"],
        "currency": ["EUR", "USD", None, "EUX", "EUR"],
        "vat_rate": [Decimal("20.00"), Decimal("2.10"), None, Decimal("19.60"), Decimal("0")],
    }, dtype=object)
    rules = [
        Rule("t.siren_checksum", QUARANTINE, x.ExpectColumnValuesToBeValidSiren(column="siren"), "bad {siren}"),
        Rule("t.currency", QUARANTINE, x.ExpectColumnValuesToBeIso4217Currency(column="currency"), "bad {currency}"),
        in_set("t.vat_rate", QUARANTINE, "vat_rate", [Decimal("0"), Decimal("2.1"), Decimal("20")], "bad {vat_rate}"),
    ]

    result = run_suite("staging.test", [rule.expectation for rule in rules], frame, "k")

    found = {item.expectation_config.meta["rule"]: item.result for item in result.results}
    assert found["t.siren_checksum"]["missing_count"] == 1
    assert found["t.siren_checksum"]["unexpected_index_list"] == [
        {"k": "c", "siren": "123456789"}, {"k": "e", "siren": "123456789"},
    ]
    assert found["t.currency"]["unexpected_index_list"] == [{"k": "d", "currency": "EUX"}]
    assert found["t.vat_rate"]["unexpected_index_list"] == [{"k": "d", "vat_rate": Decimal("19.60")}]


def test_a_rule_that_cannot_be_evaluated_is_a_critical_failure_not_a_quarantine() -> None:
    frame = pd.DataFrame({"k": ["a", "b"], "completed_at": [datetime(2026, 1, 5, tzinfo=UTC), None]}, dtype=object)
    rule = between("t.completed_at_in_range", QUARANTINE, "completed_at", "bad {completed_at}",
                   min_value=date(2000, 1, 1))  # a date bound on a timestamp column: not comparable

    item = run_suite("staging.test", [rule.expectation], frame, "k").results[0]
    outcome = read_outcome(rule, item, "k")

    assert outcome.error == "can't compare datetime.datetime to datetime.date"
    assert (outcome.success, outcome.failing, outcome.sample) == (False, [], [{"error": outcome.error}])
    failure = outcome.critical_failure("staging.test")
    assert failure.rule == "t.completed_at_in_range" and failure.detail.startswith("could not be evaluated")
