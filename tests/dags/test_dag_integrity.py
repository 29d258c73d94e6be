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
