"""Validation compares a staging table with the raw its build read, not with raw as it is when the check runs:
extracts go on loading between a table's build and its validation (separate tasks, several DAGs at once)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from passerelle.quality.errors import CriticalValidationError
from passerelle.quality.validate import validate_table
from passerelle.transform.models import run_model
from tests.connectors.helpers import DAY1, extract_day
from tests.db import tuples as query


def row_count_outcome(outcome: Any) -> Any:
    return next(rule for rule in outcome.rules if rule.rule.id.endswith("row_count_vs_raw"))


def test_a_load_committed_between_build_and_validation_does_not_fail_the_row_count(sandbox, raw_conn) -> None:
    run_model(raw_conn, "customers")
    built = query(raw_conn, "SELECT count(*) FROM staging.customers")[0][0]
    horizon = dict(query(raw_conn, "SELECT stream, load_id FROM audit.staging_horizons "
                                   "WHERE table_name = 'staging.customers' AND source = 'salesforce'"))
    assert horizon["Account"] == query(raw_conn, "SELECT max(load_id) FROM audit.load_log "
                                                 "WHERE source = 'salesforce' AND stream = 'Account'")[0][0]

    salesforce = sandbox.vendors["salesforce"].control
    salesforce.set_clock(DAY1 + timedelta(days=9, hours=10))
    for n in range(3):
        salesforce.create("Account", {"Name": f"Atelier Horizon {n}"})
    assert extract_day(raw_conn, sandbox, "salesforce", "Account", day=9).inserted == 3  # after the build

    outcome = validate_table(raw_conn, "customers", "horizon_after_load")
    assert row_count_outcome(outcome).success
    assert query(raw_conn, "SELECT count(*) FROM staging.customers")[0][0] == built - outcome.quarantined

    # The same check against raw as it is now fails: the three accounts are in raw, not in staging.
    with raw_conn.cursor() as cur:
        cur.execute("DELETE FROM audit.staging_horizons WHERE table_name = 'staging.customers'")
    raw_conn.commit()
    with pytest.raises(CriticalValidationError, match="row_count_vs_raw"):
        validate_table(raw_conn, "customers", "horizon_forgotten")

    run_model(raw_conn, "customers")  # the next build reads the new load, and its check passes
    outcome = validate_table(raw_conn, "customers", "horizon_rebuilt")
    assert row_count_outcome(outcome).success
    names = {row[0] for row in query(raw_conn, "SELECT legal_name FROM staging.customers")}
    assert {f"Atelier Horizon {n}" for n in range(3)} <= names | set(
        row[0] for row in query(raw_conn, "SELECT row_data->>'legal_name' FROM quality.quarantine "
                                          "WHERE table_name = 'staging.customers' AND released_at IS NULL"))


def test_a_build_after_a_read_left_open_still_reads_one_snapshot(raw_conn) -> None:
    with raw_conn.cursor() as cur:  # a caller's query, its transaction left open
        cur.execute("SELECT count(*) FROM raw.records")
    run_model(raw_conn, "people")
    with raw_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit.staging_horizons WHERE table_name = 'staging.people'")
        assert cur.fetchone()[0] > 0
    raw_conn.rollback()
