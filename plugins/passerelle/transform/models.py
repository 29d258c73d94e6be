"""The SQL models of the transform: which file builds which table, what each reads, and a runner.

Every model names its ``upstream`` models: the validated tables it reads, in its SQL or in its
expectation suite (an orphan check reads the parent as it stands after the parent's own quarantine).
The order models run and validate in, and the task dependencies of the ``transform_staging`` DAG,
are derived from these declarations alone (:func:`ordered`); an unknown upstream or a cycle stops the
import with :class:`ModelGraphError`.

Layers: ``staging`` models read raw only (their builds all run straight after ``raw/analyze.sql``);
``identity`` models read validated staging tables (their build waits for their upstreams' validation).

In Airflow each model is a ``SQLExecuteQueryOperator`` task whose ``sql`` is :attr:`Model.sql_path`;
tests, the demo and the benchmark run the same files through :func:`run_model` and
:func:`passerelle.warehouse.sql_files.run_sql_file`, so there is one definition of every transform.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any, Literal

from passerelle.settings import settings
from passerelle.warehouse.sql_files import run_sql_file

logger = logging.getLogger(__name__)

Layer = Literal["staging", "identity"]
LAYERS: tuple[Layer, ...] = ("staging", "identity")


class ModelGraphError(ValueError):
    """The model declarations do not form a graph that can run: unknown upstream, duplicate or cycle."""


@dataclass(frozen=True)
class Model:
    """A table, the SQL file that rebuilds it, and the models whose validated tables it reads.

    ``raw_streams`` are the streams whose records become the table's rows (the row-count sanity
    check compares against them); lookups into other streams (lists, custom fields...) are not listed.
    ``sql_file`` defaults to ``<schema>/<table>.sql``.
    """

    name: str
    table: str
    upstream: tuple[str, ...] = field(default=())
    raw_streams: tuple[tuple[str, str], ...] = field(default=())
    layer: Layer = "staging"
    sql_file: str | None = None
    incremental: bool = False  # rebuilds only the records of new loads (see include/sql/macros.sql)

    @property
    def sql_path(self) -> str:
        """Path of the model's SQL file relative to ``include/sql`` (what the SQL operator receives)."""
        if self.sql_file:
            return self.sql_file
        schema, _, name = self.table.partition(".")
        return f"{schema}/{name}.sql"


def ordered(models: Iterable[Model]) -> tuple[Model, ...]:
    """``models`` with every upstream before the models reading it, otherwise in declaration order.

    Raises :class:`ModelGraphError` on a duplicate name, an upstream that is not declared or is in a
    later layer, or a cycle.
    """
    declared = list(models)
    by_name: dict[str, Model] = {}
    for model in declared:
        if model.name in by_name:
            raise ModelGraphError(f"model {model.name!r} is declared twice")
        by_name[model.name] = model
    for model in declared:
        unknown = [name for name in model.upstream if name not in by_name]
        if unknown:
            raise ModelGraphError(f"model {model.name!r} names unknown upstream model(s) {unknown}; "
                                  f"known: {', '.join(by_name)}")
        later = [name for name in model.upstream if LAYERS.index(by_name[name].layer) > LAYERS.index(model.layer)]
        if later:
            raise ModelGraphError(f"{model.layer} model {model.name!r} cannot read {later}: a later layer")
    position = {model.name: number for number, model in enumerate(declared)}
    sorter = TopologicalSorter({model.name: model.upstream for model in declared})
    try:
        sorter.prepare()
    except CycleError as error:
        raise ModelGraphError(f"model upstreams form a cycle: {' -> '.join(error.args[1])}") from error
    result: list[Model] = []
    ready: list[tuple[int, str]] = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, (position[name], name))
        _, name = heapq.heappop(ready)  # the first declared of the models whose upstreams have run
        result.append(by_name[name])
        sorter.done(name)
    return tuple(result)


# Run before the models: planner statistics for raw.records (see the file).
ANALYZE_RAW = "raw/analyze.sql"

