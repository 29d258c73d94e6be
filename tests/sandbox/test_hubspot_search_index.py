"""The HubSpot search index answers exactly what filtering every record answers (random stores and queries)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from passerelle_sandbox.hubspot_index import SearchIndex, plan_search
from passerelle_sandbox.hubspot_model import infer_properties
from passerelle_sandbox.hubspot_search import SearchLimits, naive_search, parse_search

LIMITS = SearchLimits(max_groups=5, max_filters_per_group=6, max_filters_total=18, max_page=200, max_results=10_000)
BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)
MODIFIED = "hs_lastmodifieddate"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def random_store(rng: random.Random, size: int) -> list[dict[str, Any]]:
    """Records with sparse ids, clustered and tied modification times, some archived, some undated."""
    ids = sorted(rng.sample(range(10_000_000, 10_000_000 + size * 5), size))
    records = []
    for record_id in ids:
        minute = rng.choice([rng.randrange(0, 600), rng.randrange(0, 5), 300])  # many ties
        modified = iso(BASE + timedelta(minutes=minute, milliseconds=rng.choice([0, 0, 1, 999])))
        properties: dict[str, Any] = {"hs_object_id": str(record_id), "createdate": iso(BASE), "name": "x"}
        if rng.random() > 0.03:
            properties[MODIFIED] = modified
        records.append({"id": str(record_id), "properties": properties, "archived": rng.random() < 0.05})
    return records


def random_filters(rng: random.Random, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    filters = []
    for _ in range(rng.randrange(0, 4)):
        if rng.random() < 0.6:
            moment = BASE + timedelta(minutes=rng.choice([rng.randrange(-5, 610), 300, 0]),
                                      milliseconds=rng.choice([0, 1, 999]))
            operator = rng.choice(["GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"])
            spec: dict[str, Any] = {"propertyName": MODIFIED, "operator": operator,
                                    "value": rng.choice([epoch_ms(moment), iso(moment)])}
            if operator == "BETWEEN":
                spec["highValue"] = epoch_ms(moment + timedelta(minutes=rng.randrange(0, 200)))
        else:
            pivot = int(rng.choice(records)["id"]) + rng.choice([-1, 0, 1])
            spec = {"propertyName": "hs_object_id", "operator": rng.choice(["GT", "GTE", "LT", "LTE", "EQ"]),
                    "value": str(pivot)}
        filters.append(spec)
    return filters


@pytest.mark.parametrize("seed", range(40))
def test_index_pages_equal_the_naive_filter(seed: int) -> None:
    rng = random.Random(seed)
    records = random_store(rng, rng.choice([1, 30, 700, 2500]))
    defs = infer_properties("companies", records)
    index = SearchIndex(records, MODIFIED, defs)
    assert index.usable
    for _ in range(12):
        body: dict[str, Any] = {"filterGroups": [{"filters": random_filters(rng, records)}],
                                "limit": rng.choice([1, 7, 100, 200])}
        if rng.random() < 0.7:
            body["sorts"] = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        visible_until = iso(BASE + timedelta(minutes=rng.randrange(0, 600))) if rng.random() < 0.2 else None
        plan = plan_search(body, defs, MODIFIED, visible_until)
        if plan is None:
            assert visible_until is not None  # only the lag alone, without a date filter, is left to the scan
            continue
        after = 0
        for _ in range(rng.randrange(1, 6)):  # sequential pages, then a jump back or forward
            request = parse_search({**body, "after": after}, defs, LIMITS)
            assert index.search(plan, after, request.limit) == naive_search(records, request, MODIFIED, visible_until)
            after = after + request.limit if rng.random() < 0.8 else rng.randrange(0, len(records) + 1)


def test_other_query_shapes_are_left_to_the_scan() -> None:
    records = random_store(random.Random(1), 50)
    defs = infer_properties("companies", records)
    since = {"propertyName": MODIFIED, "operator": "GTE", "value": "0"}
    assert plan_search({"filterGroups": [{"filters": [since]}]}, defs, MODIFIED) is not None
    for body in (
        {"filterGroups": [{"filters": [since]}, {"filters": [since]}]},
        {"filterGroups": [{"filters": [since, {"propertyName": "name", "operator": "EQ", "value": "x"}]}]},
        {"filterGroups": [{"filters": [{"propertyName": MODIFIED, "operator": "NEQ", "value": "0"}]}]},
        {"filterGroups": [{"filters": [since]}], "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}]},
        {"filterGroups": [{"filters": [since]}], "sorts": [{"propertyName": MODIFIED}]},
        {"filterGroups": [{"filters": [since]}], "query": "x"},
    ):
        assert plan_search(body, defs, MODIFIED) is None, body
