"""The BI role reads the modelled schemas and nothing else: no raw payloads, no audit state (sync tokens)."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from psycopg2 import sql

from passerelle.warehouse.settings import connect, parse

BI_ROLE = "passerelle_bi"


@pytest.fixture
def bi_url(warehouse_url: str) -> str:
    """A throw-away LOGIN role that is a member of passerelle_bi, as a BI tool's user would be."""
    login = f"bi_test_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    admin = connect(warehouse_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
            sql.Identifier(login), sql.Identifier(BI_ROLE)), (password,))
    try:
        yield parse(warehouse_url).set(username=login, password=password).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(login)))
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))
        admin.close()


def query(url: str, statement: str) -> list[tuple]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def test_bi_role_reads_staging_quality_and_reference(warehouse_url: str, bi_url: str) -> None:
    admin = connect(warehouse_url)
    with admin.cursor() as cur:
        cur.execute("INSERT INTO staging.customers (customer_key, source_system, source_id, legal_name) "
                    "VALUES ('salesforce:001', 'salesforce', '001', 'Dupont SAS')")
        cur.execute("CREATE TABLE marts.later_table (x int)")  # a mart created after the migration
        cur.execute("INSERT INTO marts.later_table VALUES (7)")
    admin.commit()
    admin.close()
    assert query(bi_url, "SELECT legal_name FROM staging.customers") == [("Dupont SAS",)]
    assert query(bi_url, "SELECT x FROM marts.later_table") == [(7,)]
    assert query(bi_url, "SELECT count(*) FROM quality.quarantine") == [(0,)]
    assert query(bi_url, "SELECT country_code FROM reference.countries WHERE name_en = 'France'") == [("FR",)]


@pytest.mark.parametrize("statement", [
    "SELECT payload FROM raw.records",
    "SELECT state FROM audit.watermarks",
    "SELECT * FROM audit.load_log",
])
def test_bi_role_cannot_read_raw_or_audit(bi_url: str, statement: str) -> None:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(bi_url, statement)


def test_bi_role_cannot_write(bi_url: str) -> None:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(bi_url, "DELETE FROM staging.customers")
