"""Every incremental staging model, on the sandbox dataset's raw layer, gives what a full rebuild gives.

The models are built once (no watermark: every source whole), then one window is loaded with the real
loader: for every driver stream of every model, an update (a new version), a deletion (a tombstone) and
a new record; and for one source per model that has any, the deletion of a record of a stream it
reads besides its driver (or of a stream of a source without a driver). The incremental run must equal a full
rebuild of the same raw (EXCEPT both ways, the full rebuild rolled back), rewrite every row of the
sources whose lookups changed, and leave every other row of records no load touched as it was (same
``xmin``).
"""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from psycopg2 import sql

from passerelle.load.raw_loader import load_window
from passerelle.records import Page, Record, Window
from passerelle.transform.models import MODELS_BY_NAME, STAGING_MODELS, run_model
from passerelle.warehouse.sql_files import render

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"
CONVERTED = ("customers", "contacts", "people", "products", "deals", "deal_lines", "projects", "milestones",
             "ledger_customers", "ledger_invoices", "ledger_payments")
# Tables a model's file builds besides its own, compared with the full rebuild too.
ALSO_BUILT = {"ledger_payments": ("staging.ledger_payment_applications",)}
Touched = set[tuple[str, str, str]]  # (source, stream, record id)


def declared_sources(model: str) -> list[dict[str, Any]]:
    """The ``sources`` a model's SQL file declares (driver and reads per source system)."""
    text = (SQL_DIR / MODELS_BY_NAME[model].sql_path).read_text()
    block = re.search(r"\{% set sources = (\[.*?\]) %\}", text, re.S)
    assert block, f"{model}: no sources declared"
    return ast.literal_eval(re.sub(r"\bnone\b", "None", block.group(1)))


def test_every_incremental_model_declares_exactly_the_raw_streams_its_sql_reads() -> None:
    """A stream read but not declared would never trigger a rebuild: the rendered SQL names each raw stream it
    reads as ``source = '<source>' AND stream = '<stream>'`` (the ``current``/``latest`` macros, direct reads)."""
    read_by = re.compile(r"(?:\w+\.)?source = '(\w+)' AND (?:\w+\.)?stream = '(\w+)'")
    assert {model.name for model in STAGING_MODELS if model.incremental} >= set(CONVERTED)
    for model in (model for model in STAGING_MODELS if model.incremental):
        declared = {(spec["source"], stream) for spec in declared_sources(model.name)
                    for stream in ([spec["driver"]] if spec["driver"] else []) + spec["reads"]}
        assert set(read_by.findall(render(model.sql_path, full_refresh=True))) == declared, model.name


def one_value(conn: Any, query: str | sql.Composable, params: tuple = ()) -> Any:
    with conn.cursor() as cur:
        cur.execute(query, params)
        value = cur.fetchone()[0]
    conn.rollback()
    return value


def staged(conn: Any, table: str) -> dict[str, tuple[str, str, str]]:
    """Each row of ``table`` as text: (xmin, source_system, source id)."""
    id_column = "payment_id" if table.endswith("applications") else "source_id"
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT t::text, xmin::text, source_system, {} FROM {} AS t")
                    .format(sql.Identifier(id_column), sql.Identifier(*table.split("."))))
        rows = {text: (xmin, source, source_id) for text, xmin, source, source_id in cur.fetchall()}
    conn.rollback()
    return rows


def latest(conn: Any, source: str, stream: str, record_ids: list[str] | None = None,
           limit: int = 1) -> list[Record]:
    """Live latest versions of records of a raw stream (the given ones, else the first by id)."""
    with conn.cursor() as cur:
        cur.execute("SELECT record_id, cursor_value, payload FROM (SELECT DISTINCT ON (record_id) record_id, "
                    "cursor_value, payload, is_deleted FROM raw.records WHERE source = %s AND stream = %s "
                    "AND (%s::text[] IS NULL OR record_id = ANY(%s::text[])) "
                    "ORDER BY record_id, cursor_value DESC, is_deleted DESC) AS l WHERE NOT is_deleted "
                    "ORDER BY record_id LIMIT %s", (source, stream, record_ids, record_ids, limit))
        found = [Record(record_id, cursor, payload) for record_id, cursor, payload in cur.fetchall()]
    conn.rollback()
    return found


def load(conn: Any, source: str, stream: str, records: list[Record]) -> None:
    at = max(record.cursor for record in records)
    load_window(conn, source=source, stream=stream, window=Window(None, at + timedelta(days=1)),
                pages=[Page(records)], run_id="test")


