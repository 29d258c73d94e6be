"""The staging SQL models: which file builds which table, in which order, and how to run them.

In Airflow each model is a ``SQLExecuteQueryOperator`` task whose ``sql`` is the file path relative
to ``include/sql`` (the DAG's ``template_searchpath``). Tests, the demo and the benchmark run the very
same files through :func:`run_model`, rendered with the same Jinja search path, so there is one
definition of every transform.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import jinja2

from passerelle.paths import SQL_DIR

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Model:
    """A staging table and its SQL file.

    ``raw_streams`` are the streams whose records become the table's rows (the row-count sanity
    check compares against them); lookups into other streams (lists, custom fields...) are not listed.
    """

    name: str
    table: str
    upstream: tuple[str, ...] = field(default=())
    raw_streams: tuple[tuple[str, str], ...] = field(default=())

    @property
    def sql_path(self) -> str:
        """Path of the model's SQL file relative to ``include/sql`` (what the SQL operator receives)."""
        schema, _, name = self.table.partition(".")
        return f"{schema}/{name}.sql"


# Run before the models: planner statistics for raw.records (see the file).
ANALYZE_RAW = "raw/analyze.sql"
STAGING_MODELS: tuple[Model, ...] = (
    Model("customers", "staging.customers", raw_streams=(("salesforce", "Account"), ("hubspot", "companies"))),
    Model("contacts", "staging.contacts", raw_streams=(("salesforce", "Contact"), ("hubspot", "contacts"))),
    Model("people", "staging.people", raw_streams=(
        ("salesforce", "User"), ("hubspot", "owners"), ("trello", "members"), ("asana", "users"),
        ("jira", "users"), ("monday", "users"),
    )),
    Model("products", "staging.products", raw_streams=(("salesforce", "Product2"), ("hubspot", "products"))),
    Model("deals", "staging.deals", raw_streams=(("salesforce", "Opportunity"), ("hubspot", "deals"))),
    Model("deal_lines", "staging.deal_lines", raw_streams=(
        ("salesforce", "OpportunityLineItem"), ("hubspot", "line_items"), ("hubspot", "deals"),
    )),
    Model("projects", "staging.projects", raw_streams=(
        ("trello", "boards"), ("asana", "projects"), ("jira", "projects"), ("monday", "boards"),
    )),
    Model("tasks", "staging.tasks", raw_streams=(
        ("trello", "cards"), ("asana", "tasks"), ("jira", "issues"), ("monday", "items"),
    )),
    Model("milestones", "staging.milestones", raw_streams=(
        ("trello", "cards"), ("asana", "tasks"), ("jira", "versions"), ("monday", "items"),
    )),
    Model("time_entries", "staging.time_entries", raw_streams=(
        ("trello", "cards"), ("asana", "time_entries"), ("jira", "worklogs"), ("monday", "time_tracking"),
    )),
)
MODELS_BY_NAME = {model.name: model for model in STAGING_MODELS}


def template_env() -> jinja2.Environment:
    """The Jinja environment Airflow gives SQL templates: search path ``include/sql``, strict undefined."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )


def render(sql_path: str, **params: Any) -> str:
    return template_env().get_template(sql_path).render(params=params)


def run_sql_file(conn: Any, sql_path: str, **params: Any) -> float:
    """Render and execute one SQL file in one transaction (committed); returns seconds taken."""
    statement = render(sql_path, **params)
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return time.monotonic() - started


def run_model(conn: Any, name: str) -> float:
    model = MODELS_BY_NAME[name]
    seconds = run_sql_file(conn, model.sql_path)
    logger.info("%s rebuilt in %.2fs", model.table, seconds)
    return seconds


def run_staging(conn: Any, names: list[str] | None = None) -> dict[str, float]:
    """Refresh raw statistics, then rebuild the named staging models (all by default) in order; seconds per step."""
    wanted = [model.name for model in STAGING_MODELS if names is None or model.name in names]
    seconds = {"analyze_raw": run_sql_file(conn, ANALYZE_RAW)}
    seconds.update({name: run_model(conn, name) for name in wanted})
    return seconds

# Identity resolution runs after the staging tables it reads are validated (see transform_dag).
# One file, one transaction: it rebuilds staging.project_links and staging.identity_exceptions together.
IDENTITY_FILES: tuple[str, ...] = ("identity/project_identity.sql",)
