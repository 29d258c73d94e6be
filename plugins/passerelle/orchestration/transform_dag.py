"""The staging transform DAG: raw → staging SQL models, Great Expectations validation, identity resolution.

Scheduled on the raw Assets every extract task publishes (any of them), so new raw data is modelled
as soon as it lands; ``max_active_runs=1`` queues the runs a busy morning of extracts triggers. Each
model is one ``SQLExecuteQueryOperator`` task running its file from ``include/sql`` in one
transaction; each table is then validated by its own task. Task groups follow the steps (raw,
staging build, staging validation, identity) and every dependency comes from the upstreams the models
declare (``passerelle.transform.models``): the staging builds run in parallel, a table is validated
once the tables it refers to are, and a critical failure shows as a red task that stops what depends
on it (its Asset is not published) while unrelated validations carry on. The staging models are
incremental: they rebuild only the records of new loads; trigger with ``{"full_refresh": true}`` (or set
``PASSERELLE_FULL_REFRESH``) to rebuild them from all of raw.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import (
    DAG,
    Asset,
    AssetAny,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    TaskGroup,
    get_current_context,
    task,
)

from passerelle.connectors.registry import SOURCES
from passerelle.orchestration.extract_dags import WAREHOUSE_CONN_ID, raw_asset, warehouse_connection
from passerelle.paths import SQL_DIR
from passerelle.settings import settings
from passerelle.transform.models import ANALYZE_RAW, MODELS, Model

DAG_ID = "transform_staging"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

# A critical expectation failure is about the data, not the infrastructure: retrying cannot fix it.
VALIDATION_RETRY_POLICY = ExceptionRetryPolicy(
    rules=[RetryRule(exception="passerelle.quality.errors.CriticalValidationError", action=RetryAction.FAIL,
                     reason="critical data-quality failure")]
)


def staging_asset(table: str) -> Asset:
    """The Asset a validated staging table publishes; invoicing and reporting schedule on these."""
    schema, _, name = table.partition(".")
    return Asset(name=table, uri=f"passerelle://warehouse/{schema}/{name}", group="staging")


def validate_task(table: str) -> dict[str, Any]:
    """Task body: validate one staging table, quarantine its bad rows, fail on critical findings."""
    from passerelle.quality.validate import validate_table

    context = get_current_context()
    interval_end = context.get("data_interval_end")
    conn = warehouse_connection()
    try:
        outcome = validate_table(conn, table, run_id=context["run_id"],
                                 as_of=interval_end.date() if interval_end else None)
    finally:
        conn.close()
    summary = {
        "rows": outcome.row_count, "quarantined": outcome.quarantined, "released": outcome.released,
        "warnings": len(outcome.warnings), "success": outcome.success, "data_docs": outcome.data_docs,
    }
    context["outlet_events"][staging_asset(table)].extra = summary
    return summary


class WarehouseSQLOperator(SQLExecuteQueryOperator):
    """A ``SQLExecuteQueryOperator`` on the warehouse the loaders write to: ``WAREHOUSE_URL`` when set,
    else the Airflow Connection (``conn_id`` alone would always be the Connection)."""

    def get_db_hook(self) -> Any:
        from passerelle.warehouse.task_connection import warehouse_hook

        return warehouse_hook()


def sql_task(task_id: str, path: str, doc: str, autocommit: bool = False) -> SQLExecuteQueryOperator:
    """One SQL file of ``include/sql`` run against the warehouse as one transaction (unless ``autocommit``)."""
    return WarehouseSQLOperator(
        task_id=task_id, conn_id=WAREHOUSE_CONN_ID, sql=path, autocommit=autocommit, split_statements=False,
        return_last=False, handler=None, do_xcom_push=False, doc_md=doc,
    )


def validation_task(table: str, task_id: str, doc: str) -> Any:
    """The validation of ``table``, publishing its Asset; critical findings are not retried."""
    return task(validate_task, task_id=task_id, outlets=[staging_asset(table)],
                retry_policy=VALIDATION_RETRY_POLICY, doc_md=doc)(table)


def validation_task_id(table: str) -> str:
    """``staging.deals`` → ``validate_deals``."""
    return f"validate_{table.partition('.')[2]}"


def build_task_id(model: Model) -> str:
    """``build_<model>`` for a staging model, ``resolve_<model>`` for identity resolution."""
    return f"{'resolve' if model.layer == 'identity' else 'build'}_{model.name}"


def model_tasks(raw_ready: SQLExecuteQueryOperator) -> None:
    """A build and a validation task per model, in a task group per step, wired from the declared upstreams.

    A staging build reads raw only, so it follows ``raw_ready``; a later layer's build reads its
    upstream tables, so it follows their validation. A validation follows its table's build and the
    validation of every upstream its suite refers to: a failed suite stops exactly what depends on it.
    """
    groups = {
        ("staging", "build"): TaskGroup("staging_build", prefix_group_id=False, tooltip="Rebuild staging from raw"),
        ("staging", "validate"): TaskGroup("staging_validation", prefix_group_id=False,
                                           tooltip="Great Expectations suites and quarantine, parents first"),
    }
    identity = TaskGroup("identity", prefix_group_id=False, tooltip="Projects ↔ CRM customers/deals; books' customers ↔ CRM customers")
    groups[("identity", "build")] = groups[("identity", "validate")] = identity
    validations: dict[str, Any] = {}
    for model in MODELS:  # upstreams first, so their validation tasks exist
        upstream_validations = [validations[name] for name in model.upstream]
        with groups[(model.layer, "build")]:
            build = sql_task(build_task_id(model), model.sql_path,
                             f"Rebuild `{model.table}` (`include/sql/{model.sql_path}`).")
        with groups[(model.layer, "validate")]:
            validate = validation_task(model.table, validation_task_id(model.table),
                                       f"Great Expectations suite of `{model.table}`.")
        if model.layer == "staging":
            build.set_upstream(raw_ready)
            validate.set_upstream(upstream_validations)  # parents are validated (and quarantined) first
        else:
            build.set_upstream(upstream_validations)
        validate.set_upstream(build)
        validations[model.name] = validate


def build_transform_dag() -> DAG:
    raw_assets = [raw_asset(source.name, stream.name) for source in SOURCES.values() for stream in source.streams]
    models = "\n".join(f"- `{model.table}` ← `include/sql/{model.sql_path}`"
                       + (f" (after {', '.join(model.upstream)})" if model.upstream else "") for model in MODELS)
    with DAG(
        dag_id=DAG_ID,
        description="Raw → staging models, Great Expectations validation with quarantine, identity resolution",
        doc_md=f"# Staging transform\n\n{__doc__}\n\nModels:\n{models}\n\n"
        "Quarantined rows: `quality.quarantine`; results: `quality.validation_results`.",
        schedule=AssetAny(*raw_assets),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        template_searchpath=[str(SQL_DIR)],
        params={"full_refresh": Param(
            settings().full_refresh, type="boolean", title="Full refresh",
            description="Rebuild the staging models (all incremental) from all of raw instead of "
                        "only the records of the loads they have not processed (default: PASSERELLE_FULL_REFRESH).")},
        tags=["transform", "staging", "quality"],
        default_args={
            "owner": "passerelle",
            "retries": 2,
            "retry_delay": timedelta(seconds=30),
            "retry_exponential_backoff": 2.0,
            "execution_timeout": timedelta(hours=1),
        },
    ) as dag:
        with TaskGroup("raw", prefix_group_id=False, tooltip="Planner statistics for raw.records"):
            analyze = sql_task("analyze_raw", ANALYZE_RAW, "Fresh planner statistics for raw.records before the "
                               "models read it.", autocommit=True)
        model_tasks(analyze)
    return dag
