"""A real run (``dag.test()``) of the ``sync_zoho_tasks`` DAG on a staged warehouse and the Zoho emulators."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.sync.keys import key_line
from passerelle.sync.zoho_tasks import idem_key
from tests.connectors.helpers import FAST
from tests.db import tuples
from tests.sync.zoho_tasks_setup import Zoho

pytestmark = pytest.mark.dag
PARIS = ZoneInfo("Europe/Paris")


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_the_dag_is_scheduled_on_identity_resolution_and_the_portal_and_writes_in_its_pool(dagbag) -> None:
    dag = dagbag.dags["sync_zoho_tasks"]
    assert {a.name for a in dag.timetable.asset_condition.objects} == {"staging.project_links",
                                                                       "raw.zoho_projects.tasks"}
    assert {t.task_id: t.pool for t in dag.tasks} == {"plan_zoho_tasks": "zoho_projects_api",
                                                      "apply_zoho_tasks": "zoho_projects_api"}
    assert dag.get_task("apply_zoho_tasks").upstream_task_ids == {"plan_zoho_tasks"}


def test_a_dry_run_then_an_apply_run(dagbag, sandbox, staged_warehouse_url, staged_conn, airflow_connections,
                                     fast_retries, monkeypatch, tmp_path) -> None:
    zoho = Zoho(sandbox)
    vendors = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for name in ("zoho_crm", "zoho_projects"):
        vendors[f"passerelle_{name}"]["extra"].update(FAST)
    airflow_connections({"passerelle_warehouse": warehouse_connection(staged_warehouse_url),
                         "passerelle_zoho_crm": vendors["passerelle_zoho_crm"],
                         "passerelle_zoho_projects": vendors["passerelle_zoho_projects"]})
    project = zoho.deal_project()
    task = zoho.crm_task(project["crm"]["deal"])
    sync_file = tmp_path / "sync.toml"
    monkeypatch.setenv("PASSERELLE_SYNC_FILE", str(sync_file))
    dag = fast_retries(dagbag.dags["sync_zoho_tasks"], 0)

    sync_file.write_text('[zoho_tasks]\nmode = "plan"\n')
    dry = dag.test(logical_date=datetime(2026, 3, 20, 10, tzinfo=PARIS))
    assert states(dry) == {"plan_zoho_tasks": "success", "apply_zoho_tasks": "success"}
    assert tuples(staged_conn, "SELECT operation, crm_id FROM sync.plan_items") == [("create", task["id"])]
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes") == [(0,)]

    sync_file.write_text('[zoho_tasks]\nmode = "apply"\n')
    run = dag.test(logical_date=datetime(2026, 3, 20, 11, tzinfo=PARIS))
    assert set(states(run).values()) == {"success"}
    made = [t for t in zoho.pm.records("tasks") if key_line(idem_key(task["id"])) in (t.get("description") or "")]
    assert len(made) == 1 and made[0]["project"]["id"] == project["id"]
    assert tuples(staged_conn, "SELECT state, pm_id FROM sync.links WHERE crm_id = %s", task["id"]) == [
        ("active", f"{project['id']}/{made[0]['id']}")]
