"""Credit note DAG (Airflow): a user credits an invoice in full or in part from the trigger form."""

from passerelle.orchestration.credit_note_dag import build_credit_note_dag

credit_note = build_credit_note_dag()