def touch_model(conn: Any, model: str, at: Any, touched: Touched) -> None:
    """Load, for ``model``, a window of changes to its driver streams and one stream it reads."""
    sources = declared_sources(model)
    for spec in sources:
        if not spec["driver"]:
            continue
        ids = sorted({source_id for _, source, source_id in staged(conn, f"staging.{model}").values()
                      if source == spec["source"]})[:2]
        if not ids:
            continue
        records = latest(conn, spec["source"], spec["driver"], ids, limit=2)
        changes = [Record(records[0].record_id, at, records[0].payload),  # an update
                   Record(f"{records[0].record_id}-new", at, records[0].payload)]  # a new record
        if len(records) > 1:
            changes.append(Record(records[1].record_id, at, records[1].payload, deleted=True))  # a deletion
        load(conn, spec["source"], spec["driver"], changes)
        touched.update((spec["source"], spec["driver"], change.record_id) for change in changes)
    for spec in sources:
        for stream in spec["reads"]:
            found = latest(conn, spec["source"], stream)
            if found:
                load(conn, spec["source"], stream, [Record(found[0].record_id, at, found[0].payload, deleted=True)])
                touched.add((spec["source"], stream, found[0].record_id))
                return
    assert all(spec["driver"] and not spec["reads"] for spec in sources), f"{model}: no lookup to change"


def rebuilt_whole(model: str, touched: Touched) -> set[str]:
    """The sources of ``model`` a load of ``touched`` must rebuild whole: a stream it reads besides its
    driver (every stream of a source without one) changed."""
    streams = {(source, stream) for source, stream, _ in touched}
    return {spec["source"] for spec in declared_sources(model)
            if any((spec["source"], stream) in streams for stream in spec["reads"])}


def tables(model: str) -> tuple[str, ...]:
    return (MODELS_BY_NAME[model].table, *ALSO_BUILT.get(model, ()))


def differences_from_full(conn: Any, model: str) -> dict[str, tuple[int, int]]:
    """Per table the model builds: rows only a full rebuild has, rows only the incremental table has."""
    copies = {table: sql.Identifier(f"incremental_{table.split('.')[1]}") for table in tables(model)}
    with conn.cursor() as cur:
        for table, copy in copies.items():
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {c}; CREATE TEMP TABLE {c} AS SELECT * FROM {t}")
                        .format(c=copy, t=sql.Identifier(*table.split("."))))
        conn.commit()
        cur.execute(render(MODELS_BY_NAME[model].sql_path, full_refresh=True))  # rolled back below
        differences = {}
        for table, copy in copies.items():
            cur.execute(sql.SQL("SELECT (SELECT count(*) FROM (SELECT * FROM {t} EXCEPT ALL SELECT * FROM {c}) AS f), "
                                "(SELECT count(*) FROM (SELECT * FROM {c} EXCEPT ALL SELECT * FROM {t}) AS i)")
                        .format(t=sql.Identifier(*table.split(".")), c=copy))
            differences[table] = cur.fetchone()
    conn.rollback()
    return differences


def test_incremental_runs_equal_a_full_rebuild_and_leave_untouched_rows(raw_conn) -> None:
    conn = raw_conn
    for model in CONVERTED:
        run_model(conn, model, full_refresh=False)  # no watermark yet: every source built whole
    before = {table: staged(conn, table) for model in CONVERTED for table in tables(model)}
    assert all(before[MODELS_BY_NAME[model].table] for model in CONVERTED)

    at = one_value(conn, "SELECT max(cursor_value) + interval '1 day' FROM raw.records")
    touched: Touched = set()
    for model in CONVERTED:
        touch_model(conn, model, at, touched)
    for model in CONVERTED:
        run_model(conn, model, full_refresh=False)

    for model in CONVERTED:
        assert differences_from_full(conn, model) == {table: (0, 0) for table in tables(model)}, model
        whole = rebuilt_whole(model, touched)
        changed_ids = {(source, record_id) for source, _, record_id in touched}
        for table in tables(model):
            after = staged(conn, table)
            kept = [row for row, (xmin, source, source_id) in after.items()
                    if source not in whole and (source, source_id) not in changed_ids]
            assert kept or {row[1] for row in after.values()} <= whole, table
            assert all(before[table].get(row, ("",))[0] == after[row][0] for row in kept), table
            assert all(before[table].get(row, ("",))[0] != xmin for row, (xmin, source, _) in after.items()
                       if source in whole), table  # every row of a source whose lookups changed was rewritten
        if any(spec["reads"] for spec in declared_sources(model)):
            assert whole, f"{model}: no source rebuilt whole"
        created = [source_id for _, _, source_id in staged(conn, MODELS_BY_NAME[model].table).values()
                   if source_id.endswith("-new")]
        assert created or all(not spec["driver"] for spec in declared_sources(model)), model

    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT model, mode FROM audit.staging_watermarks WHERE last_load_id > 0")
        modes = dict(cur.fetchall())
    conn.rollback()
    assert {model: modes.get(model) for model in CONVERTED} == {model: "incremental" for model in CONVERTED}

    # No new load: a run rewrites nothing.
    snapshot = {table: staged(conn, table) for model in CONVERTED for table in tables(model)}
    for model in CONVERTED:
        run_model(conn, model, full_refresh=False)
    assert {table: staged(conn, table) for model in CONVERTED for table in tables(model)} == snapshot
