"""Hostile values met through the remaining paging styles are set aside per record; the rest of the window loads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.connectors.helpers import DAY1, extract_day, raw_count
from tests.connectors.test_unloadable_records_extract import HOSTILE, held, seed

# (source, stream, emulator object, id field, field to spoil, extract options): one per paging style.
STYLES = [
    ("hubspot", "companies", "companies", "id", "description", {}),  # CRM search, after-cursor
    ("jira", "issues", "issues", "id", "summary", {"page_size": 5}),  # JQL search, nextPageToken
    ("trello", "cards", "cards", "id", "desc", {}),  # bare lists per board
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("source, stream, obj, id_field, field, options", STYLES, ids=[s[0] for s in STYLES])
def test_hostile_records_never_block_the_stream(sandbox, warehouse_conn, source, stream, obj, id_field, field,
                                                options) -> None:
    control = sandbox.vendors[source].control
    if source == "trello":
        control.config(enforce_rate_limits=False)  # the limiter has its own tests
    control.set_clock(DAY1 + timedelta(hours=12))
    ids = sorted(str(r[id_field]) for r in control.records(obj) if not r.get("IsDeleted") and not r.get("archived"))
    # HubSpot serves every property as a string: only the string cases can reach it through a property.
    cases = [v for k, v in HOSTILE.items() if source != "hubspot" or k in ("nul", "lone_surrogate")]
    spoiled = {ids[i * 3 + 1]: value for i, value in enumerate(cases)}
    for record_id, value in spoiled.items():
        seed(sandbox, source, obj, record_id, {field: value})
    first = extract_day(warehouse_conn, sandbox, source, stream, **options)
    assert first.unloadable == len(spoiled)
    assert held(warehouse_conn, source, stream) == set(spoiled)
    assert raw_count(warehouse_conn, source, stream) == first.inserted + first.deleted > 0
    assert set(spoiled).isdisjoint(stored(warehouse_conn, source, stream))
    again = extract_day(warehouse_conn, sandbox, source, stream, **options)  # the retry of the window succeeds too
    assert again.unloadable == len(spoiled) and again.inserted == 0
    assert held(warehouse_conn, source, stream) == set(spoiled)


def stored(conn, source: str, stream: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM raw.records WHERE source = %s AND stream = %s", (source, stream))
        found = {row[0] for row in cur.fetchall()}
    conn.rollback()
    return found
