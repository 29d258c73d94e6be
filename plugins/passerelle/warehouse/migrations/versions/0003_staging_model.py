"""The unified staging model, identity resolution, data-quality results, quarantine and the BI role.

Staging tables are rebuilt from raw by the SQL models in ``include/sql/staging`` (see docs/staging.md for
why a transactional rebuild); their keys carry no UNIQUE constraint on purpose, so a duplicate coming
out of a source is caught by the Great Expectations suites and quarantined instead of aborting the build.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements, literal

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

SCHEMAS = {
    "quality": "Data-quality results (Great Expectations), the quarantine and their history.",
    "reference": "Reference data (ISO 3166 countries, ISO 4217 currencies) the staging models look up.",
}

SOURCE = [
    Column("source_system", "text NOT NULL", "System the row comes from: salesforce, hubspot, trello, asana, jira, monday."),
    Column("source_id", "text NOT NULL", "Identifier of the record in its source system (raw.records.record_id)."),
]
UPDATED = Column("source_updated_at", "timestamptz", "Source modification time of the version kept (raw cursor).")


def key(name: str, what: str) -> Column:
    return Column(name, "text NOT NULL", f"Warehouse key of the {what}: '<source_system>:<source_id>'.")


TABLES = [
    Table("reference.countries", "ISO 3166-1 countries with the English and French names CRMs use.", [
        Column("country_code", "char(2) PRIMARY KEY", "ISO 3166-1 alpha-2 code."),
        Column("name_en", "text NOT NULL", "English short name (pycountry)."),
        Column("name_fr", "text", "French name (CLDR, via Babel)."),
        Column("is_eu", "boolean NOT NULL", "Member of the European Union (intra-community VAT rules apply)."),
    ]),
    Table("reference.country_aliases", "Normalised spellings (English, French, official, codes) to ISO 3166 codes.", [
        Column("alias", "text PRIMARY KEY", "Lower-case, accent-free spelling."),
        Column("country_code", "char(2) NOT NULL", "ISO 3166-1 alpha-2 code."),
    ]),
    Table("reference.currencies", "ISO 4217 active currencies.", [
        Column("currency_code", "char(3) PRIMARY KEY", "ISO 4217 alphabetic code."),
        Column("name", "text NOT NULL", "Currency name."),
    ]),
    Table("staging.customers", "Companies and individuals billed, one row per CRM account/company (latest version, deletions removed).", [
        key("customer_key", "customer"), *SOURCE,
        Column("legal_name", "text", "Registered name as kept in the CRM."),
        Column("customer_type", "text", "B2B (French company), B2B_INTL (company outside France) or B2C (individual)."),
        Column("siren", "text", "SIREN (9 digits) of a French company, spaces removed."),
        Column("siret", "text", "SIRET (14 digits) of the billed establishment, spaces removed."),
        Column("vat_number", "text", "Intra-community VAT number, upper case without spaces."),
        Column("email_domain", "text", "The company's web/e-mail domain, lower case, without www."),
        Column("phone", "text", "Main phone number."),
        Column("billing_street", "text", "Billing address: street."),
        Column("billing_city", "text", "Billing address: city."),
        Column("billing_postcode", "text", "Billing address: postcode."),
        Column("billing_country_code", "char(2)", "Billing address: ISO 3166-1 alpha-2 country (NULL if unknown to reference.countries)."),
        Column("billing_country_raw", "text", "Billing country as the CRM spells it."),
        Column("delivery_street", "text", "Delivery address: street."),
        Column("delivery_city", "text", "Delivery address: city."),
        Column("delivery_postcode", "text", "Delivery address: postcode."),
        Column("delivery_country_code", "char(2)", "Delivery address: ISO 3166-1 alpha-2 country."),
        Column("einvoicing_address", "text", "Electronic invoicing address (BT-49), usually the SIREN for French companies."),
        Column("industry", "text", "Industry as the CRM labels it."),
        Column("source_created_at", "timestamptz", "Creation time at the source."),
        UPDATED,
    ]),
    Table("staging.contacts", "People at customers (latest version, deletions removed).", [
        key("contact_key", "contact"), *SOURCE,
        Column("customer_key", "text", "Customer the contact works for (staging.customers)."),
        Column("first_name", "text", "First name."), Column("last_name", "text", "Last name."),
        Column("email", "text", "E-mail address, lower case."), Column("phone", "text", "Phone number."),
        Column("job_title", "text", "Job title."), UPDATED,
    ]),
    Table("staging.people", "Internal people: CRM users/owners and project-tool members (latest version).", [
        key("person_key", "person"), *SOURCE,
        Column("full_name", "text", "Display name."),
        Column("email", "text", "E-mail address, lower case (joins the same person across tools)."),
        Column("is_active", "boolean", "Active account at the source, when the source says."), UPDATED,
    ]),
    Table("staging.products", "Products and services sold (CRM catalogue).", [
        key("product_key", "product"), *SOURCE,
        Column("name", "text", "Product name."), Column("sku", "text", "Product code / SKU."),
        Column("family", "text", "Product family."), Column("unit", "text", "Unit of measure (heure, jour, forfait...)."),
        Column("unit_price", "numeric(18,2)", "List price in the catalogue currency, when the CRM keeps one."),
        Column("vat_rate", "numeric(5,2)", "French VAT rate of the product, in percent."),
        Column("is_active", "boolean", "Sellable."), UPDATED,
    ]),
    Table("staging.deals", "Opportunities/deals with their customer, amount and stage (latest version, deletions removed).", [
        key("deal_key", "deal"), *SOURCE,
        Column("customer_key", "text", "Customer the deal is with (staging.customers)."),
        Column("name", "text", "Deal name."),
        Column("amount", "numeric(18,2)", "Deal amount excluding VAT, in the deal currency."),
        Column("currency", "char(3)", "ISO 4217 currency of the deal."),
        Column("stage", "text", "Stage as named in the CRM."),
        Column("is_closed", "boolean", "The deal is closed (won or lost)."),
        Column("is_won", "boolean", "The deal is won."),
        Column("close_date", "date", "Expected or actual close date."),
        Column("won_date", "date", "Close date of a won deal (NULL otherwise)."),
        Column("owner_person_key", "text", "Sales owner (staging.people)."),
        Column("description", "text", "Free-text description."),
        Column("project_code", "text", "Project code PRJ-YYYY-NNN found in the description, if any."),
        Column("source_created_at", "timestamptz", "Creation time at the source."), UPDATED,
    ]),
    Table("staging.deal_lines", "Deal line items: product, quantity, unit price, discount, VAT rate.", [
        key("deal_line_key", "deal line"), *SOURCE,
        Column("deal_key", "text", "Deal the line belongs to (staging.deals)."),
        Column("product_key", "text", "Product sold (staging.products)."),
        Column("name", "text", "Line label."), Column("description", "text", "Line description."),
        Column("quantity", "numeric(18,4)", "Quantity invoiced."),
        Column("unit_price", "numeric(18,4)", "Unit price excluding VAT, in the deal currency."),
        Column("discount_percent", "numeric(5,2)", "Line discount in percent of quantity × unit price."),
        Column("line_amount", "numeric(18,2)", "Net line amount excluding VAT as the CRM computed it."),
        Column("vat_rate", "numeric(5,2)", "VAT rate in percent (0 for reverse charge / export)."),
        Column("service_date", "date", "Date the service was rendered / goods delivered, when known."),
        UPDATED,
    ]),
    Table("staging.projects", "Delivery projects/boards of the project tools (latest version, deletions removed).", [
        key("project_key", "project"), *SOURCE,
        Column("name", "text", "Project or board name."),
        Column("description", "text", "Project description."),
        Column("crm_system", "text", "CRM named by the project's explicit CRM link (salesforce/hubspot), if any."),
        Column("crm_deal_id", "text", "Deal id at that CRM from the project's explicit link (custom field / property), if any."),
        Column("status", "text", "active, completed or archived."),
        Column("billable", "boolean", "Work on the project is billable by default (NULL: the tool does not say)."),
        Column("start_date", "date", "Start date."), Column("due_date", "date", "Due date."),
        Column("source_created_at", "timestamptz", "Creation time at the source."), UPDATED,
    ]),
    Table("staging.tasks", "Tasks/issues/cards/items of the projects, with status and completion.", [
        key("task_key", "task"), *SOURCE,
        Column("project_key", "text", "Project (staging.projects)."),
        Column("name", "text", "Task title."),
        Column("status", "text", "todo, in_progress or done."),
        Column("completed_at", "timestamptz", "When the task was completed (NULL if not done)."),
        Column("assignee_person_key", "text", "Assignee (staging.people)."),
        Column("due_date", "date", "Due date."), UPDATED,
    ]),
    Table("staging.milestones", "Project milestones (Asana milestones, Jira versions, Trello/monday milestone lists).", [
        key("milestone_key", "milestone"), *SOURCE,
        Column("project_key", "text", "Project (staging.projects)."),
        Column("name", "text", "Milestone name."),
        Column("due_date", "date", "Planned date."),
        Column("completed_at", "timestamptz", "When the milestone was reached (NULL if not yet)."),
        Column("status", "text", "open or done."), UPDATED,
    ]),
    Table("staging.time_entries", "Time spent: person, day, hours, billable flag (latest version, deletions removed).", [
        key("time_entry_key", "time entry"), *SOURCE,
        Column("project_key", "text", "Project the time is booked on (staging.projects)."),
        Column("task_key", "text", "Task the time is booked on, if any (staging.tasks)."),
        Column("person_key", "text", "Who worked (staging.people)."),
        Column("entry_date", "date", "Day worked."),
        Column("hours", "numeric(10,2)", "Duration in hours."),
        Column("billable", "boolean", "Billable to the customer (NULL: the tool does not say)."),
        Column("description", "text", "What was done."), UPDATED,
    ]),
    Table("staging.project_links", "Identity resolution: the CRM customer (and deal) each project maps to, and how.", [
        Column("project_key", "text PRIMARY KEY", "Project (staging.projects)."),
        Column("customer_key", "text", "CRM customer (staging.customers); NULL when an override says the project has no customer."),
        Column("deal_key", "text", "CRM deal (staging.deals), when one can be named."),
        Column("method", "text NOT NULL", "override, explicit_link, siren, siret, vat or name_domain."),
        Column("confidence", "numeric(3,2) NOT NULL", "1.00 for overrides and explicit links, lower for inferred matches."),
        Column("evidence", "text", "What matched (field and value)."),
    ]),
    Table("staging.identity_exceptions", "Projects that could not be mapped to exactly one customer; resolve with staging.identity_overrides.", [
        Column("project_key", "text PRIMARY KEY", "Project (staging.projects)."),
        Column("problem", "text NOT NULL", "unmapped, ambiguous, conflict or dangling_link."),
        Column("candidates", "jsonb NOT NULL DEFAULT '[]'", "Candidate customers: [{customer_key, legal_name, method}]."),
        Column("detail", "text NOT NULL", "Why the project could not be mapped."),
    ]),
    Table("staging.identity_overrides", "Decisions by a person: map a project to a customer/deal (or to none). Never rebuilt.", [
        Column("project_key", "text PRIMARY KEY", "Project (staging.projects)."),
        Column("customer_key", "text", "Customer to use; NULL marks the project as having no customer (internal work)."),
        Column("deal_key", "text", "Deal to use, optional."),
        Column("note", "text", "Why."),
        Column("decided_by", "text NOT NULL DEFAULT current_user", "Who decided."),
        Column("decided_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ]),
    Table("quality.validation_runs", "One row per suite run: which table, when, outcome.", [
        Column("validation_id", "bigserial PRIMARY KEY", "Identifier."),
        Column("run_id", "text NOT NULL", "Airflow run (or CLI run) that validated."),
        Column("suite", "text NOT NULL", "Expectation suite name."),
        Column("table_name", "text NOT NULL", "Table validated."),
        Column("row_count", "bigint NOT NULL", "Rows validated."),
        Column("success", "boolean NOT NULL", "Every expectation passed."),
        Column("critical_failures", "integer NOT NULL", "Failed expectations of severity critical (they fail the task)."),
        Column("warnings", "integer NOT NULL", "Failed expectations of severity warning."),
        Column("quarantined", "integer NOT NULL", "Rows moved to quarantine by this run."),
        Column("released", "integer NOT NULL", "Quarantined rows released by this run (fixed at the source)."),
        Column("data_docs", "text", "Path of the rendered Data Docs page."),
        Column("validated_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ]),
    Table("quality.validation_results", "One row per expectation per suite run.", [
        Column("validation_id", "bigint NOT NULL REFERENCES quality.validation_runs", "Suite run."),
        Column("run_id", "text NOT NULL", "Airflow run (or CLI run)."),
        Column("suite", "text NOT NULL", "Expectation suite name."),
        Column("expectation", "text NOT NULL", "Expectation type, e.g. expect_column_values_to_be_unique."),
        Column("column_name", "text", "Column checked, if any."),
        Column("rule", "text NOT NULL", "Passerelle rule id, e.g. customers.siren_checksum."),
        Column("severity", "text NOT NULL", "quarantine (row-level: failing rows are quarantined), critical (fails the task) or warning."),
        Column("success", "boolean NOT NULL", "Passed."),
        Column("element_count", "bigint", "Rows evaluated."),
        Column("unexpected_count", "bigint", "Rows failing."),
        Column("unexpected_percent", "numeric", "Share of rows failing, percent."),
        Column("sample", "jsonb", "Up to 20 failing values."),
        Column("kwargs", "jsonb", "Expectation arguments."),
    ]),
    Table("quality.quarantine", "Rows held out of staging (and everything downstream) with the rule they broke; released when fixed at the source.", [
        Column("quarantine_id", "bigserial PRIMARY KEY", "Identifier."),
        Column("table_name", "text NOT NULL", "Where the row would have gone, e.g. staging.customers or raw.salesforce.Account."),
        Column("record_key", "text NOT NULL", "Key of the row in that table."),
        *SOURCE,
        Column("rule", "text NOT NULL", "Rule broken, e.g. customers.siren_checksum."),
        Column("reason", "text NOT NULL", "Human-readable reason naming the field and value."),
        Column("row_data", "jsonb NOT NULL", "The row as it was, so nothing is lost."),
        Column("first_run_id", "text NOT NULL", "Run that first quarantined the row for this rule."),
        Column("last_run_id", "text NOT NULL", "Latest run that still found the row failing."),
        Column("quarantined_at", "timestamptz NOT NULL DEFAULT now()", "First quarantined."),
        Column("last_seen_at", "timestamptz NOT NULL DEFAULT now()", "Last found failing."),
        Column("released_at", "timestamptz", "When a run found the row fixed (NULL: still quarantined)."),
        Column("released_run_id", "text", "Run that released it."),
    ]),
]

FUNCTIONS = [
    r"""CREATE FUNCTION reference.normalise(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
        SELECT NULLIF(btrim(regexp_replace(
                 translate(replace(replace(replace(lower(value), 'œ', 'oe'), 'æ', 'ae'), 'ß', 'ss'),
                           'àáâãäåāçćčèéêëēėęìíîïīıñńòóôõöøōùúûüūýÿžźżšśłđ',
                           'aaaaaaaccceeeeeeeiiiiiinnoooooooouuuuuyyzzzsslo'),
                 '[^a-z0-9]+', ' ', 'g')), '')
        $$""",
    "COMMENT ON FUNCTION reference.normalise(text) IS 'Lower-case, accent-free, single-spaced text for name and "
    "country lookups (same result as passerelle.warehouse.ddl.normalise for Latin letters).'",
]

INDEXES = [
    "CREATE UNIQUE INDEX quarantine_open_key ON quality.quarantine (table_name, record_key, rule) WHERE released_at IS NULL",
    "CREATE INDEX validation_results_run_idx ON quality.validation_results (validation_id)",
    "CREATE INDEX validation_runs_suite_idx ON quality.validation_runs (suite, validated_at DESC)",
]

BI_ROLE = "passerelle_bi"
BI_SCHEMAS = ("staging", "marts", "quality", "reference")


def bi_role_statements() -> list[str]:
    """A NOLOGIN group role BI logins join; it reads the modelled schemas, never raw payloads nor audit."""
    grants = [
        f"""DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{BI_ROLE}') THEN CREATE ROLE {BI_ROLE} NOLOGIN; END IF;
            END $$""",
        "REVOKE ALL ON SCHEMA raw, audit FROM PUBLIC",
    ]
    for schema in BI_SCHEMAS:
        grants += [
            f"GRANT USAGE ON SCHEMA {schema} TO {BI_ROLE}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {BI_ROLE}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {BI_ROLE}",
        ]
    return grants


def reference_rows() -> tuple[list[tuple], list[tuple], list[tuple]]:
    import pycountry
    from babel import Locale

    from passerelle.warehouse.ddl import normalise

    french = Locale("fr").territories
    eu = set("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
    countries, aliases = [], {}
    for country in pycountry.countries:
        code = country.alpha_2
        countries.append((code, country.name, french.get(code), code in eu))
        for spelling in (code, country.alpha_3, country.name, getattr(country, "common_name", None),
                         getattr(country, "official_name", None), french.get(code)):
            if spelling:
                aliases.setdefault(normalise(spelling), code)
    currencies = [(currency.alpha_3, currency.name) for currency in pycountry.currencies]
    return countries, sorted(aliases.items()), currencies


def upgrade() -> None:
    bind = op.get_bind()
    statements = []
    for schema, comment in SCHEMAS.items():
        statements += [f"CREATE SCHEMA IF NOT EXISTS {schema}", f"COMMENT ON SCHEMA {schema} IS {literal(comment)}"]
    for table in TABLES:
        statements += create_statements(table)
    for statement in statements + FUNCTIONS + INDEXES:
        bind.exec_driver_sql(statement)
    countries, aliases, currencies = reference_rows()
    bind.exec_driver_sql(
        "INSERT INTO reference.countries VALUES " + ",".join(["(%s,%s,%s,%s)"] * len(countries)),
        tuple(value for row in countries for value in row),
    )
    bind.exec_driver_sql(
        "INSERT INTO reference.country_aliases VALUES " + ",".join(["(%s,%s)"] * len(aliases)),
        tuple(value for row in aliases for value in row),
    )
    bind.exec_driver_sql(
        "INSERT INTO reference.currencies VALUES " + ",".join(["(%s,%s)"] * len(currencies)),
        tuple(value for row in currencies for value in row),
    )
    for statement in bi_role_statements():
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
