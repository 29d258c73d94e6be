"""Staging rows for quality tests: valid defaults per table, inserted with the raw records they stand for.

The row-count rules compare staging with the live raw records of the table's streams, so each staged
row gets a live raw record of its source's stream (``raw=False`` leaves raw empty on purpose).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from psycopg2 import sql
from psycopg2.extras import Json

from passerelle.quality.suites import BUILDERS
from passerelle.transform.models import MODELS_BY_NAME

AS_OF = date(2026, 3, 2)
CURSOR = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)

# Valid French identifiers of one company (Luhn checksums, FR key = (12 + 3 × (SIREN mod 97)) mod 97).
SIREN, SIRET, VAT = "732829320", "73282932000074", "FR44732829320"


def customer(key: str, **values: Any) -> dict[str, Any]:
    return {
        "customer_key": key, "legal_name": "Dupont Conseil SAS", "customer_type": "B2B", "siren": SIREN,
        "siret": SIRET, "vat_number": VAT, "billing_street": "12 rue de la Paix", "billing_city": "Paris",
        "billing_postcode": "75002", "billing_country_code": "FR", "billing_country_raw": "France",
        "einvoicing_address": SIREN, **values,
    }


def deal(key: str, customer_key: str, **values: Any) -> dict[str, Any]:
    return {"deal_key": key, "customer_key": customer_key, "name": "Audit", "amount": Decimal("1500.00"),
            "currency": "EUR", "stage": "Closed Won", "is_closed": True, "is_won": True,
            "close_date": date(2026, 2, 10), "won_date": date(2026, 2, 10), **values}


def deal_line(key: str, deal_key: str, **values: Any) -> dict[str, Any]:
    return {"deal_line_key": key, "deal_key": deal_key, "name": "Conseil", "quantity": Decimal("2"),
            "unit_price": Decimal("750"), "discount_percent": Decimal("0"), "line_amount": Decimal("1500.00"),
            "vat_rate": Decimal("20.00"), **values}


def project(key: str, **values: Any) -> dict[str, Any]:
    return {"project_key": key, "name": "Refonte du site", "status": "active", "start_date": date(2026, 1, 5),
            **values}


def time_entry(key: str, project_key: str, **values: Any) -> dict[str, Any]:
    return {"time_entry_key": key, "project_key": project_key, "entry_date": date(2026, 2, 27),
            "hours": Decimal("7.50"), "billable": True, **values}


def stage(conn: Any, table: str, *rows: dict[str, Any], raw: bool = True) -> None:
    """Insert ``rows`` into ``staging.<table>`` (source columns from the key) and commit."""
    key = BUILDERS[table][0]
    streams = dict(reversed(MODELS_BY_NAME[table].raw_streams))  # first stream of each source wins
    with conn.cursor() as cur:
        for row in rows:
            source_system, _, source_id = row[key].partition(":")
            row = {"source_system": source_system, "source_id": source_id, **row}
            cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier("staging", table), sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row))), list(row.values()))
            if raw:
                seed_raw(cur, source_system, streams[source_system], row["source_id"])
    conn.commit()


def seed_raw(cur: Any, source: str, stream: str, *record_ids: str, deleted: bool = False) -> None:
    """Live raw records (or tombstones) in the caller's transaction."""
    for record_id in record_ids:
        cur.execute(
            """INSERT INTO raw.records (load_id, source, stream, record_id, cursor_value, is_deleted, payload,
                                        run_id, window_end)
               VALUES (1, %s, %s, %s, %s, %s, %s, 'test', %s) ON CONFLICT DO NOTHING""",
            (source, stream, record_id, CURSOR, deleted, Json({"id": record_id}), CURSOR),
        )


def keys(conn: Any, table: str) -> list[str]:
    key = BUILDERS[table][0]
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
            sql.Identifier(key), sql.Identifier("staging", table)))
        found = [row[0] for row in cur.fetchall()]
    conn.rollback()
    return found


def open_quarantine(conn: Any, table: str) -> list[dict[str, Any]]:
    """Open quarantine entries of ``staging.<table>``: record_key, rule, reason, row_data, run ids."""
    with conn.cursor() as cur:
        cur.execute(
            """SELECT record_key, source_system, source_id, rule, reason, row_data, first_run_id, last_run_id
                 FROM quality.quarantine WHERE table_name = %s AND released_at IS NULL ORDER BY record_key, rule""",
            (f"staging.{table}",),
        )
        names = [column.name for column in cur.description]
        found = [dict(zip(names, row)) for row in cur.fetchall()]
    conn.rollback()
    return found


def result_of(conn: Any, run_id: str, rule: str) -> dict[str, Any]:
    """The validation_results row of ``rule`` in ``run_id``."""
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM quality.validation_results WHERE run_id = %s AND rule = %s", (run_id, rule))
        names = [column.name for column in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    conn.rollback()
    assert len(rows) == 1, rows
    return rows[0]
