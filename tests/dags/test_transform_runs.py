"""Real runs (``dag.test()``) of the staging transform DAG on the sandbox dataset's raw layer."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from passerelle.orchestration.airflow_env import warehouse_connection
from passerelle.quality.gx_context import GX_DIR_ENV, docs_index
from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle.transform.models import STAGING_MODELS
from tests.connectors.helpers import extract_day
from tests.db import tuples
from tests.browser import render_dom
from tests.quality.docs_browser import index_runs

pytestmark = pytest.mark.dag
BACKFILLED = (("salesforce", "Account"), ("hubspot", "deals"), ("jira", "worklogs"), ("monday", "items"),
              ("trello", "cards"), ("asana", "time_entries"))
INCREMENTAL = sorted((model for model in STAGING_MODELS if model.incremental), key=lambda model: model.name)
TABLES = [model.table for model in STAGING_MODELS] + ["staging.project_links", "staging.identity_exceptions",
                                                       "staging.ledger_customer_links",
                                                       "staging.ledger_customer_exceptions"]


@pytest.fixture
def transform(dagbag, raw_warehouse_url, airflow_connections, fast_retries):
    airflow_connections({"passerelle_warehouse": warehouse_connection(raw_warehouse_url)})
    return fast_retries(dagbag.dags["transform_staging"], 0)


def contents(conn) -> dict[str, list[tuple]]:
    """Every staging table's rows, order-independent, for idempotence checks."""
    return {table: sorted(map(str, tuples(conn, f"SELECT t::text FROM {table} t"))) for table in TABLES}


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_transform_builds_validates_quarantines_and_resolves(transform, raw_conn, sandbox) -> None:
    run = transform.test()
    assert str(run.state) == "success", states(run)
    assert set(states(run).values()) == {"success"}

    counts = {table: tuples(raw_conn, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}
    assert all(counts[model.table] > 0 for model in STAGING_MODELS), counts
    validated = tuples(raw_conn, "SELECT table_name, success FROM quality.validation_runs WHERE run_id = %s",
                      run.run_id)
    assert {table for table, _ in validated} == {model.table for model in STAGING_MODELS} | {
        "staging.project_links", "staging.ledger_customer_links"}

    # the dataset's deliberately broken identifiers are quarantined with their rule and kept out of staging
    anomalies = load(default_dataset_path())["anomalies"]
    broken = {f"{a['vendor']}:{a['id']}": a["problem"] for a in anomalies
              if a["problem"] in ("invalid_siren_checksum", "invalid_siret")}
    quarantined = tuples(raw_conn, "SELECT record_key, rule, reason FROM quality.quarantine "
                                  "WHERE table_name = 'staging.customers' AND released_at IS NULL")
    rules: dict[str, set[str]] = {}
    for key, rule, _ in quarantined:
        rules.setdefault(key, set()).add(rule)
    assert set(broken) <= set(rules)
    for key, problem in broken.items():
        assert ("customers.siren_checksum" if problem == "invalid_siren_checksum"
                else "customers.siret_checksum") in rules[key]
    assert not tuples(raw_conn, "SELECT 1 FROM staging.customers WHERE customer_key = ANY(%s)", list(broken))
    # their deals followed them (orphans), so nothing downstream can invoice them
    assert not tuples(raw_conn, "SELECT 1 FROM staging.deals WHERE customer_key = ANY(%s)", list(broken))

    first = contents(raw_conn)
    open_quarantine = tuples(raw_conn, "SELECT count(*) FROM quality.quarantine WHERE released_at IS NULL")
    # a backfill of the first window re-extracts what raw already holds, then the transform reruns
    sandbox.vendors["trello"].control.config(enforce_rate_limits=False)
    for source, stream in BACKFILLED:
        stats = extract_day(raw_conn, sandbox, source, stream, 0)
        assert (stats.inserted, stats.updated, stats.deleted) == (0, 0, 0)
    rerun = transform.test()
    assert str(rerun.state) == "success"
    assert contents(raw_conn) == first
    assert tuples(raw_conn, "SELECT count(*) FROM quality.quarantine WHERE released_at IS NULL") == open_quarantine
    assert tuples(raw_conn, "SELECT count(*) FROM quality.quarantine WHERE released_at IS NOT NULL") == [(0,)]


def run_with_broken_model(transform, model: str, statement: str):
    """One ``dag.test()`` run whose ``build_<model>`` also runs ``statement`` after its rebuild."""
    build = transform.get_task(f"build_{model}")
    original = build.sql
    build.sql = original + f"\n{statement}\n"
    try:
        return transform.test()
    finally:
        build.sql = original


def test_critical_failure_turns_the_task_red_and_stops_downstream(transform, raw_conn) -> None:
    # A model that loses rows (here: every HubSpot company) is what the critical row-count rule is for.
    run = run_with_broken_model(transform, "customers",
                                "DELETE FROM staging.customers WHERE source_system = 'hubspot';")
    assert str(run.state) == "failed"
    task_states = states(run)
    assert task_states["build_customers"] == "success" and task_states["validate_customers"] == "failed"
    # what checks its rows against customers waits for them, and so does what reads those checks' results
    downstream = ["validate_contacts", "validate_deals", "validate_deal_lines", "resolve_project_identity",
                  "validate_project_links", "resolve_ledger_customer_identity", "validate_ledger_customer_links"]
    assert {task_id: task_states[task_id] for task_id in downstream} == dict.fromkeys(downstream, "upstream_failed")
    # the project-tool tables do not refer to customers: validated and published all the same
    independent = ["validate_people", "validate_products", "validate_projects", "validate_tasks",
                   "validate_milestones", "validate_time_entries"]
    assert {task_id: task_states[task_id] for task_id in independent} == dict.fromkeys(independent, "success")
    # the failure is on record with its rule, and nothing downstream was published
    [(success, critical)] = tuples(raw_conn, "SELECT success, critical_failures FROM quality.validation_runs "
                                            "WHERE run_id = %s AND table_name = 'staging.customers'", run.run_id)
    assert (success, critical) == (False, 1)
    assert tuples(raw_conn, "SELECT rule FROM quality.validation_results WHERE validation_id = (SELECT validation_id"
                           " FROM quality.validation_runs WHERE run_id = %s AND table_name = 'staging.customers')"
                           " AND NOT success AND severity = 'critical'", run.run_id) == [
        ("customers.row_count_vs_raw",)]
    assert tuples(raw_conn, "SELECT count(*) FROM staging.project_links") == [(0,)]
    validated = {table for (table,) in tuples(raw_conn, "SELECT table_name FROM quality.validation_runs "
                                                       "WHERE run_id = %s", run.run_id)}
    # the books (QuickBooks customers, invoices, payments) never refer to CRM customers: validated all the same
    assert validated == {"staging.customers", "staging.people", "staging.products", "staging.projects",
                         "staging.tasks", "staging.milestones", "staging.time_entries", "staging.ledger_customers",
                         "staging.ledger_invoices", "staging.ledger_payments"}


def test_data_docs_show_each_validation_as_its_task_ended(transform, tmp_path, monkeypatch) -> None:
    """Opened offline in Chromium, the index lists the run of every validation task that ran, with the
    task's colour: red for the critical failure, green for the others (ledger_customers fails a warning)."""
    monkeypatch.setenv(GX_DIR_ENV, str(tmp_path))
    run = run_with_broken_model(transform, "customers",
                                "DELETE FROM staging.customers WHERE source_system = 'hubspot';")
    ended = {task_id.removeprefix("validate_"): state for task_id, state in states(run).items()
             if task_id.startswith("validate_") and state in ("success", "failed")}
    assert ended["customers"] == "failed" and ended["ledger_customers"] == "success"

    shown = index_runs(render_dom(docs_index()), docs_index().parent)

    assert {suite: status for (suite, name), (status, _) in shown.items() if name == run.run_id} == {
        f"staging.{table}": state for table, state in ended.items()}
    assert all(page.is_file() for _, page in shown.values())


def test_a_failed_suite_stops_only_what_depends_on_its_table(transform, raw_conn) -> None:
    # The catalogue loses its HubSpot products: deal lines (which name products) cannot be validated,
    # but identity resolution reads customers, deals and projects only, so it still runs and publishes.
    run = run_with_broken_model(transform, "products", "DELETE FROM staging.products WHERE source_system = 'hubspot';")
    assert str(run.state) == "failed"
    task_states = states(run)
    assert task_states["validate_products"] == "failed"
    assert task_states["validate_deal_lines"] == "upstream_failed"
    others = {task_id: state for task_id, state in task_states.items()
              if task_id not in ("validate_products", "validate_deal_lines")}
    assert set(others.values()) == {"success"}, others
    assert "resolve_project_identity" in others and "validate_time_entries" in others
    assert tuples(raw_conn, "SELECT count(*) > 0 FROM staging.project_links") == [(True,)]
    critical = dict(tuples(raw_conn, "SELECT table_name, critical_failures FROM quality.validation_runs "
                                     "WHERE run_id = %s", run.run_id))
    assert critical.pop("staging.products") == 1 and "staging.deal_lines" not in critical
    assert critical == {model.table: 0 for model in STAGING_MODELS if model.name not in ("products", "deal_lines")} | {
        "staging.project_links": 0, "staging.ledger_customer_links": 0}


def test_sql_tasks_run_on_warehouse_url_when_it_is_set(dagbag, raw_warehouse_url, raw_conn, airflow_connections,
                                                       fast_retries, monkeypatch) -> None:
    # The Connection names a database that does not exist: only WAREHOUSE_URL's can have run the SQL.
    elsewhere = make_url(raw_warehouse_url).set(database="passerelle_not_the_warehouse")
    airflow_connections({"passerelle_warehouse": warehouse_connection(elsewhere.render_as_string(hide_password=False))})
    monkeypatch.setenv("WAREHOUSE_URL", raw_warehouse_url)
    dag = fast_retries(dagbag.dags["transform_staging"].partial_subset(task_ids=["build_customers"]), 0)
    run = dag.test()
    assert states(run) == {"analyze_raw": "success", "build_customers": "success"}
    assert tuples(raw_conn, "SELECT count(*) > 0 FROM staging.customers") == [(True,)]


def test_full_refresh_param_rebuilds_the_incremental_models(transform, raw_conn) -> None:
    run = transform.test()
    assert str(run.state) == "success", states(run)
    assert tuples(raw_conn, "SELECT DISTINCT model, mode FROM audit.staging_watermarks WHERE last_load_id > 0 "
                            "ORDER BY 1") == [(model.name, "incremental") for model in INCREMENTAL]
    first = contents(raw_conn)
    refreshed = transform.test(run_conf={"full_refresh": True})
    assert str(refreshed.state) == "success", states(refreshed)
    assert tuples(raw_conn, "SELECT DISTINCT model, mode FROM audit.staging_watermarks WHERE last_load_id > 0 "
                            "ORDER BY 1") == [(model.name, "full") for model in INCREMENTAL]
    assert contents(raw_conn) == first  # the full rebuild finds what the incremental run built
