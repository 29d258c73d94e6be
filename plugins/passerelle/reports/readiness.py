"""Rebuild ``marts.customer_readiness`` from staging and the quarantine (run after validation)."""

from __future__ import annotations

import logging
from typing import Any

from passerelle.transform.models import run_sql_file

logger = logging.getLogger(__name__)

# Path relative to include/sql, as the SQL operator of a DAG receives it.
READINESS_SQL = "reports/customer_readiness.sql"


def rebuild_customer_readiness(conn: Any) -> float:
    """Rebuild the table in one committed transaction; returns seconds taken."""
    seconds = run_sql_file(conn, READINESS_SQL)
    logger.info("marts.customer_readiness rebuilt in %.2fs", seconds)
    return seconds
