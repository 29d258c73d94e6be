"""What the per-CRM delivery tests share: one sync run for a CRM, and the figures expected on its deals.

Expected hours are recomputed in Python from the staging rows; the other figures are read from
``marts.deal_delivery`` in the form the CRM stores them.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from passerelle.sync.deal_fields import DEAL_FIELDS
from passerelle.sync.delivery_to_crm import apply, as_crm_text, build_figures, crm_writers, plan
from tests.db import rows, tuples
from tests.sync.conftest import connector_api, quiet


def emulator(sandbox: Any, vendor: str) -> Any:
    """The emulator's control client, its rate limits off where it has that knob."""
    control = sandbox.vendors[vendor].control
    return quiet(sandbox, vendor) if "enforce_rate_limits" in control.config() else control


def api(sandbox: Any, vendor: str) -> Any:
    return connector_api(sandbox, vendor)


@pytest.fixture
def control(sandbox: Any, request: Any) -> Any:
    """The emulator of the test module's ``CRM``."""
    return emulator(sandbox, request.module.CRM)


@pytest.fixture
def crm_api(sandbox: Any, control: Any, request: Any) -> Any:
    """The connector API object of the test module's ``CRM``, on its emulator."""
    return api(sandbox, request.module.CRM)


def run_sync(conn: Any, crm: str, crm_api: Any, run_id: str) -> Any:
    build_figures(conn)
    plan(conn, (crm,), run_id)
    return apply(conn, run_id, crm_writers(conn, run_id, {crm: crm_api}), crm=crm)


def delivered(conn: Any, crm: str) -> dict[str, dict[str, str]]:
    """Deal id → {neutral key: text as the CRM stores it} of the non-empty figures in ``marts.deal_delivery``."""
    columns = ", ".join(f.column for f in DEAL_FIELDS)
    out: dict[str, dict[str, str]] = {}
    for deal_id, *values in tuples(conn, f"SELECT crm_id, {columns} FROM marts.deal_delivery WHERE crm_system = %s",
                                   crm):
        out[deal_id] = {f.key: as_crm_text(v) for f, v in zip(DEAL_FIELDS, values) if v is not None}
    return out


def expected_hours(conn: Any, crm: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Deal id → (billable, non-billable) hours, from staging rows summed in Python."""
    deal_of = {r["project_key"]: r["source_id"] for r in rows(conn, """
        SELECT pl.project_key, d.source_id FROM staging.project_links pl JOIN staging.deals d USING (deal_key)
         WHERE d.source_system = %s AND d.is_won""", crm)}
    project_billable = dict(tuples(conn, "SELECT project_key, billable FROM staging.projects"))
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for entry in rows(conn, "SELECT project_key, hours, billable FROM staging.time_entries"):
        deal = deal_of.get(entry["project_key"])
        if deal is None or entry["hours"] is None:
            continue
        billable = entry["billable"] if entry["billable"] is not None else project_billable.get(entry["project_key"])
        totals[deal][0 if billable else 1] += entry["hours"]
    return {deal: (b, n) for deal, (b, n) in totals.items()}


def calls(conn: Any, run_id: str, operation: str = "update_deals") -> int:
    return tuples(conn, "SELECT count(*) FROM sync.writes WHERE run_id = %s AND operation = %s", run_id, operation)[0][0]


def same_number(held: Any, text: str) -> bool:
    return held is not None and Decimal(str(held)) == Decimal(text)


def deliver(conn: Any, crm: str, count: int) -> list[str]:
    """Have projects deliver ``count`` won deals of ``crm`` (the dataset links none of its deals to a project):
    projects that deliver HubSpot deals are re-linked, two per deal; returns the deal ids."""
    deals = tuples(conn, "SELECT deal_key, customer_key, source_id FROM staging.deals WHERE source_system = %s AND is_won "
                         "ORDER BY deal_key LIMIT %s", crm, count)
    projects = [p for (p,) in tuples(conn, """
        SELECT pl.project_key FROM staging.project_links pl JOIN staging.deals d USING (deal_key)
         WHERE d.source_system = 'hubspot' ORDER BY pl.project_key LIMIT %s""", 2 * len(deals))]
    with conn.cursor() as cur:
        for number, project in enumerate(projects):
            deal_key, customer_key, _ = deals[number % len(deals)]
            cur.execute("UPDATE staging.project_links SET deal_key = %s, customer_key = %s WHERE project_key = %s",
                        (deal_key, customer_key, project))
    conn.commit()
    return [source_id for _, _, source_id in deals]
