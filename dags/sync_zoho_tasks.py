"""Two-way sync DAG (Airflow): Zoho CRM tasks ↔ Zoho Projects tasks."""

from passerelle.orchestration.sync_tasks_dag import build_zoho_tasks_dag

sync_zoho_tasks = build_zoho_tasks_dag()
