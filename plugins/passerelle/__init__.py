"""Passerelle: CRM and project-tool data to French e-invoices, orchestrated by Airflow."""

__version__ = "0.1.0"
