"""Every DAG imports cleanly and follows the project's operating rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passerelle.connectors.registry import SOURCES

POOLS = json.loads((Path(__file__).resolve().parents[2] / "pools.json").read_text())


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert {f"extract_{name}" for name in SOURCES} <= set(dagbag.dags)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_extract_dag_policy(dagbag, source: str) -> None:
    dag = dagbag.dags[f"extract_{source}"]
    spec = SOURCES[source]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {"extract", source} <= set(dag.tags) and dag.doc_md
    assert {t.task_id for t in dag.tasks} == {f"extract_{s.name}" for s in spec.streams}
    for task in dag.tasks:
        assert task.owner == "passerelle"
        assert task.retries >= 2 and task.retry_exponential_backoff == 2.0
        assert task.pool == spec.pool and task.pool in POOLS
        assert [a.name for a in task.outlets] == [f"raw.{source}.{task.task_id.removeprefix('extract_')}"]
        assert task.retry_policy is not None


def test_transform_dag_is_scheduled_on_every_raw_asset_and_wired_from_the_declared_upstreams(dagbag) -> None:
    from passerelle.paths import SQL_DIR
    from passerelle.transform.models import MODELS, MODELS_BY_NAME

    dag = dagbag.dags["transform_staging"]
    raw = {f"raw.{source.name}.{stream.name}" for source in SOURCES.values() for stream in source.streams}
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert {asset.name for asset in dag.timetable.asset_condition.objects} == raw  # any of them triggers
    assert dag.max_active_runs == 1 and dag.catchup is False and str(SQL_DIR) in dag.template_searchpath

    validation = {model.name: f"validate_{model.table.removeprefix('staging.')}" for model in MODELS}
    built = {"analyze_raw"}
    for model in MODELS:
        build = dag.get_task(f"{'build' if model.layer == 'staging' else 'resolve'}_{model.name}")
        validate = dag.get_task(validation[model.name])
        built |= {build.task_id, validate.task_id}
        # the DagBag already resolved the template file named by the task into its text
        assert type(build).__name__ == "WarehouseSQLOperator" and build.conn_id == "passerelle_warehouse"
        assert build.sql == (SQL_DIR / model.sql_path).read_text()
        parents = {validation[name] for name in model.upstream}
        if model.layer == "staging":  # builds read raw only: all in parallel once raw is analysed
            assert build.upstream_task_ids == {"analyze_raw"}
            assert validate.upstream_task_ids == {build.task_id} | parents
        else:  # later layers read the validated tables of their upstreams
            assert build.upstream_task_ids == parents and validate.upstream_task_ids == {build.task_id}
        assert [asset.name for asset in validate.outlets] == [model.table]
        assert validate.retry_policy is not None
    assert {task.task_id for task in dag.tasks} == built  # nothing outside the declared models

    # a child is validated after its parents (their quarantine decides what is an orphan)...
    assert "validate_customers" in dag.get_task("validate_deals").upstream_task_ids
    assert {"validate_deals", "validate_products"} <= dag.get_task("validate_deal_lines").upstream_task_ids
    assert "validate_tasks" in dag.get_task("validate_time_entries").upstream_task_ids
    assert dag.get_task("resolve_project_identity").upstream_task_ids == {
        "validate_customers", "validate_deals", "validate_projects"}
    # ...and independent tables are validated independently
    assert "validate_products" not in dag.get_task("validate_time_entries").get_flat_relative_ids(upstream=True)
    assert "validate_projects" not in dag.get_task("validate_deal_lines").get_flat_relative_ids(upstream=True)
    assert MODELS_BY_NAME["project_identity"].table == "staging.project_links"
    assert [a.name for a in dag.get_task("validate_project_links").outlets] == ["staging.project_links"]


def test_transform_dag_reads_in_task_groups_by_step(dagbag) -> None:
    dag = dagbag.dags["transform_staging"]
    groups: dict[str, set[str]] = {}
    for task in dag.tasks:
        groups.setdefault(task.task_group.group_id, set()).add(task.task_id)
    assert set(groups) == {"raw", "staging_build", "staging_validation", "identity"}
    assert groups["raw"] == {"analyze_raw"}
    assert all(task_id.startswith("build_") for task_id in groups["staging_build"])
    assert all(task_id.startswith("validate_") for task_id in groups["staging_validation"])
    assert groups["identity"] == {"resolve_project_identity", "validate_project_links",
                                  "resolve_ledger_customer_identity", "validate_ledger_customer_links"}
