"""Migrations: applied once, safe to call from concurrent processes, forward-only, documented."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from alembic import command

from passerelle.paths import PROJECT_ROOT
from passerelle.warehouse.migrate import alembic_config, current_revision, head_revision, migrate
from passerelle.warehouse.settings import connect, sqlalchemy_url


ALL_REVISIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012", "0013",
                 "0014", "0015", "0016", "0017", "0018", "0019"]


def fetch(url: str, query: str, params: tuple = ()) -> list[tuple]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_migrate_applies_once_then_is_a_no_op(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    assert migrate(empty_database_url) == ALL_REVISIONS
    assert current_revision(empty_database_url) == head_revision() == ALL_REVISIONS[-1]
    assert migrate(empty_database_url) == []
    assert fetch(empty_database_url, "SELECT version_num FROM audit.alembic_version") == [(ALL_REVISIONS[-1],)]
    # no stray version table in public
    assert fetch(empty_database_url, "SELECT to_regclass('public.alembic_version')") == [(None,)]


def test_schema_objects_exist_and_are_documented(warehouse_url: str) -> None:
    schemas = {row[0] for row in fetch(warehouse_url, "SELECT nspname FROM pg_namespace")}
    assert {"raw", "staging", "marts", "audit", "quality", "reference"} <= schemas

    undocumented = fetch(warehouse_url, """
        SELECT c.relname, a.attname
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('raw', 'audit', 'staging', 'quality', 'reference', 'marts') AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relname <> 'alembic_version' AND col_description(c.oid, a.attnum) IS NULL
    """)
    assert undocumented == []
    assert fetch(warehouse_url, "SELECT obj_description('raw.records'::regclass, 'pg_class') IS NOT NULL") == [(True,)]

    unique = fetch(warehouse_url, """
        SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'raw.records'::regclass AND contype = 'u'
    """)
    assert unique == [("UNIQUE (source, stream, record_id, cursor_value, is_deleted)",)]
    # One B-tree, the version key: every other would be paid for on each row a load writes; and a BRIN on
    # load_id (a few pages, next to free on load) for the incremental staging models' scan of new loads.
    assert sorted(fetch(warehouse_url, "SELECT indexname, strpos(indexdef, 'USING brin (load_id)') > 0 FROM pg_indexes "
                                       "WHERE schemaname = 'raw' AND tablename = 'records'")) \
        == [("records_load_id_brin", True), ("records_version_key", False)]
    assert fetch(warehouse_url, "SELECT nextval('audit.load_id_seq') > 0") == [(True,)]


def test_concurrent_migrations_from_two_processes(empty_database_url: str) -> None:
    code = (
        "import json, sys; from passerelle.warehouse.migrate import migrate;"
        "print(json.dumps(migrate(sys.argv[1])))"
    )
    env = {"PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen([sys.executable, "-c", code, empty_database_url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(3)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out.strip().splitlines()[-1])
    assert sorted(outputs) == [json.dumps(ALL_REVISIONS), "[]", "[]"]
    assert current_revision(empty_database_url) == head_revision()


def test_downgrade_is_refused(warehouse_url: str) -> None:
    from sqlalchemy import create_engine, pool

    config = alembic_config()
    engine = create_engine(sqlalchemy_url(warehouse_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            with pytest.raises(NotImplementedError, match="forward-only"):
                command.downgrade(config, "base")
    finally:
        engine.dispose()
    assert current_revision(warehouse_url) == head_revision()
    assert fetch(warehouse_url, "SELECT to_regclass('raw.records') IS NOT NULL") == [(True,)]
