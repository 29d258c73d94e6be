"""The short pipeline the CeleryExecutor test runs: two real extract DAGs and a fan-out of small tasks."""

import time

from airflow.sdk import DAG, task

from passerelle.connectors.registry import SOURCES
from passerelle.orchestration.extract_dags import build_extract_dag

SHORT_PIPELINE_SOURCES = ("folk", "asana")  # folk's pool has one slot, asana's two

for _name in SHORT_PIPELINE_SOURCES:
    globals()[f"extract_{_name}"] = build_extract_dag(SOURCES[_name])


@task
def pause(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


with DAG(dag_id="celery_fan_out", schedule=None, tags=["test"]) as celery_fan_out:
    for _index in range(4):
        pause.override(task_id=f"pause_{_index}")(2)
