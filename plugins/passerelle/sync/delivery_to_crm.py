"""Delivery → CRM: each delivered deal's progress, hours, amounts and next milestone, written back to it.

The figures are computed in the warehouse (``include/sql/sync/deal_delivery.sql`` → ``marts.deal_delivery``),
never read-modified-written in the CRM. The **plan** compares each deal's figures, as the CRM stores them
(numbers to two decimals, dates ``YYYY-MM-DD``), with the value the sync last wrote (``sync.field_state``)
and plans an ``update`` with the changed fields only; a figure that became empty is not written over a value
(an empty value never overwrites a filled one), except the next milestone, which is cleared when the last one
is reached. The **apply** sends the planned updates in the CRM's batches and records, per deal, the values
written, so a rerun writes nothing; a deal the CRM refuses is recorded with the CRM's message and the others
are written.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Callable

from passerelle.sync import links
from passerelle.sync.crm_writers import CrmWriter, writer_for
from passerelle.sync.deal_fields import DEAL_FIELDS
from passerelle.warehouse.sql_files import run_sql_file

log = logging.getLogger(__name__)

FLOW = "delivery_to_crm"
SQL = "sync/deal_delivery.sql"
CLEARABLE = frozenset({"passerelle_next_milestone", "passerelle_next_milestone_date"})


def as_crm_text(value: Any) -> str | None:
    """A figure as the CRM stores it: what is compared with the last value written."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01'))}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def build_figures(conn: Any) -> int:
    """Rebuild ``marts.deal_delivery``; returns its row count."""
    run_sql_file(conn, SQL)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM marts.deal_delivery")
        count = cur.fetchone()[0]
    conn.rollback()
    return count


def plan(conn: Any, crms: tuple[str, ...], run_id: str) -> Counter[str]:
    """Store the run's updates (changed fields only) in ``sync.plan_items``; returns counts."""
    columns = {f.key: f.column for f in DEAL_FIELDS}
    with conn.cursor() as cur:
        cur.execute(f"SELECT crm_system, crm_id, {', '.join(columns.values())} FROM marts.deal_delivery "
                    "WHERE crm_system = ANY(%s) ORDER BY crm_system, crm_id", (list(crms),))
        deals = cur.fetchall()
        cur.execute("SELECT crm_system, crm_id, field, synced_value FROM sync.field_state "
                    "WHERE crm_object = 'deal' AND crm_system = ANY(%s)", (list(crms),))
        synced = {(s, i, f): v for s, i, f, v in cur.fetchall()}
    conn.rollback()
    items, counts = [], Counter()
    for crm, deal_id, *values in deals:
        changes: dict[str, str] = {}
        for name, value in zip(columns, values):
            text, last = as_crm_text(value), synced.get((crm, deal_id, name))
            if text is None:
                if name in CLEARABLE and last:
                    changes[name] = ""
                continue
            if text != last:
                changes[name] = text
        if changes:
            items.append({"operation": "update", "crm_system": crm, "crm_id": deal_id,
                          "reason": "changed since the last write: " + ", ".join(sorted(changes)),
                          "payload": {"properties": changes}})
        else:
            counts["unchanged"] += 1
    links.store_plan(conn, run_id, FLOW, items)
    counts["update"] = len(items)
    log.info("delivery → CRM plan: %d deals to update, %d unchanged", counts["update"], counts["unchanged"])
    return counts


@dataclass
class ApplyOutcome:
    written: int = 0
    fields: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    calls: int = 0


def apply(conn: Any, run_id: str, writers: Callable[[str], CrmWriter], crm: str | None = None) -> ApplyOutcome:
    """Write the run's planned updates, CRM by CRM (only ``crm``'s when given: one task per CRM, in its pool);
    record what was written in ``sync.field_state``."""
    outcome = ApplyOutcome()
    items = links.planned(conn, run_id, FLOW, "update", crm_system=crm)
    for system in sorted({item["crm_system"] for item in items}):
        mine = [item for item in items if item["crm_system"] == system]
        writer = writers(system)
        writer.provision()
        before = _calls(conn, run_id)
        result = writer.update([(item["crm_id"], item["payload"]["properties"]) for item in mine])
        outcome.calls += _calls(conn, run_id) - before
        written = set(result.written)
        with conn.cursor() as cur:
            for item in mine:
                if item["crm_id"] not in written:
                    continue
                for name, value in item["payload"]["properties"].items():
                    cur.execute("""INSERT INTO sync.field_state (crm_system, crm_object, crm_id, field, synced_value, run_id)
                                   VALUES (%s, 'deal', %s, %s, %s, %s)
                                   ON CONFLICT (crm_system, crm_object, crm_id, field) DO UPDATE
                                   SET synced_value = EXCLUDED.synced_value, run_id = EXCLUDED.run_id,
                                       synced_at = now()""", (system, item["crm_id"], name, value, run_id))
                    outcome.fields += 1
                cur.execute("UPDATE sync.plan_items SET outcome = 'done' WHERE plan_item_id = %s", (item["plan_item_id"],))
            for item in mine:
                if item["crm_id"] in result.refused:
                    cur.execute("UPDATE sync.plan_items SET outcome = 'rejected' WHERE plan_item_id = %s",
                                (item["plan_item_id"],))
        conn.commit()
        outcome.written += len(written)
        outcome.refused.update({f"{system} deal {k}": v for k, v in result.refused.items()})
    log.info("delivery → CRM: %d deals written (%d fields) in %d calls, %d refused", outcome.written,
             outcome.fields, outcome.calls, len(outcome.refused))
    return outcome


def _calls(conn: Any, run_id: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sync.writes WHERE run_id = %s AND operation = 'update_deals'", (run_id,))
        count = cur.fetchone()[0]
    conn.rollback()
    return count


def crm_writers(conn: Any, run_id: str, apis: dict[str, Any]) -> Callable[[str], CrmWriter]:
    """Writers for the CRMs whose connector API objects are given (``{"hubspot": JsonApi, ...}``)."""
    def writer(crm: str) -> CrmWriter:
        if crm not in apis:
            raise ValueError(f"no connection given for the {crm} delivery writer")
        return writer_for(crm, apis[crm], conn, run_id)
    return writer
