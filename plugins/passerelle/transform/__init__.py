"""Raw → staging: SQL models under ``include/sql``, their order, and a runner outside Airflow."""
