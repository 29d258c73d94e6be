"""Jira, Trello and monday numbers reach raw (jsonb) and staging (NUMERIC) digit for digit, never through float.

Each emulator serves 99999999999999.99 (float: ...98), 12345678901234567890123 (beyond 2**64) and 1e-7
through a field it accepts; staging's hours are checked against a Decimal recomputation.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, extract_day

AMOUNT, BIG, TINY = Decimal("99999999999999.99"), 12345678901234567890123, Decimal("1E-7")
# jsonb prints numerics in plain notation: what `#>> '{}'` must read.
TEXT = {AMOUNT: "99999999999999.99", BIG: "12345678901234567890123", TINY: "0.0000001"}


def seed(sandbox: Any, source: str, obj: str, record_id: str, fields: dict[str, Any]) -> None:
    """Update inside the emulator itself so exact Decimals reach its store without a JSON hop."""
    app = sandbox.vendors[source].app
    with app.lock:
        app.control_update(obj, record_id, {"fields": fields})


def raw_value(conn: Any, source: str, stream: str, record_id: str, path: list[str]) -> tuple[str, str]:
    """(text, jsonb type) of ``path`` in the record's latest raw version."""
    with conn.cursor() as cur:
        cur.execute("SELECT payload #>> %s, jsonb_typeof(payload #> %s) FROM raw.records WHERE source = %s"
                    " AND stream = %s AND record_id = %s ORDER BY cursor_value DESC LIMIT 1",
                    (path, path, source, stream, record_id))
        row = cur.fetchone()
    conn.rollback()
    assert row is not None, f"{source}.{stream} {record_id} not in raw"
    return row


def staged_hours(conn: Any, source: str, record_id: str) -> Decimal | None:
    with conn.cursor() as cur:
        cur.execute("SELECT hours FROM staging.time_entries WHERE source_system = %s AND source_id = %s",
                    (source, record_id))
        row = cur.fetchone()
    conn.rollback()
    assert row is not None, f"{source} time entry {record_id} not staged"
    return row[0]


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_jira_numbers_are_exact_in_raw_and_staging(sandbox, warehouse_conn) -> None:
    """Numeric custom fields and worklog timeSpentSeconds stay exact; hours = seconds / 3600 to the cent."""
    control = sandbox.vendors["jira"].control
    control.set_clock(DAY1 + timedelta(hours=12))
    issue = sorted(i["id"] for i in control.records("issues"))[0]
    fields = {f"customfield_9990{n}": value for n, value in enumerate(TEXT)}
    seed(sandbox, "jira", "issues", issue, dict(fields))
    worklogs = sorted(w["id"] for w in control.records("worklogs"))[:4]
    seconds = dict(zip(worklogs, (AMOUNT, BIG, TINY, Decimal("45000.5"))))
    for worklog, value in seconds.items():
        seed(sandbox, "jira", "worklogs", worklog, {"timeSpentSeconds": value})
    extract_day(warehouse_conn, sandbox, "jira", "issues")
    extract_day(warehouse_conn, sandbox, "jira", "worklogs")
    for name, value in fields.items():
        assert raw_value(warehouse_conn, "jira", "issues", issue, ["fields", name]) == (TEXT[value], "number")
    for worklog, value in seconds.items():
        assert raw_value(warehouse_conn, "jira", "worklogs", worklog, ["timeSpentSeconds"]) == (
            TEXT.get(value, str(value)), "number")
    run_staging(warehouse_conn, ["time_entries"])
    # More than 11 digits of seconds cannot be real (hours is NUMERIC(10,2)): staged NULL, never a failed model.
    expected = {w: (cents(Decimal(v) / 3600) if v < 10**11 else None) for w, v in seconds.items()}
    assert {worklog: staged_hours(warehouse_conn, "jira", worklog) for worklog in seconds} == expected


def trello_time_cards(control: Any) -> list[str]:
    temps = {item["id"] for item in control.records("lists") if item["name"].lower() == "temps"}
    return sorted(c["id"] for c in control.records("cards") if c.get("idList") in temps and not c.get("closed"))


