"""Two-way sync state: the links between CRM and project-tool objects, the plans, and every write made.

``sync.links`` pairs a CRM object with the project-tool object made or found for it (one row per pair and
kind). Its ``idem_key`` is unique and is written before any vendor call, so two runs, a retry or a rerun
after a crash can never make a second project for the same deal: a run that finds the link pending looks
the key up at the vendor (where the sync stamped it) before it creates anything.
``sync.plan_items`` holds what each run decided (create, skip, conflict) with its reason; a dry run stops
there. ``sync.writes`` is the audit: one row per vendor call the apply step made, never updated, with the
request, the vendor's answer and the Airflow run id. ``sync.conflicts`` records both values and the winner
whenever both sides changed a field; ``sync.field_state`` the last value written to each CRM field, so a
value is written again only when it changes. ``marts.deal_delivery`` is what flows back to the CRM: per won
deal delivered in a project tool, its progress, hours, amounts invoiced and paid and next milestone.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements, literal

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels = None
depends_on = None

SCHEMA_COMMENT = "Two-way sync between the CRMs and the project tools: links, plans, conflicts and the write audit."

TABLES = [
    Table("sync.links", "One CRM object paired with one project-tool object (deal and project, task and task).", [
        Column("link_id", "bigserial PRIMARY KEY", "Surrogate key."),
        Column("link_kind", "text NOT NULL", "deal_project, task_task or request_task."),
        Column("crm_system", "text NOT NULL", "CRM source (hubspot, salesforce, ...)."),
        Column("crm_object", "text NOT NULL", "CRM object type (deal, task, ticket)."),
        Column("crm_id", "text NOT NULL", "The object's id in the CRM."),
        Column("pm_system", "text NOT NULL", "Project tool the object lives in (trello, asana, ...)."),
        Column("pm_object", "text NOT NULL", "Project-tool object type (board, project, task)."),
        Column("pm_id", "text", "The object's id in the project tool; NULL until its creation is confirmed."),
        Column("pm_url", "text", "Where a person opens it."),
        Column("idem_key", "text NOT NULL UNIQUE", "Key stamped on the vendor object and written before any call, "
                                                   "so a second create is impossible (looked up before creating)."),
        Column("state", "text NOT NULL", "pending_create (recorded, vendor outcome not yet known), active, unknown "
                                         "(several vendor objects carry the key: a person decides), orphaned."),
        Column("template_ref", "text", "Template the project was made from, if any."),
        Column("pending_ref", "text", "Vendor job still making the object (an Asana template instantiation): the "
                                      "next run polls it instead of starting another."),
        Column("created_at", "timestamptz NOT NULL DEFAULT now()", "When the link was recorded."),
        Column("updated_at", "timestamptz NOT NULL DEFAULT now()", "Last change of state."),
    ], constraints=("UNIQUE (crm_system, crm_object, crm_id, link_kind)",
                    "CONSTRAINT links_state_known CHECK (state IN ('pending_create', 'active', 'unknown', 'orphaned'))")),
    Table("sync.plan_items", "What a sync run decided for each object, before any write (a dry run stops here).", [
        Column("plan_item_id", "bigserial PRIMARY KEY", "Surrogate key."),
        Column("run_id", "text NOT NULL", "Airflow run that planned it."),
        Column("flow", "text NOT NULL", "deal_to_project, delivery_to_crm, request_to_task or zoho_tasks."),
        Column("operation", "text NOT NULL", "create, update, skip or conflict."),
        Column("crm_system", "text NOT NULL", "CRM source."), Column("crm_id", "text NOT NULL", "CRM object id."),
        Column("pm_system", "text", "Target project tool."),
        Column("idem_key", "text", "Key of the link the operation concerns."),
        Column("reason", "text NOT NULL", "Why: the rule that chose the operation, in words."),
        Column("payload", "jsonb NOT NULL DEFAULT '{}'", "What would be written."),
        Column("outcome", "text", "After apply: done, adopted (found at the vendor by its key), rejected, unknown."),
        Column("planned_at", "timestamptz NOT NULL DEFAULT now()", "When it was planned."),
    ], constraints=("UNIQUE (run_id, flow, crm_system, crm_id)",)),
    Table("sync.writes", "Audit of every vendor call the sync made (append-only).", [
        Column("write_id", "bigserial PRIMARY KEY", "Surrogate key."),
        Column("run_id", "text NOT NULL", "Airflow run that made the call."),
        Column("link_id", "bigint REFERENCES sync.links", "Link the call was for."),
        Column("vendor", "text NOT NULL", "System called."),
        Column("operation", "text NOT NULL", "lookup, create, update, comment, ..."),
        Column("method", "text NOT NULL", "HTTP method."), Column("path", "text NOT NULL", "Path called (no secret)."),
        Column("request", "jsonb", "Body or parameters sent (no secret)."),
        Column("status", "int", "HTTP status answered; NULL when no answer came (timeout, lost connection)."),
        Column("outcome", "text NOT NULL", "succeeded, rejected (the vendor refused, see response) or unknown."),
        Column("response", "jsonb", "The vendor's answer (ids, versions, error body)."),
        Column("vendor_object_id", "text", "Id of the object created or changed."),
        Column("written_at", "timestamptz NOT NULL DEFAULT now()", "When the call returned."),
    ]),
    Table("sync.field_state", "Per CRM object and field, the last value the sync wrote (only a change is written "
                              "again).", [
        Column("crm_system", "text NOT NULL", "CRM source."), Column("crm_object", "text NOT NULL", "Object type."),
        Column("crm_id", "text NOT NULL", "Object id in the CRM."), Column("field", "text NOT NULL", "CRM field."),
        Column("synced_value", "text", "Value last written, as the CRM stores it ('' = cleared)."),
        Column("run_id", "text NOT NULL", "Airflow run that wrote it."),
        Column("synced_at", "timestamptz NOT NULL DEFAULT now()", "When it was written."),
    ], constraints=("PRIMARY KEY (crm_system, crm_object, crm_id, field)",)),
    Table("marts.deal_delivery", "Per won deal delivered in a project tool: progress, hours, amounts billed and paid, "
                                 "next milestone (what the sync writes back to the CRM; rebuilt each run).", [
        Column("deal_key", "text PRIMARY KEY", "Deal (staging.deals)."),
        Column("crm_system", "text NOT NULL", "CRM of the deal."), Column("crm_id", "text NOT NULL", "Deal id there."),
        Column("currency", "char(3)", "Currency of the deal and of the amounts."),
        Column("projects", "text NOT NULL", "Projects delivering the deal (tool and name)."),
        Column("project_url", "text", "Where the project made by the sync opens, if it made one."),
        Column("tasks_total", "int NOT NULL", "Tasks of those projects."),
        Column("tasks_done", "int NOT NULL", "Tasks done."),
        Column("percent_done", "int", "Tasks done in percent, rounded; NULL without tasks."),
        Column("hours_billable", "numeric(12,2) NOT NULL", "Hours logged and billable."),
        Column("hours_non_billable", "numeric(12,2) NOT NULL", "Hours logged and not billable (or not said)."),
        Column("amount_to_invoice", "numeric(18,2) NOT NULL", "Net amount billable and not yet invoiced."),
        Column("amount_invoiced", "numeric(18,2) NOT NULL", "Net amount invoiced (credited items excluded)."),
        Column("amount_paid", "numeric(18,2) NOT NULL", "Net amount invoiced and paid: each invoice's share of the "
                                                        "deal times the part of the invoice paid."),
        Column("next_milestone", "text", "Next open milestone (earliest due date)."),
        Column("next_milestone_date", "date", "Its due date."),
    ]),
    Table("sync.conflicts", "Fields both sides changed since the last sync, with both values and the winner.", [
        Column("conflict_id", "bigserial PRIMARY KEY", "Surrogate key."),
        Column("run_id", "text NOT NULL", "Airflow run that found it."),
        Column("link_id", "bigint REFERENCES sync.links", "Link concerned."),
        Column("field", "text NOT NULL", "Mapped field."),
        Column("crm_value", "jsonb", "Value in the CRM."), Column("pm_value", "jsonb", "Value in the project tool."),
        Column("rule", "text NOT NULL", "Rule that decided (owner, last_writer, strict_project_dates, ...)."),
        Column("winner", "text", "crm, pm or none (parked for a person)."),
        Column("detected_at", "timestamptz NOT NULL DEFAULT now()", "When it was found."),
    ]),
]


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS sync")
    bind.exec_driver_sql(f"COMMENT ON SCHEMA sync IS {literal(SCHEMA_COMMENT)}")
    for table in TABLES:
        for statement in create_statements(table):
            bind.exec_driver_sql(statement)
    bind.exec_driver_sql("GRANT SELECT ON marts.deal_delivery TO passerelle_bi")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
