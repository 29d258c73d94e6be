"""Hostile values served by the emulators are set aside per record; every other record of the window loads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from passerelle.exact_json import Unloadable
from tests.connectors.helpers import DAY1, extract_day, raw_count

DEEP = "[" * 10_000 + "]" * 10_000
# Values the emulator writes on the wire as a vendor would: "\u0000", "\ud800", NaN, 1e999999, deep nesting.
HOSTILE = {
    "nul": "x\x00y",
    "lone_surrogate": "x\ud800y",
    "nan": float("nan"),
    "beyond_numeric": Unloadable("1e999999", ""),
    "deep": Unloadable(DEEP, ""),
}


def seed(sandbox: Any, source: str, obj: str, record_id: str, fields: dict[str, Any]) -> None:
    app = sandbox.vendors[source].app
    with app.lock:
        app.control_update(obj, record_id, {"fields": fields})


def held(conn: Any, source: str, stream: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM raw.quarantined_records WHERE source = %s AND stream = %s", (source, stream))
        found = {row[0] for row in cur.fetchall()}
    conn.rollback()
    return found


# (source, stream, emulator object, id field, field to spoil, extract options): one per paging style.
STYLES = [
    ("salesforce", "Account", "Account", "Id", "Description", {"batch_size": 200}),  # SOQL + nextRecordsUrl
    ("asana", "tasks", "tasks", "gid", "notes", {}),  # offset-token lists per project
]


@pytest.mark.parametrize("source, stream, obj, id_field, field, options", STYLES, ids=[s[0] for s in STYLES])
def test_hostile_records_never_block_the_stream(sandbox, warehouse_conn, source, stream, obj, id_field, field,
                                                options) -> None:
    control = sandbox.vendors[source].control
    if source == "salesforce":
        control.bulk(obj, create=450)  # several pages of 200
    control.set_clock(DAY1 + timedelta(hours=12))
    ids = sorted(str(r[id_field]) for r in control.records(obj) if not r.get("IsDeleted"))
    spoiled = {ids[i * 7 + 1]: value for i, value in enumerate(HOSTILE.values())}
    for record_id, value in spoiled.items():
        seed(sandbox, source, obj, record_id, {field: value})
    first = extract_day(warehouse_conn, sandbox, source, stream, **options)
    assert first.unloadable == len(HOSTILE)
    assert held(warehouse_conn, source, stream) == set(spoiled)
    assert raw_count(warehouse_conn, source, stream) == len(ids) - len(HOSTILE) == first.inserted
    again = extract_day(warehouse_conn, sandbox, source, stream, **options)  # the retry of the window succeeds too
    assert again.unloadable == len(HOSTILE) and again.inserted == 0
    assert held(warehouse_conn, source, stream) == set(spoiled)
