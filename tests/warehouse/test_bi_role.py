"""Readers get least privilege, checked by logging in as each role.

``passerelle_bi`` reads marts, reference, billing and quality summaries (the quarantine without its row
payloads); ``passerelle_projects`` reads only the ``projects`` views (projects, tasks, time, customer
name and contact). Neither reads raw, staging or audit, nor writes anything.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from psycopg2 import sql

from passerelle.warehouse.scratch import create_database, drop_database
from passerelle.warehouse.settings import connect, parse
from tests.fixtures.warehouse import unique_database_name

BI_ROLE = "passerelle_bi"
PROJECTS_ROLE = "passerelle_projects"


@pytest.fixture
def login_in(warehouse_url: str, warehouse_admin_url: str) -> Iterator[Callable[[str], str]]:
    """Make throw-away LOGIN roles that are members of a reader group, as a BI tool's user would be."""
    admin = connect(warehouse_admin_url)
    admin.autocommit = True
    logins: list[str] = []

    def make(group: str) -> str:
        login = f"reader_test_{uuid.uuid4().hex[:10]}"
        password = uuid.uuid4().hex
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                sql.Identifier(login), sql.Identifier(group)), (password,))
        logins.append(login)
        return parse(warehouse_url).set(username=login, password=password).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.cursor() as cur:
            for login in logins:
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))
        admin.close()


@pytest.fixture
def bi_url(login_in: Callable[[str], str]) -> str:
    return login_in(BI_ROLE)


@pytest.fixture
def projects_url(login_in: Callable[[str], str]) -> str:
    return login_in(PROJECTS_ROLE)


def query(url: str, statement: str) -> list[tuple]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def seeded(warehouse_url: str) -> str:
    """A customer with a contact, a project with a task and time, a quarantined raw row and a mart row."""
    statements = [
        "INSERT INTO staging.customers (customer_key, source_system, source_id, legal_name, siren, phone) "
        "VALUES ('salesforce:001', 'salesforce', '001', 'Dupont SAS', '732829320', '+33 1 23 45 67 89')",
        "INSERT INTO staging.contacts (contact_key, source_system, source_id, customer_key, first_name, last_name, "
        "email) VALUES ('salesforce:c1', 'salesforce', 'c1', 'salesforce:001', 'Anne', 'Martin', 'anne@dupont.fr')",
        "INSERT INTO staging.projects (project_key, source_system, source_id, name, status) "
        "VALUES ('asana:p1', 'asana', 'p1', 'Refonte', 'active')",
        "INSERT INTO staging.tasks (task_key, source_system, source_id, project_key, name, status) "
        "VALUES ('asana:t1', 'asana', 't1', 'asana:p1', 'Maquettes', 'open')",
        "INSERT INTO staging.time_entries (time_entry_key, source_system, source_id, project_key, task_key, "
        "entry_date, hours, billable) VALUES ('asana:e1', 'asana', 'e1', 'asana:p1', 'asana:t1', '2026-03-02', 7.5, true)",
        "INSERT INTO quality.quarantine (table_name, record_key, source_system, source_id, rule, reason, row_data, "
        "first_run_id, last_run_id) VALUES ('staging.customers', 'salesforce:002', 'salesforce', '002', "
        "'siren_checksum', 'bad SIREN', '{\"siren\": \"secret-raw\"}', 'r1', 'r1')",
        "CREATE TABLE marts.later_table (x int)",  # a mart created after the migration
        "INSERT INTO marts.later_table VALUES (7)",
    ]
    conn = connect(warehouse_url)
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.commit()
    conn.close()
    return warehouse_url


def test_bi_reads_marts_reference_and_quarantine_without_payloads(seeded: str, bi_url: str) -> None:
    assert query(bi_url, "SELECT x FROM marts.later_table") == [(7,)]
    assert query(bi_url, "SELECT country_code FROM reference.countries WHERE name_en = 'France'") == [("FR",)]
    assert query(bi_url, "SELECT record_key, rule, reason FROM quality.quarantine_entries") == [
        ("salesforce:002", "siren_checksum", "bad SIREN")]
    assert query(bi_url, "SELECT count(*) FROM quality.validation_runs") == [(0,)]
    assert query(bi_url, "SELECT count(suite) FROM quality.validation_results") == [(0,)]
    assert query(bi_url, "SELECT count(*) FROM billing.payments") == [(0,)]
    assert query(bi_url, "SELECT count(*) FROM quality.raw_quarantine_summary") == [(0,)]


