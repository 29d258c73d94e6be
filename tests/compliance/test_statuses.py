"""Lifecycle statuses recorded from the platform and the buyer: codes and reasons checked (BR-FR-CDV-15)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from passerelle.compliance.statuses import record_status
from tests.db import tuples

AT = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def numbered(warehouse_conn):
    with warehouse_conn.cursor() as cur:
        cur.execute("INSERT INTO marts.invoice_numbers (invoice_number, seller_siren, fiscal_year, sequence, issue_date,"
                    " invoice_key, run_id) VALUES ('MS2026-000001', '732829320', 2026, 1, %s, 'k1', 't')",
                    (date(2026, 2, 28),))
    warehouse_conn.commit()
    return warehouse_conn


def test_platform_and_buyer_statuses_are_recorded(numbered) -> None:
    record_status(numbered, "MS2026-000001", 200, AT, source="platform")
    record_status(numbered, "MS2026-000001", 210, AT, source="buyer", reason_code="TX_TVA_ERR",
                  reason="taux de TVA erroné")
    assert tuples(numbered, "SELECT status_code, reason_code, source FROM billing.lifecycle_events ORDER BY event_id") == [
        (200, None, "platform"), (210, "TX_TVA_ERR", "buyer")]


@pytest.mark.parametrize(("code", "reason_code", "problem"), [
    (999, None, "unknown lifecycle status 999"),
    (213, None, r"status 213 \(Rejetée\) needs a reason code"),
    (210, None, r"status 210 \(Refusée\) needs a reason code"),
    (210, "PAS_CONTENT", "is not a CDAR reason"),
])
def test_bad_statuses_are_refused_naming_the_invoice(numbered, code, reason_code, problem) -> None:
    with pytest.raises(ValueError, match=f"invoice MS2026-000001: .*{problem}"):
        record_status(numbered, "MS2026-000001", code, AT, source="buyer", reason_code=reason_code)
    assert tuples(numbered, "SELECT count(*) FROM billing.lifecycle_events") == [(0,)]
