"""Least-privilege readers: BI loses staging and raw payloads; project teams get a schema of views of their own.

``passerelle_bi`` keeps ``marts``, ``reference`` and ``billing``; in ``quality`` it reads the validation
runs, the validation results without their row samples, and ``quality.quarantine_entries`` (the quarantine
without ``row_data``). It no longer reads ``staging`` nor ``quality.quarantine``.

``passerelle_projects`` reads only the views in schema ``projects``: projects, tasks, milestones,
time entries (hours, no amounts), people, and customers by name with their contacts. Views run with
their owner's rights, so the role needs no privilege on ``staging``.

Roles are cluster-wide: the migrating user creates ``passerelle_projects`` only if it may create roles.
On the embedded warehouse the superuser has created it before migrations run (as the loader, which may
not); on another server, a user without CREATEROLE gets a one-line error saying what to create.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import literal

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None

BI = "passerelle_bi"
PROJECTS = "passerelle_projects"
PROJECTS_COMMENT = ("Read-only: the projects schema (projects, tasks, time, customer name and contact; "
                    "nothing financial or raw).")

# (name, comment, SELECT) of the views project teams read.
PROJECT_VIEWS = [
    ("projects.projects", "Projects from the project tools, with the customer they were linked to.", """
        SELECT p.project_key, p.source_system, p.name, p.description, p.status, p.start_date, p.due_date,
               l.customer_key
          FROM staging.projects p LEFT JOIN staging.project_links l USING (project_key)"""),
    ("projects.tasks", "Tasks of the projects: status, assignee and due date.", """
        SELECT task_key, source_system, project_key, name, status, completed_at, assignee_person_key, due_date
          FROM staging.tasks"""),
    ("projects.milestones", "Milestones of the projects.", """
        SELECT milestone_key, source_system, project_key, name, due_date, completed_at, status
          FROM staging.milestones"""),
    ("projects.time_entries", "Time spent: hours per person, task and day (no rates, no amounts).", """
        SELECT time_entry_key, source_system, project_key, task_key, person_key, entry_date, hours, billable,
               description
          FROM staging.time_entries"""),
    ("projects.people", "People working on the projects: name and e-mail.", """
        SELECT person_key, full_name, email, is_active FROM staging.people"""),
    ("projects.customers", "Customers by name, with their switchboard phone (no identifiers, no addresses).", """
        SELECT customer_key, legal_name, phone FROM staging.customers"""),
    ("projects.customer_contacts", "Contact people at the customers.", """
        SELECT contact_key, customer_key, first_name, last_name, email, phone, job_title FROM staging.contacts"""),
]

VALIDATION_RESULT_COLUMNS = ("validation_id, run_id, suite, expectation, column_name, rule, severity, success, "
                             "element_count, unexpected_count, unexpected_percent, kwargs")


def role_statement() -> str:
    return f"""DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PROJECTS}') THEN
        IF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
          CREATE ROLE {PROJECTS} NOLOGIN;
          COMMENT ON ROLE {PROJECTS} IS {literal(PROJECTS_COMMENT)};
        ELSE
          RAISE EXCEPTION 'role {PROJECTS} is missing and % may not create roles: have an administrator run '
                          '"CREATE ROLE {PROJECTS} NOLOGIN", then migrate again', current_user;
        END IF;
      END IF;
    END $$"""


def statements() -> list[str]:
    result = [role_statement()]
    # BI: nothing from staging, no raw payloads from quality.
    result += [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA staging FROM {BI}",
        f"REVOKE USAGE ON SCHEMA staging FROM {BI}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA staging REVOKE SELECT ON TABLES FROM {BI}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA quality REVOKE SELECT ON TABLES FROM {BI}",
        f"REVOKE ALL ON quality.quarantine, quality.validation_results FROM {BI}",
        f"GRANT SELECT ({VALIDATION_RESULT_COLUMNS}) ON quality.validation_results TO {BI}",
        """CREATE VIEW quality.quarantine_entries AS
           SELECT quarantine_id, table_name, record_key, source_system, source_id, rule, reason, first_run_id,
                  last_run_id, quarantined_at, last_seen_at, released_at, released_run_id
             FROM quality.quarantine""",
        "COMMENT ON VIEW quality.quarantine_entries IS 'quality.quarantine without row_data (the quarantined "
        "row itself): what BI reads.'",
        f"GRANT SELECT ON quality.quarantine_entries TO {BI}",
        # Tables created later by this role in marts, reference and billing stay readable by BI.
        *(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {BI}"
          for schema in ("marts", "reference", "billing")),
        # Project teams: their own schema of views, nothing else.
        "CREATE SCHEMA projects",
        "COMMENT ON SCHEMA projects IS 'What project teams read (role passerelle_projects): projects, tasks, "
        "time and customer name/contact; nothing financial, no raw payloads.'",
        "REVOKE ALL ON SCHEMA projects FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA projects TO {PROJECTS}",
    ]
    for name, comment, select in PROJECT_VIEWS:
        result += [f"CREATE VIEW {name} AS {select}", f"COMMENT ON VIEW {name} IS {literal(comment)}",
                   f"GRANT SELECT ON {name} TO {PROJECTS}"]
    return result


def upgrade() -> None:
    for statement in statements():
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
