"""Real runs (``dag.test()``) of the ``sync_deals_to_projects`` DAG on a staged warehouse and the Trello emulator."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.sync.config import CRM_WRITERS, PROJECT_TOOLS
from tests.connectors.helpers import FAST
from tests.db import tuples
from tests.sync.test_deal_projects import WON_AFTER, boards_by_deal, expected_deals

pytestmark = pytest.mark.dag
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def sync_dag(dagbag, sandbox, staged_warehouse_url, airflow_connections, fast_retries, monkeypatch, sync_file):
    vendors = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for name in ("trello", "hubspot"):
        vendors[f"passerelle_{name}"]["extra"].update(FAST)
        sandbox.vendors[name].control.config(enforce_rate_limits=False)
    airflow_connections({"passerelle_warehouse": warehouse_connection(staged_warehouse_url),
                         "passerelle_trello": vendors["passerelle_trello"],
                         "passerelle_hubspot": vendors["passerelle_hubspot"]})

    def configured(mode: str, dag_id: str = "sync_deals_to_projects"):
        path = sync_file(mode=mode, won_after=WON_AFTER)
        path.write_text(path.read_text() + f'\n[delivery_to_crm]\nmode = "{mode}"\ncrms = ["hubspot"]\n')
        monkeypatch.setenv("PASSERELLE_SYNC_FILE", str(path))
        return fast_retries(dagbag.dags[dag_id], 0)
    return configured


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_dag_is_triggered_by_identity_resolution_and_writes_in_each_tools_pool(dagbag) -> None:
    dag = dagbag.dags["sync_deals_to_projects"]
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert {a.name for a in dag.timetable.asset_condition.objects} == {"staging.project_links"}
    for tool in ("trello", "asana"):
        apply = dag.get_task(f"apply_projects_{tool}")
        assert apply.pool == f"{tool}_api" and apply.upstream_task_ids == {"link_existing_projects"}
    assert dag.get_task("link_existing_projects").upstream_task_ids == {"plan_projects"}


def test_a_dry_run_plans_then_an_apply_run_makes_each_project_once(sync_dag, staged_conn, sandbox) -> None:
    trello = sandbox.vendors["trello"].control
    boards = len(trello.records("boards"))
    dry = sync_dag("plan").test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS))
    assert set(states(dry).values()) == {"success"} and len(states(dry)) == 2 + len(PROJECT_TOOLS)
    wanted = expected_deals(staged_conn)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.plan_items WHERE operation = 'create'") == [(len(wanted),)]
    assert len(trello.records("boards")) == boards and tuples(staged_conn, "SELECT count(*) FROM sync.writes") == [(0,)]

    for day in (2, 3):  # a second apply run (a UI rerun, a new staging run) adds nothing
        run = sync_dag("apply").test(logical_date=datetime(2026, 3, day, tzinfo=PARIS))
        assert set(states(run).values()) == {"success"}
    assert boards_by_deal(trello) == Counter({deal_id: 1 for deal_id in wanted})
    runs = tuples(staged_conn, "SELECT DISTINCT run_id FROM sync.writes WHERE operation = 'create_project'")
    assert len(runs) == 1 and runs[0][0].startswith("manual__")


def test_delivery_dag_writes_the_figures_once_then_nothing(sync_dag, staged_conn, sandbox) -> None:
    dag = sync_dag("apply", "sync_delivery_to_crm")
    assert {a.name for a in dag.timetable.asset_condition.objects} == {"staging.project_links", "marts.invoices"}
    first = dag.test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS))
    assert states(first) == {"build_deal_delivery": "success", "plan_crm_updates": "success",
                             **{f"apply_crm_updates_{crm}": "success" for crm in CRM_WRITERS}}
    delivered = tuples(staged_conn, "SELECT count(*) FROM marts.deal_delivery WHERE crm_system = 'hubspot'")[0][0]
    written = [d for d in sandbox.vendors["hubspot"].control.records("deals")
               if (d.get("properties") or {}).get("passerelle_hours_billable") not in (None, "")]
    assert delivered > 0 and len(written) == delivered
    sync_dag("apply", "sync_delivery_to_crm").test(logical_date=datetime(2026, 3, 2, tzinfo=PARIS))
    calls = tuples(staged_conn, "SELECT count(DISTINCT run_id) FROM sync.writes WHERE operation = 'update_deals'")
    assert calls == [(1,)]  # the second run found nothing changed