def test_trello_custom_field_numbers_are_exact_in_raw_and_staging(sandbox, warehouse_conn) -> None:
    """Trello sends a number custom field as a string of digits: it must keep every one of them."""
    control = sandbox.vendors["trello"].control
    control.config(enforce_rate_limits=False)  # the limiter has its own tests
    control.set_clock(DAY1 + timedelta(hours=12))
    values = (AMOUNT, BIG, TINY, Decimal("1234567.89"))  # the last one's float %g form is 1.23457e+06
    cards = dict(zip(trello_time_cards(control), values))
    assert len(cards) == len(values)
    for card, value in cards.items():
        seed(sandbox, "trello", "cards", card, {"customFields": {"Hours": value}})
    for stream in ("lists", "custom_fields", "cards"):
        extract_day(warehouse_conn, sandbox, "trello", stream)
    hours_field = next(f["id"] for f in control.records("customFields") if f["name"] == "Hours"
                       and f["idModel"] == next(c for c in control.records("cards") if c["id"] in cards)["idBoard"])
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT r.record_id, item #>> '{value,number}' FROM raw.records r,"
                    " jsonb_array_elements(r.payload -> 'customFieldItems') item WHERE r.source = 'trello'"
                    " AND r.stream = 'cards' AND r.record_id = ANY(%s) AND item ->> 'idCustomField' = ANY(%s)",
                    (list(cards), [f["id"] for f in control.records("customFields") if f["name"] == "Hours"]))
        found = dict(cur.fetchall())
    warehouse_conn.rollback()
    assert hours_field
    assert found == {card: TEXT.get(value, str(value)) for card, value in cards.items()}
    run_staging(warehouse_conn, ["time_entries"])
    # Hours beyond seven digits are implausible and staged NULL for validation; the rest to the cent.
    expected = {card: (cents(value) if value < 10_000_000 else None) for card, value in cards.items()}
    assert {card: staged_hours(warehouse_conn, "trello", card) for card in cards} == expected


def test_monday_column_values_are_exact_in_raw(sandbox, warehouse_conn) -> None:
    """monday returns column values as JSON strings inside the GraphQL answer: the digits stay as typed."""
    control = sandbox.vendors["monday"].control
    control.set_clock(DAY1 + timedelta(hours=12))
    items = sorted(str(i["id"]) for i in control.records("items") if i.get("state", "active") == "active")[:3]
    typed = dict(zip(items, TEXT.values()))
    for item, text in typed.items():
        seed(sandbox, "monday", "items", item, {"crm_deal": text})
    extract_day(warehouse_conn, sandbox, "monday", "items", page_size=7)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT r.record_id, v ->> 'text', v ->> 'value' FROM raw.records r,"
                    " jsonb_array_elements(r.payload -> 'column_values') v WHERE r.source = 'monday'"
                    " AND r.stream = 'items' AND r.record_id = ANY(%s) AND v ->> 'id' = 'crm_deal'", (items,))
        found = {record: (text, value) for record, text, value in cur.fetchall()}
    warehouse_conn.rollback()
    assert found == {item: (text, f'"{text}"') for item, text in typed.items()}


def test_monday_numbers_column_is_exact_in_raw_and_staging(sandbox, warehouse_conn) -> None:
    """Hours typed in the 'Heures' numbers column: value is the JSON text of a string, kept digit for digit."""
    control = sandbox.vendors["monday"].control
    control.set_clock(DAY1 + timedelta(hours=12))
    board = next(b["id"] for b in control.records("boards") if b["state"] == "active")
    person = control.records("users")[1]["id"]
    typed = (*TEXT.values(), "1234567.89", "-0.5")  # the last two: seven digits to the cent, a correction
    app = sandbox.vendors["monday"].app
    with app.lock:
        items = [app.control_create("items", {"fields": {"board_id": board, "name": f"Saisie {n}", "hours": text,
                                                         "person": person}})["id"]
                 for n, text in enumerate(typed)]
    for stream in ("boards", "groups", "items", "time_tracking"):
        extract_day(warehouse_conn, sandbox, "monday", stream)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT r.record_id, v ->> 'type', v ->> 'text', v ->> 'value' FROM raw.records r,"
                    " jsonb_array_elements(r.payload -> 'column_values') v WHERE r.source = 'monday'"
                    " AND r.stream = 'items' AND r.record_id = ANY(%s) AND v ->> 'id' = 'hours'", (items,))
        found = {record: (ctype, text, value) for record, ctype, text, value in cur.fetchall()}
    warehouse_conn.rollback()
    assert found == {item: ("numbers", text, f'"{text}"') for item, text in zip(items, typed)}
    run_staging(warehouse_conn, ["time_entries"])
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT source_id, hours, person_key, task_key, entry_date FROM staging.time_entries"
                    " WHERE time_entry_key = ANY(%s)", ([f"monday:hours:{item}" for item in items],))
        staged = {row[0]: row[1:] for row in cur.fetchall()}
    warehouse_conn.rollback()
    # Beyond seven digits of hours is implausible: staged NULL for validation; the rest to the cent.
    expected = {item: cents(Decimal(text)) if abs(Decimal(text)) < 10_000_000 else None
                for item, text in zip(items, typed)}
    assert {item: row[0] for item, row in staged.items()} == expected
    assert {item: row[1:] for item, row in staged.items()} == {
        item: (f"monday:{person}", f"monday:{item}", DAY1.date()) for item in items}