@pytest.mark.parametrize("statement", [
    "SELECT payload FROM raw.records",
    "SELECT original FROM raw.quarantined_records",
    "SELECT legal_name FROM staging.customers",
    "SELECT row_data FROM quality.quarantine",
    "SELECT sample FROM quality.validation_results",
    "SELECT state FROM audit.watermarks",
    "SELECT * FROM audit.load_log",
    "SELECT refresh_token FROM audit.oauth_refresh_tokens",
    "SELECT * FROM projects.customers",
])
def test_bi_cannot_read_raw_staging_payloads_or_audit(seeded: str, bi_url: str, statement: str) -> None:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(bi_url, statement)


def test_projects_role_sees_projects_tasks_time_and_customer_contacts(seeded: str, projects_url: str) -> None:
    assert query(projects_url, "SELECT project_key, name, status FROM projects.projects") == [
        ("asana:p1", "Refonte", "active")]
    assert query(projects_url, "SELECT name FROM projects.tasks") == [("Maquettes",)]
    assert query(projects_url, "SELECT hours FROM projects.time_entries")[0][0] == 7.5
    assert query(projects_url, "SELECT * FROM projects.customers") == [
        ("salesforce:001", "Dupont SAS", "+33 1 23 45 67 89")]
    assert query(projects_url, "SELECT first_name, email FROM projects.customer_contacts") == [
        ("Anne", "anne@dupont.fr")]


def test_projects_views_hold_nothing_financial_or_raw(warehouse_url: str) -> None:
    columns = {row[0] for row in query(warehouse_url, "SELECT column_name FROM information_schema.columns "
                                                      "WHERE table_schema = 'projects'")}
    forbidden = {"amount", "unit_price", "hourly_rate", "siren", "siret", "vat_number", "payload", "row_data",
                 "billing_street", "crm_deal_id", "deal_key"}
    assert columns and not columns & forbidden


@pytest.mark.parametrize("statement", [
    "SELECT legal_name FROM staging.customers",
    "SELECT payload FROM raw.records",
    "SELECT * FROM marts.invoices",
    "SELECT * FROM billing.payments",
    "SELECT * FROM quality.quarantine_entries",
    "SELECT * FROM audit.watermarks",
    "SELECT refresh_token FROM audit.oauth_refresh_tokens",
])
def test_projects_role_reads_nothing_else(seeded: str, projects_url: str, statement: str) -> None:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(projects_url, statement)


@pytest.mark.parametrize("statement", [
    "DELETE FROM marts.later_table",
    "INSERT INTO billing.payments (invoice_number, paid_on, amount) VALUES ('F1', '2026-01-01', 1)",
    "UPDATE quality.quarantine SET reason = 'x'",
    "CREATE TABLE marts.mine (x int)",
    "CREATE TABLE projects.mine (x int)",
])
def test_readers_cannot_write(seeded: str, bi_url: str, projects_url: str, statement: str) -> None:
    for url in (bi_url, projects_url):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            query(url, statement)


def test_a_scratch_database_drops_while_a_session_it_may_not_signal_is_leaving(
        warehouse_server_url: str, login_in: Callable[[str], str]) -> None:
    """The loader may not terminate another role's session (nor an autovacuum worker): the drop waits for it."""
    name = unique_database_name("drop")
    create_database(warehouse_server_url, name)
    reader = connect(parse(login_in(BI_ROLE)).set(database=name).render_as_string(hide_password=False))
    leaving = threading.Timer(1.5, reader.close)
    leaving.start()
    try:
        drop_database(warehouse_server_url, name)
    finally:
        leaving.join()
    assert query(warehouse_server_url, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == [(0,)]
