"""The value ledger of the two-way flows (``sync.link_fields``, migration 0017) and their conflicts
(``sync.conflicts``). Each function commits what it wrote: the ledger must survive a process that dies
between a vendor write and the next statement, or the next run would take its own write for a change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from passerelle.exact_json import dumps
from passerelle.sync.field_rules import Ledger, value_hash


def load(conn: Any, link_ids: list[int]) -> dict[tuple[int, str], Ledger]:
    """The ledger of every field of ``link_ids``."""
    with conn.cursor() as cur:
        cur.execute("SELECT link_id, field, synced_hash, parked_hash FROM sync.link_fields WHERE link_id = ANY(%s)",
                    (link_ids,))
        rows = cur.fetchall()
    conn.rollback()
    return {(link_id, field): Ledger(synced, parked) for link_id, field, synced, parked in rows}


def record(conn: Any, run_id: str, link_id: int, values: dict[str, Any], *, crm_at: datetime | None,
           crm_by: str | None, pm_at: datetime | None, pm_by: str | None) -> None:
    """Both sides now hold ``values`` (field → common value): the next change is measured from here."""
    with conn.cursor() as cur:
        for field, value in values.items():
            cur.execute(
                """INSERT INTO sync.link_fields (link_id, field, synced_hash, synced_value, crm_modified_at,
                                                 crm_modified_by, pm_modified_at, pm_modified_by, run_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (link_id, field) DO UPDATE SET
                       synced_hash = EXCLUDED.synced_hash, synced_value = EXCLUDED.synced_value,
                       crm_modified_at = EXCLUDED.crm_modified_at, crm_modified_by = EXCLUDED.crm_modified_by,
                       pm_modified_at = EXCLUDED.pm_modified_at, pm_modified_by = EXCLUDED.pm_modified_by,
                       parked_hash = NULL, parked_reason = NULL, run_id = EXCLUDED.run_id, synced_at = now()""",
                (link_id, field, value_hash(value), dumps(value), crm_at, crm_by, pm_at, pm_by, run_id))
    conn.commit()


def park(conn: Any, run_id: str, link_id: int, field: str, value: Any, reason: str) -> None:
    """``value`` was refused for ``field``: not written again until the winning value changes."""
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO sync.link_fields (link_id, field, parked_hash, parked_reason, run_id)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (link_id, field) DO UPDATE SET parked_hash = EXCLUDED.parked_hash,
                   parked_reason = EXCLUDED.parked_reason, run_id = EXCLUDED.run_id, synced_at = now()""",
            (link_id, field, value_hash(value), reason[:2000], run_id))
    conn.commit()


def conflict(conn: Any, run_id: str, link_id: int, field: str, crm_value: Any, pm_value: Any, rule: str,
             winner: str | None) -> None:
    """One row of ``sync.conflicts``: both values, the rule that decided and the winner (``none``: parked)."""
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO sync.conflicts (run_id, link_id, field, crm_value, pm_value, rule, winner)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                    (run_id, link_id, field, dumps(crm_value), dumps(pm_value), rule, winner or "none"))
    conn.commit()
