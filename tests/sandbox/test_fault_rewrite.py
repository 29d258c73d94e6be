"""The ``rewrite`` fault: selectors that name records by id, and raw JSON text written as it is."""

from __future__ import annotations

from decimal import Decimal

import pytest

from passerelle import exact_json
from passerelle_sandbox.faults import FaultSpec, FaultSpecError, apply_patch


def page() -> dict:
    return {"data": {"items": [{"id": "7", "v": 1}, {"id": 8, "v": 2}]}, "cursor": "c1"}


def test_selector_finds_the_record_by_id_whatever_its_position() -> None:
    body = page()
    assert apply_patch(body, ({"path": "data/items/id=8/v", "value": "x"},))
    assert body["data"]["items"] == [{"id": "7", "v": 1}, {"id": 8, "v": "x"}]


def test_raw_text_is_served_verbatim() -> None:
    body = page()
    patch = ({"path": "data/items/id=7/v", "raw": "NaN"}, {"path": "data/items/1/v", "raw": "99999999999999.99"})
    assert apply_patch(body, patch)
    assert exact_json.dumps_verbatim(body) == (
        b'{"data":{"items":[{"id":"7","v":NaN},{"id":8,"v":99999999999999.99}]},"cursor":"c1"}')
    assert body["data"]["items"][1]["v"] == Decimal("99999999999999.99")


def test_a_record_on_another_page_skips_only_its_operation() -> None:
    body = page()
    assert apply_patch(body, ({"path": "data/items/id=99/v", "value": 0}, {"path": "cursor", "value": "c2"}))
    assert body["cursor"] == "c2" and body["data"]["items"][0]["v"] == 1
    untouched = page()
    assert not apply_patch(untouched, ({"path": "data/items/id=99/v", "value": 0},))
    assert not apply_patch(page(), ({"path": "nowhere/v", "value": 0},))  # a plain path must exist


@pytest.mark.parametrize("op", [
    {"path": "a", "raw": "{not json"}, {"path": "a", "raw": 5}, {"path": "a", "value": 1, "raw": "1"}, {"raw": "1"},
])
def test_invalid_operations_are_refused(op: dict) -> None:
    with pytest.raises(FaultSpecError, match="patch must be"):
        FaultSpec.from_json({"kind": "rewrite", "patch": [op]})
