"""One incremental extract DAG (Airflow) per source in the connector registry (passerelle.connectors.registry)."""

from passerelle.connectors.registry import SOURCES
from passerelle.orchestration.extract_dags import build_extract_dag

for _source in SOURCES.values():
    globals()[f"extract_{_source.name}"] = build_extract_dag(_source)
