"""Two-way sync DAGs (Airflow): won deals become projects exactly once; delivery flows back to the CRM."""

from passerelle.orchestration.sync_dag import build_delivery_dag, build_sync_dag

sync_deals_to_projects = build_sync_dag()
sync_delivery_to_crm = build_delivery_dag()
