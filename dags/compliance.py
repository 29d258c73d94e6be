"""Compliance DAG (Airflow): readiness, lifecycle statuses, Flux 10 e-reporting and the monthly report."""

from passerelle.orchestration.compliance_dag import build_compliance_dag

compliance = build_compliance_dag()