MODELS: tuple[Model, ...] = ordered((
    Model("customers", "staging.customers", incremental=True, raw_streams=(
        ("salesforce", "Account"), ("hubspot", "companies"), ("pipedrive", "organizations"),
        ("zoho_crm", "Accounts"), ("bigin", "Accounts"), ("folk", "companies"), ("dynamics", "accounts"),
    )),
    Model("contacts", "staging.contacts", incremental=True, upstream=("customers",), raw_streams=(
        ("salesforce", "Contact"), ("hubspot", "contacts"), ("pipedrive", "persons"),
        ("zoho_crm", "Contacts"), ("bigin", "Contacts"), ("folk", "people"), ("dynamics", "contacts"),
    )),
    Model("people", "staging.people", incremental=True, raw_streams=(
        ("salesforce", "User"), ("hubspot", "owners"), ("pipedrive", "users"),
        ("zoho_crm", "users"), ("bigin", "users"), ("folk", "users"), ("dynamics", "systemusers"),
        ("trello", "members"), ("asana", "users"), ("jira", "users"), ("monday", "users"), ("zoho_projects", "users"),
        ("planner", "users"),
    )),
    Model("products", "staging.products", incremental=True, raw_streams=(
        ("salesforce", "Product2"), ("hubspot", "products"), ("pipedrive", "products"),
        ("zoho_crm", "Products"), ("bigin", "Products"), ("dynamics", "products"), ("quickbooks", "items"),
    )),
    Model("deals", "staging.deals", incremental=True, upstream=("customers", "people"),
          raw_streams=(
        ("salesforce", "Opportunity"), ("hubspot", "deals"), ("pipedrive", "deals"),
        ("zoho_crm", "Deals"), ("bigin", "Pipelines"), ("dynamics", "opportunities"),
    )),
    Model("deal_lines", "staging.deal_lines", incremental=True, upstream=("deals", "products"), raw_streams=(
        ("salesforce", "OpportunityLineItem"), ("hubspot", "line_items"), ("hubspot", "deals"),
        ("pipedrive", "deal_products"), ("zoho_crm", "Quotes"), ("zoho_crm", "Deals"),
        ("dynamics", "opportunityproducts"),
    )),
    Model("projects", "staging.projects", incremental=True, raw_streams=(
        ("trello", "boards"), ("asana", "projects"), ("jira", "projects"), ("jira", "deal_epics"), ("monday", "boards"),
        ("zoho_projects", "projects"), ("planner", "plans"), ("project_for_the_web", "msdyn_projects"),
    )),
    Model("tasks", "staging.tasks", upstream=("projects", "people"), incremental=True, raw_streams=(
        ("trello", "cards"), ("asana", "tasks"), ("jira", "issues"), ("monday", "items"), ("zoho_projects", "tasks"),
        ("planner", "tasks"), ("project_for_the_web", "msdyn_projecttasks"),
    )),
    Model("milestones", "staging.milestones", incremental=True, upstream=("projects",), raw_streams=(
        ("trello", "cards"), ("asana", "tasks"), ("jira", "versions"), ("monday", "items"),
        ("zoho_projects", "milestones"), ("planner", "tasks"), ("project_for_the_web", "msdyn_projecttasks"),
    )),
    Model("time_entries", "staging.time_entries", upstream=("projects", "tasks", "people"), incremental=True,
          raw_streams=(
        ("trello", "cards"), ("asana", "time_entries"), ("jira", "worklogs"), ("monday", "time_tracking"),
        ("zoho_projects", "timelogs"), ("project_for_the_web", "msdyn_timeentries"),
        ("monday", "items"),  # an item's "Heures" numbers column is one entry when no session is tracked
    )),
    # The books (accounting systems): matched to issued invoices by passerelle.payments.matching, never billed.
    Model("ledger_customers", "staging.ledger_customers", incremental=True, raw_streams=(("quickbooks", "customers"),)),
    Model("ledger_invoices", "staging.ledger_invoices", incremental=True, upstream=("ledger_customers",), raw_streams=(
        ("quickbooks", "invoices"), ("quickbooks", "credit_memos"),
    )),
    # One file, one transaction: rebuilds staging.ledger_payments and staging.ledger_payment_applications.
    Model("ledger_payments", "staging.ledger_payments", incremental=True, upstream=("ledger_customers",),
          raw_streams=(("quickbooks", "payments"),)),
    # One file, one transaction: rebuilds staging.project_links and staging.identity_exceptions together.
    Model("project_identity", "staging.project_links", upstream=("customers", "deals", "projects"),
          layer="identity", sql_file="identity/project_identity.sql"),
    # One file, one transaction: rebuilds staging.ledger_customer_links and staging.ledger_customer_exceptions.
    Model("ledger_customer_identity", "staging.ledger_customer_links", upstream=("customers", "ledger_customers"),
          layer="identity", sql_file="identity/ledger_customer_identity.sql"),
))
MODELS_BY_NAME = {model.name: model for model in MODELS}
STAGING_MODELS: tuple[Model, ...] = tuple(model for model in MODELS if model.layer == "staging")
IDENTITY_MODELS: tuple[Model, ...] = tuple(model for model in MODELS if model.layer == "identity")
IDENTITY_FILES: tuple[str, ...] = tuple(model.sql_path for model in IDENTITY_MODELS)


def run_model(conn: Any, name: str, full_refresh: bool | None = None) -> float:
    """Build one model; an incremental one rebuilds only what new loads touched unless ``full_refresh``
    (default: the ``full_refresh`` setting). Returns seconds taken."""
    model = MODELS_BY_NAME[name]
    full = settings().full_refresh if full_refresh is None else full_refresh
    seconds = run_sql_file(conn, model.sql_path, full_refresh=full)
    logger.info("%s %s in %.2fs", model.table, "refreshed" if model.incremental and not full else "rebuilt", seconds)
    return seconds


def run_staging(conn: Any, names: list[str] | None = None, full_refresh: bool | None = None) -> dict[str, float]:
    """Refresh raw statistics, then build the named staging models (all by default) in order; seconds per step."""
    wanted = [model.name for model in STAGING_MODELS if names is None or model.name in names]
    seconds = {"analyze_raw": run_sql_file(conn, ANALYZE_RAW)}
    seconds.update({name: run_model(conn, name, full_refresh) for name in wanted})
    return seconds
