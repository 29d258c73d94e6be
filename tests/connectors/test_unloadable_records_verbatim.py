"""Values written verbatim into the vendor's JSON (what no emulator record can hold: NaN, 1e999999, NUL,
a lone surrogate, 10,000 nested arrays) are set aside per record; every other record of the window loads.

The emulator's ``rewrite`` fault puts the raw JSON text into named records of every response, so a rerun
of the window meets them again. 1e309 is beyond float but within numeric: it loads, digit for digit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.connectors.helpers import DAY1, extract_day
from tests.connectors.test_unloadable_records_extract import DEEP

# raw JSON text -> what the quarantine reason says
UNLOADABLE = {
    "NaN": "NaN is not a JSON number",
    "1e999999": "outside the range Postgres numeric can store",
    '"x\\u0000y"': "NUL character",
    '"x\\ud800y"': "not valid Unicode",
    DEEP: "nested deeper than",
}
BEYOND_FLOAT = "1e309"

# source: stream, emulator object, id field, fault path, a field to touch, where in the response to write
STYLES = {
    "monday": ("items", "items", "id", "/v2", {"name": "Tâche mise à jour"},  # GraphQL: a column's value
               "data/boards/0/items_page/items/id={}/column_values/id=crm_deal/value"),
    "hubspot": ("companies", "companies", "id", "/crm/v3/objects/companies", {"description": "Mise à jour"},  # CRM list
                "results/id={}/properties/description"),
}


def quarantined(conn: Any, source: str, stream: str) -> dict[str, tuple[str, int]]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id, reason, times_seen FROM raw.quarantined_records"
                    " WHERE source = %s AND stream = %s", (source, stream))
        found = {record: (reason, seen) for record, reason, seen in cur.fetchall()}
    conn.rollback()
    return found


def stored(conn: Any, source: str, stream: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM raw.records WHERE source = %s AND stream = %s", (source, stream))
        found = {row[0] for row in cur.fetchall()}
    conn.rollback()
    return found


def spoiled_value(conn: Any, source: str, stream: str, record_id: str) -> tuple[str, str]:
    """(jsonb type, text) of the value the fault wrote into ``record_id``."""
    query = ("SELECT jsonb_typeof(v -> 'value'), v ->> 'value' FROM raw.records r,"
             " jsonb_array_elements(r.payload -> 'column_values') v WHERE r.source = %s AND r.stream = %s"
             " AND r.record_id = %s AND v ->> 'id' = 'crm_deal'") if source == "monday" else (
             "SELECT jsonb_typeof(payload #> '{properties,description}'), payload #>> '{properties,description}'"
             " FROM raw.records WHERE source = %s AND stream = %s AND record_id = %s")
    with conn.cursor() as cur:
        cur.execute(query, (source, stream, record_id))
        row = cur.fetchone()
    conn.rollback()
    return row


@pytest.mark.timeout(180)
@pytest.mark.parametrize("source", list(STYLES))
def test_verbatim_hostile_values_are_quarantined_and_the_rest_loads(sandbox, warehouse_conn, source) -> None:
    stream, obj, id_field, fault_path, touch, patch_path = STYLES[source]
    control = sandbox.vendors[source].control
    control.set_clock(DAY1 + timedelta(hours=12))
    ids = sorted(str(r[id_field]) for r in control.records(obj) if r.get("state", "active") == "active")
    chosen = ids[1:40:4][:len(UNLOADABLE) + 4]  # spread over several boards / pages
    for record_id in chosen:
        control.update(obj, record_id, touch)  # modified inside the window
    bad = dict(zip(chosen, UNLOADABLE))
    big = chosen[len(UNLOADABLE)]
    patch = [{"path": patch_path.format(record_id), "raw": text} for record_id, text in bad.items()]
    patch.append({"path": patch_path.format(big), "raw": BEYOND_FLOAT})
    control.add_fault("rewrite", path=fault_path, times=None, patch=patch)

    first = extract_day(warehouse_conn, sandbox, source, stream)
    assert first.unloadable == len(UNLOADABLE)
    held = quarantined(warehouse_conn, source, stream)
    assert held.keys() == bad.keys()
    for record_id, text in bad.items():
        assert UNLOADABLE[text] in held[record_id][0], (record_id, held[record_id])
    loaded = stored(warehouse_conn, source, stream)
    assert set(chosen) - set(bad) <= loaded and loaded.isdisjoint(bad)
    assert len(loaded) == first.inserted + first.deleted
    assert spoiled_value(warehouse_conn, source, stream, big) == ("number", "1" + "0" * 309)

    again = extract_day(warehouse_conn, sandbox, source, stream)  # the retry of the window changes nothing
    assert (again.unloadable, again.inserted, again.updated) == (len(UNLOADABLE), 0, 0)
    assert quarantined(warehouse_conn, source, stream) == {r: (reason, 2) for r, (reason, _) in held.items()}
    assert stored(warehouse_conn, source, stream) == loaded
