"""Benchmark scratch databases: created migrated beside the warehouse, gone afterwards, leftovers replaced."""

from __future__ import annotations

import pytest

from passerelle.warehouse.migrate import current_revision, head_revision
from passerelle.warehouse.scratch import create_database, scratch_database
from passerelle.warehouse.settings import connect
from tests.fixtures.warehouse import unique_database_name


def database_exists(server_url: str, name: str) -> bool:
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def test_scratch_database_is_migrated_then_dropped(warehouse_server_url: str) -> None:
    name = unique_database_name("scratch")
    create_database(warehouse_server_url, name)  # an interrupted earlier run's leftover
    with scratch_database(warehouse_server_url, name) as url:
        assert current_revision(url) == head_revision()
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_database(), count(*) FROM billing.invoiced_items")
                assert cur.fetchone() == (name, 0)
        finally:
            conn.close()
    assert not database_exists(warehouse_server_url, name)


def test_scratch_database_is_dropped_when_the_benchmark_fails(warehouse_server_url: str) -> None:
    name = unique_database_name("scratch")
    with pytest.raises(RuntimeError, match="benchmark failed"):
        with scratch_database(warehouse_server_url, name):
            assert database_exists(warehouse_server_url, name)
            raise RuntimeError("benchmark failed")
    assert not database_exists(warehouse_server_url, name)
