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


def test_transform_dag_is_scheduled_on_every_raw_asset_and_validates_in_order(dagbag) -> None:
    from passerelle.paths import SQL_DIR
    from passerelle.transform.models import IDENTITY_FILES, STAGING_MODELS

    dag = dagbag.dags["transform_staging"]
    raw = {f"raw.{source.name}.{stream.name}" for source in SOURCES.values() for stream in source.streams}
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert {asset.name for asset in dag.timetable.asset_condition.objects} == raw  # any of them triggers
    assert dag.max_active_runs == 1 and dag.catchup is False and str(SQL_DIR) in dag.template_searchpath

    for model in STAGING_MODELS:
        build, validate = dag.get_task(f"build_{model.name}"), dag.get_task(f"validate_{model.name}")
        # the DagBag already resolved the template file named by the task into its text
        assert type(build).__name__ == "SQLExecuteQueryOperator" and build.conn_id == "passerelle_warehouse"
        assert build.sql == (SQL_DIR / model.sql_path).read_text()
        assert build.task_id in validate.upstream_task_ids and "analyze_raw" in build.upstream_task_ids
        assert [asset.name for asset in validate.outlets] == [model.table]
        assert validate.retry_policy is not None
    # a child is validated after its parents were (their quarantine decides what is an orphan)
    order = [model.name for model in STAGING_MODELS]
    assert order.index("customers") < order.index("deals") < order.index("deal_lines")
    assert order.index("projects") < order.index("tasks") < order.index("time_entries")
    for parent, child in zip(order, order[1:]):
        assert f"validate_{parent}" in dag.get_task(f"validate_{child}").upstream_task_ids
    resolvers = [dag.get_task(f"resolve_{path.rsplit('/', 1)[-1].removesuffix('.sql')}") for path in IDENTITY_FILES]
    assert f"validate_{order[-1]}" in resolvers[0].upstream_task_ids
    assert resolvers[-1].task_id in dag.get_task("validate_project_links").upstream_task_ids
    assert [a.name for a in dag.get_task("validate_project_links").outlets] == ["staging.project_links"]
