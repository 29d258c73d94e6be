"""QuickBooks Online staging: items become staging.products, inactive ones flagged, prices exact."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from passerelle.transform.models import run_staging
from tests.db import rows


def test_every_item_is_a_product_inactive_ones_flagged(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, ["products"])
    products = {r["source_id"]: r for r in rows(raw_conn, "SELECT * FROM staging.products "
                                                         "WHERE source_system = 'quickbooks'")}
    items = sandbox.vendors["quickbooks"].control.records("Item")
    assert Counter(products.keys()) == Counter(item["Id"] for item in items)
    assert any(not item["Active"] for item in items)  # QuickBooks never deletes an item: it makes it inactive
    for item in items:
        row = products[item["Id"]]
        assert row["product_key"] == f"quickbooks:{item['Id']}"
        assert (row["name"], row["sku"], row["family"], row["is_active"]) == (
            item["Name"], item.get("Sku"), item["Type"], item["Active"])
        assert row["unit_price"] == Decimal(str(item["UnitPrice"])).quantize(Decimal("0.01"))
