"""Links, plan items and the write audit in the warehouse (``sync`` schema, migration 0016).

Each function commits what it wrote before returning: the sync's state must survive the process, since
what it protects against is a process that dies between a vendor call and the next statement.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from passerelle.exact_json import dumps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Link:
    link_id: int
    idem_key: str
    state: str
    pm_id: str | None
    pending_ref: str | None = None


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


def reserve(conn: Any, *, kind: str, crm_system: str, crm_object: str, crm_id: str, pm_system: str,
            pm_object: str, idem_key: str, template_ref: str | None) -> Link:
    """The link of this CRM object and kind, recorded ``pending_create`` first if there was none.

    The unique key makes the reservation the single place where "is there already a project for this deal"
    is decided: two runs racing here get the same row.
    """
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO sync.links (link_kind, crm_system, crm_object, crm_id, pm_system, pm_object, idem_key,
                                       state, template_ref)
               VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending_create', %s)
               ON CONFLICT (crm_system, crm_object, crm_id, link_kind) DO NOTHING""",
            (kind, crm_system, crm_object, crm_id, pm_system, pm_object, idem_key, template_ref))
        cur.execute("""SELECT link_id, idem_key, state, pm_id, pending_ref FROM sync.links
                        WHERE crm_system = %s AND crm_object = %s AND crm_id = %s AND link_kind = %s""",
                    (crm_system, crm_object, crm_id, kind))
        row = cur.fetchone()
    conn.commit()
    return Link(*row)


def settle(conn: Any, link_id: int, *, state: str, pm_id: str | None = None, pm_url: str | None = None) -> None:
    """Record the vendor outcome of a link (``active`` with its object, or ``unknown``)."""
    with conn.cursor() as cur:
        cur.execute("""UPDATE sync.links SET state = %s, pm_id = coalesce(%s, pm_id), pm_url = coalesce(%s, pm_url),
                              updated_at = now() WHERE link_id = %s""", (state, pm_id, pm_url, link_id))
    conn.commit()


def note_pending(conn: Any, link_id: int, ref: str) -> None:
    """Record the vendor job making the link's object, before waiting for it (committed at once)."""
    with conn.cursor() as cur:
        cur.execute("UPDATE sync.links SET pending_ref = %s, updated_at = now() WHERE link_id = %s", (ref, link_id))
    conn.commit()


def audit(conn: Any, *, run_id: str, link_id: int | None, vendor: str, operation: str, method: str, path: str,
          request: Any, status: int | None, outcome: str, response: Any, object_id: str | None) -> None:
    """Append one vendor call to ``sync.writes`` (committed at once)."""
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO sync.writes (run_id, link_id, vendor, operation, method, path, request, status, outcome,
                                        response, vendor_object_id)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (run_id, link_id, vendor, operation, method, path, _json(request), status, outcome, _json(response),
             object_id))
    conn.commit()


def store_plan(conn: Any, run_id: str, flow: str, items: list[dict[str, Any]]) -> None:
    """Replace the run's plan for ``flow`` (a retried plan task plans again, it does not add)."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM sync.plan_items WHERE run_id = %s AND flow = %s", (run_id, flow))
        for item in items:
            cur.execute(
                """INSERT INTO sync.plan_items (run_id, flow, operation, crm_system, crm_id, pm_system, idem_key,
                                                reason, payload)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (run_id, flow, item["operation"], item["crm_system"], item["crm_id"], item.get("pm_system"),
                 item.get("idem_key"), item["reason"], dumps(item.get("payload") or {})))
    conn.commit()


def store_counted_plan(conn: Any, run_id: str, flow: str, items: list[dict[str, Any]], counts: Counter[str],
                       title: str) -> Counter[str]:
    """Store the plan (:func:`store_plan`) and log it, titled ``title``: ``counts`` (what was counted without an
    item, like projects already linked) plus the items per operation, which it returns."""
    store_plan(conn, run_id, flow, items)
    counts.update(item["operation"] for item in items)
    log.info("%s plan: %s", title, ", ".join(f"{op} {n}" for op, n in sorted(counts.items())) or "nothing")
    return counts


def planned(conn: Any, run_id: str, flow: str, operation: str, *, crm_system: str | None = None,
            pm_system: str | None = None) -> list[dict[str, Any]]:
    """The run's plan items of one operation, in a fixed order (oldest deal first); only one CRM's or one
    project tool's when given (each writes in its own task and pool)."""
    with conn.cursor() as cur:
        cur.execute("""SELECT plan_item_id, crm_system, crm_id, pm_system, idem_key, payload FROM sync.plan_items
                        WHERE run_id = %s AND flow = %s AND operation = %s ORDER BY plan_item_id""",
                    (run_id, flow, operation))
        rows = cur.fetchall()
    conn.rollback()
    return [{"plan_item_id": r[0], "crm_system": r[1], "crm_id": r[2], "pm_system": r[3], "idem_key": r[4],
             "payload": r[5] if isinstance(r[5], dict) else json.loads(r[5])} for r in rows
            if crm_system in (None, r[1]) and pm_system in (None, r[3])]


def note_on_plan(conn: Any, run_id: str, link_id: int, note: str) -> None:
    """Add ``note`` to the reason of the run's plan items for the link's key (once; committed at once)."""
    with conn.cursor() as cur:
        cur.execute("""UPDATE sync.plan_items SET reason = reason || '; ' || %(note)s
                        WHERE run_id = %(run)s AND strpos(reason, %(note)s) = 0
                          AND idem_key = (SELECT idem_key FROM sync.links WHERE link_id = %(link)s)""",
                    {"note": note, "run": run_id, "link": link_id})
    conn.commit()


def mark_outcome(conn: Any, plan_item_id: int, outcome: str) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE sync.plan_items SET outcome = %s WHERE plan_item_id = %s", (outcome, plan_item_id))
    conn.commit()
