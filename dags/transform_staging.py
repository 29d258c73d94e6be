"""Staging transform DAG (Airflow): raw → staging SQL models, Great Expectations checks, identity resolution."""

from passerelle.orchestration.transform_dag import build_transform_dag

transform_staging = build_transform_dag()
