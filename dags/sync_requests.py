"""Two-way sync DAG (Airflow): customer requests become tasks in their deal's project; a task done closes its
request in the CRM."""

from passerelle.orchestration.sync_requests_dag import build_requests_dag

sync_requests_to_tasks = build_requests_dag()
