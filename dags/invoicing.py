"""Invoicing DAG (Airflow): monthly billing periods → numbered, validated EN 16931 invoices and Factur-X PDFs."""

from passerelle.orchestration.invoicing_dag import build_invoicing_dag

invoicing = build_invoicing_dag()
