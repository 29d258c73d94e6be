"""DAG-run fixtures: every sandbox vendor's Connection and the warehouse's, and a source's extract DAG."""

from __future__ import annotations

from typing import Callable, Iterable

import pytest

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from tests.connectors.helpers import FAST
from tests.dags.crm_dag import CrmDag


@pytest.fixture
def connections(sandbox, warehouse_url, airflow_connections):
    """A ``passerelle_<vendor>`` Connection per sandbox vendor (fast retries) and ``passerelle_warehouse``."""
    conns = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for conn in conns.values():
        conn["extra"].update(FAST)
    airflow_connections({**conns, "passerelle_warehouse": warehouse_connection(warehouse_url)})
    return conns


@pytest.fixture
def crm_dag(dagbag, sandbox, warehouse_conn, connections, fast_retries) -> Callable[[str, Iterable[str]], CrmDag]:
    """``crm_dag(source, streams)``: the source's ``extract_<source>`` DAG, checked to extract ``streams``."""

    def load(source: str, streams: Iterable[str]) -> CrmDag:
        dag = fast_retries(dagbag.dags[f"extract_{source}"])
        assert {task.task_id for task in dag.tasks} >= {f"extract_{s}" for s in streams}
        return CrmDag(source, dag, sandbox, warehouse_conn)

    return load
