"""Vendor numbers reach raw (jsonb) and staging (NUMERIC) digit for digit, never through float.

Each emulator serves a record carrying 99999999999999.99 (float: ...98), 12345678901234567890123
(beyond 2**64) and 1e-7; the warehouse must hold exactly those numbers.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, extract_day

AMOUNT, BIG, TINY = Decimal("99999999999999.99"), 12345678901234567890123, Decimal("1E-7")
EXACT = {"Exact_Amount": AMOUNT, "Exact_Big": BIG, "Exact_Tiny": TINY}
# jsonb prints numerics in plain notation: what `payload ->> field` must read.
EXPECTED_TEXT = {"Exact_Amount": "99999999999999.99", "Exact_Big": "12345678901234567890123", "Exact_Tiny": "0.0000001"}


def seed(sandbox: Any, source: str, obj: str, record_id: str, fields: dict[str, Any]) -> None:
    """Update a record inside the emulator itself: the control API speaks JSON through float-free code
    only on the way out, so exact Decimals are handed to the store directly."""
    app = sandbox.vendors[source].app
    with app.lock:
        app.control_update(obj, record_id, {"fields": fields})


def raw_texts(conn: Any, source: str, stream: str, record_id: str, path: list[str]) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT payload #> %s FROM raw.records WHERE source = %s AND stream = %s AND record_id = %s"
            " ORDER BY cursor_value DESC LIMIT 1", (path, source, stream, record_id))
        holder = cur.fetchone()
        cur.execute(
            "SELECT e.key, e.value #>> '{}', jsonb_typeof(e.value) FROM raw.records r, jsonb_each(r.payload #> %s) e"
            " WHERE r.source = %s AND r.stream = %s AND r.record_id = %s AND e.key LIKE 'Exact%%'"
            " AND r.cursor_value = (SELECT max(cursor_value) FROM raw.records WHERE source = %s AND stream = %s"
            " AND record_id = %s)", (path, source, stream, record_id, source, stream, record_id))
        found = {key: (text, kind) for key, text, kind in cur.fetchall()}
    conn.rollback()
    assert holder is not None, f"{source}.{stream} {record_id} not in raw"
    return found


def assert_exact_in_raw(conn: Any, source: str, stream: str, record_id: str, path: list[str], kind: str) -> None:
    found = raw_texts(conn, source, stream, record_id, path)
    assert found == {key: (text, kind) for key, text in EXPECTED_TEXT.items()}


def test_salesforce_numbers_are_exact_in_raw_and_staging(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.set_clock(DAY1 + timedelta(hours=12))
    deal = sorted(o["Id"] for o in control.records("Opportunity") if not o.get("IsDeleted"))[0]
    seed(sandbox, "salesforce", "Opportunity", deal, {"Amount": AMOUNT, **EXACT})
    extract_day(warehouse_conn, sandbox, "salesforce", "Account")
    extract_day(warehouse_conn, sandbox, "salesforce", "Opportunity")
    assert_exact_in_raw(warehouse_conn, "salesforce", "Opportunity", deal, [], "number")
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload ->> 'Amount' FROM raw.records WHERE stream = 'Opportunity' AND record_id = %s"
                    " ORDER BY cursor_value DESC LIMIT 1", (deal,))
        assert cur.fetchone()[0] == "99999999999999.99"
    warehouse_conn.rollback()
    run_staging(warehouse_conn, ["customers", "deals"])
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT amount FROM staging.deals WHERE source_system = 'salesforce' AND source_id = %s", (deal,))
        assert cur.fetchone()[0] == AMOUNT
    warehouse_conn.rollback()


def test_hubspot_amounts_are_exact_in_raw_and_staging(sandbox, warehouse_conn) -> None:
    """HubSpot sends every property as a string: the digits must survive to staging's NUMERIC."""
    control = sandbox.vendors["hubspot"].control
    control.set_clock(DAY1 + timedelta(hours=12))
    deal = sorted(d["id"] for d in control.records("deals"))[0]
    seed(sandbox, "hubspot", "deals", deal, {"amount": "99999999999999.99", **{k: str(v) for k, v in
                                                                             EXPECTED_TEXT.items()}})
    extract_day(warehouse_conn, sandbox, "hubspot", "companies")
    extract_day(warehouse_conn, sandbox, "hubspot", "deals")
    found = raw_texts(warehouse_conn, "hubspot", "deals", deal, ["properties"])
    assert found == {key.lower(): (text, "string") for key, text in EXPECTED_TEXT.items()} or found == {
        key: (text, "string") for key, text in EXPECTED_TEXT.items()}
    run_staging(warehouse_conn, ["customers", "deals"])
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT amount FROM staging.deals WHERE source_system = 'hubspot' AND source_id = %s", (deal,))
        assert cur.fetchone()[0] == AMOUNT
    warehouse_conn.rollback()


def test_asana_numbers_are_exact_in_raw(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["asana"].control
    control.set_clock(DAY1 + timedelta(hours=12))
    task = sorted(t["gid"] for t in control.records("tasks"))[0]
    seed(sandbox, "asana", "tasks", task, {"custom_fields": [{"gid": "1", "name": "Exact", **EXACT}]})
    extract_day(warehouse_conn, sandbox, "asana", "tasks")
    assert_exact_in_raw(warehouse_conn, "asana", "tasks", task, ["custom_fields", "0"], "number")
