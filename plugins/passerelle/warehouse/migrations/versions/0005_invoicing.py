"""Billing configuration, the ledger of invoiced items, and the invoice marts (EN 16931 fields).

``billing`` holds what people decide (rate cards, billing modes and schedules, exchange rates, payments,
platform statuses) and the ledger, which is a legal record: rows are never rebuilt. ``marts`` holds what
runs derive (billable items, exceptions) and what they issue (invoices with lines, VAT breakdown,
allowances/charges, documents and validation findings).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements, literal

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

MONEY = "numeric(18,2)"
BILLING_MODES = ("fixed", "schedule", "milestones", "time_and_materials")


def _modes() -> str:
    return ", ".join(literal(mode) for mode in BILLING_MODES)


TABLES = [
    Table("billing.rate_cards", "Hourly rates for billable time. Precedence: deal, project, the deal's own hourly "
                                "line, person, default; the latest valid_from wins within a scope.", [
        Column("rate_card_id", "bigserial PRIMARY KEY", "Identifier."),
        Column("scope", "text NOT NULL CHECK (scope IN ('deal', 'project', 'person', 'default'))",
               "What the rate applies to."),
        Column("scope_key", "text", "deal_key, project_key or person_key (NULL for the default rate)."),
        Column("hourly_rate", "numeric(18,4) NOT NULL CHECK (hourly_rate >= 0)", "Rate per hour, excluding VAT."),
        Column("currency", "char(3) NOT NULL DEFAULT 'EUR'", "ISO 4217 currency of the rate."),
        Column("vat_rate", "numeric(5,2) NOT NULL DEFAULT 20", "French VAT rate of the service, in percent."),
        Column("item_name", "text NOT NULL DEFAULT 'Prestations au temps passé'", "Invoice line label (BT-153)."),
        Column("valid_from", "date NOT NULL DEFAULT '2000-01-01'", "First day the rate applies to (entry date)."),
        Column("valid_to", "date", "Last day the rate applies to (NULL: open-ended)."),
        Column("note", "text", "Why."),
    ], constraints=("CHECK ((scope = 'default') = (scope_key IS NULL))",)),
    Table("billing.deal_terms", "How a won deal is billed, when the CRM text does not say it right.", [
        Column("deal_key", "text PRIMARY KEY", "Deal (staging.deals)."),
        Column("billing_mode", f"text NOT NULL CHECK (billing_mode IN ({_modes()}))",
               "fixed (all lines once won), schedule (billing.billing_schedules), milestones (share per completed "
               "milestone of the deal's projects) or time_and_materials (billable time, lines not billed)."),
        Column("note", "text", "Why."),
    ]),
    Table("billing.billing_schedules", "Instalments of a deal billed on a schedule: percent of every line on a date.", [
        Column("deal_key", "text NOT NULL", "Deal (staging.deals)."),
        Column("instalment", "integer NOT NULL", "1, 2, 3..."),
        Column("bill_on", "date NOT NULL", "Day the instalment becomes billable."),
        Column("percent", "numeric(5,2) NOT NULL CHECK (percent > 0 AND percent <= 100)", "Share of the deal."),
    ], constraints=("PRIMARY KEY (deal_key, instalment)",)),
    Table("billing.exchange_rates", "EUR value of one unit of a currency on a day (BT-111 needs the VAT total in EUR).", [
        Column("currency", "char(3) NOT NULL", "ISO 4217 currency."),
        Column("rate_date", "date NOT NULL", "Day of the rate; an invoice uses the latest rate on or before its issue date."),
        Column("eur_per_unit", "numeric(18,6) NOT NULL CHECK (eur_per_unit > 0)", "EUR for one unit."),
        Column("source", "text", "Where the rate comes from (e.g. ECB reference rate)."),
    ], constraints=("PRIMARY KEY (currency, rate_date)",)),
    Table("billing.payments", "Money received against issued invoices (from the bank or the books).", [
        Column("payment_id", "bigserial PRIMARY KEY", "Identifier."),
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoice_numbers", "Invoice paid (BT-1)."),
        Column("paid_on", "date NOT NULL", "Day the money was received."),
        Column("amount", f"{MONEY} NOT NULL CHECK (amount > 0)", "Amount received, VAT included, invoice currency."),
        Column("reference", "text", "Bank reference."),
        Column("recorded_at", "timestamptz NOT NULL DEFAULT now()", "When recorded."),
    ]),
    Table("billing.lifecycle_events", "Invoice lifecycle statuses (CDAR): set by the platform (200, 213), the buyer "
                                      "(210) or Passerelle from payments (212).", [
        Column("event_id", "bigserial PRIMARY KEY", "Identifier."),
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoice_numbers", "Invoice (BT-1)."),
        Column("status_code", "integer NOT NULL", "200 Déposée, 210 Refusée, 212 Encaissée, 213 Rejetée..."),
        Column("event_at", "timestamptz NOT NULL", "When the status was reached."),
        Column("reason_code", "text", "CDAR reason (required for 210/213, BR-FR-CDV-15)."),
        Column("reason", "text", "Reason text."),
        Column("source", "text NOT NULL", "platform, buyer or payments."),
        Column("payment_id", "bigint REFERENCES billing.payments", "Payment behind a 212 status."),
    ]),
    Table("billing.invoiced_items", "Ledger: each billable item is invoiced once. Never rebuilt; a credit note "
                                    "marks its items credited so they can be billed again, corrected.", [
        Column("item_key", "text NOT NULL", "Billable item (marts.billable_items.item_key)."),
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoice_numbers", "Invoice that billed it (BT-1)."),
        Column("line_id", "text NOT NULL", "Invoice line carrying it (BT-126)."),
        Column("source_key", "text NOT NULL", "Deal line or time entry behind the item."),
        Column("amount", f"{MONEY} NOT NULL", "Net amount billed for the item, invoice currency."),
        Column("invoiced_at", "timestamptz NOT NULL DEFAULT now()", "When."),
        Column("run_id", "text NOT NULL", "Run that issued the invoice."),
        Column("credited_by", "text REFERENCES marts.invoice_numbers", "Credit note that cancelled it (NULL: still billed)."),
    ]),
    Table("marts.billable_items", "What can be invoiced at the end of the last billing period run, net of what the "
                                  "ledger already billed (rebuilt each run).", [
        Column("item_key", "text PRIMARY KEY", "deal_line:<key>@<cumulative share> or time:<time entry key>."),
        Column("item_kind", "text NOT NULL", "deal_line or time."),
        Column("source_key", "text NOT NULL", "Deal line or time entry."),
        Column("customer_key", "text NOT NULL", "Customer billed (staging.customers)."),
        Column("deal_key", "text", "Deal, when there is one."),
        Column("project_key", "text", "Project, for time."),
        Column("person_key", "text", "Who worked, for time."),
        Column("billing_mode", "text NOT NULL", "fixed, schedule, milestones or time_and_materials."),
        Column("billable_on", "date NOT NULL", "Day the item became billable (won, instalment, milestone, work day)."),
        Column("item_name", "text NOT NULL", "Line label."),
        Column("description", "text", "Line description."),
        Column("product_key", "text", "Product (staging.products)."),
        Column("is_goods", "boolean NOT NULL", "Goods (true) or services."),
        Column("unit_code", "text NOT NULL", "UN/ECE Rec. 20 unit (HUR, DAY, C62, LS)."),
        Column("quantity", "numeric(18,4) NOT NULL", "Quantity billed (share of the line for instalments)."),
        Column("unit_price", "numeric(18,4) NOT NULL", "Net unit price before the line discount."),
        Column("discount_percent", "numeric(5,2) NOT NULL DEFAULT 0", "Line discount."),
        Column("amount", f"{MONEY} NOT NULL", "Net amount to bill now."),
        Column("currency", "char(3) NOT NULL", "Currency."),
        Column("vat_rate", "numeric(5,2) NOT NULL", "French VAT rate of the product or service."),
        Column("rate_source", "text", "For time: which rate card applied (deal, project, deal_line, person, default)."),
        Column("period_end", "date NOT NULL", "End (exclusive) of the billing period the items were computed for."),
    ]),
    Table("marts.billing_exceptions", "Billable work that cannot be invoiced, with the reason (rebuilt each run).", [
        Column("source_key", "text NOT NULL", "Deal, deal line, time entry or project concerned."),
        Column("kind", "text NOT NULL", "unmapped_project, missing_rate, quarantined, customer_not_ready, "
                                        "missing_exchange_rate, deal_without_lines, invalid_vat_rate."),
        Column("customer_key", "text", "Customer, when known."),
        Column("project_key", "text", "Project, when relevant."),
        Column("deal_key", "text", "Deal, when relevant."),
        Column("hours", "numeric(12,2)", "Billable hours held back, for time."),
        Column("amount", MONEY, "Net amount held back, when known."),
        Column("currency", "char(3)", "Currency of the amount."),
        Column("reason", "text NOT NULL", "What is wrong and what to do, naming the field and value."),
        Column("period_end", "date NOT NULL", "Billing period end (exclusive) the exception was found for."),
    ], constraints=("PRIMARY KEY (source_key, kind)",)),
    Table("marts.invoices", "Issued invoices and credit notes with their EN 16931 header fields and totals.", [
        Column("invoice_number", "text PRIMARY KEY REFERENCES marts.invoice_numbers", "BT-1."),
        Column("invoice_key", "text NOT NULL UNIQUE", "Identity of the billing document (customer, currency, period, n)."),
        Column("type_code", "text NOT NULL", "BT-3: 380 invoice, 381 credit note."),
        Column("issue_date", "date NOT NULL", "BT-2."),
        Column("currency", "char(3) NOT NULL", "BT-5."),
        Column("tax_currency", "char(3)", "BT-6: EUR when BT-5 is not."),
        Column("eur_per_unit", "numeric(18,6)", "Exchange rate used for BT-111."),
        Column("profile", "text NOT NULL", "BT-24."),
        Column("business_process", "text NOT NULL", "BT-23: B/S/M (goods, services, mixed) and the process digit."),
        Column("vat_point", "text NOT NULL", "BT-8: invoice (débits), delivery or payment (encaissements)."),
        Column("due_date", "date NOT NULL", "BT-9."),
        Column("payment_terms", "text NOT NULL", "BT-20."),
        Column("processing_rule", "text NOT NULL", "BAR note: B2B, B2BINT or B2C."),
        Column("customer_key", "text", "Customer (staging.customers)."),
        Column("seller_name", "text NOT NULL", "BT-27."),
        Column("seller_siren", "text NOT NULL", "BT-30 (scheme 0002)."),
        Column("seller_siret", "text", "BT-29 (scheme 0009)."),
        Column("seller_vat_number", "text", "BT-31."),
        Column("seller_electronic_address", "text", "BT-34 (scheme 0225)."),
        Column("seller_address", "jsonb NOT NULL", "BG-5."),
        Column("buyer_name", "text NOT NULL", "BT-44."),
        Column("buyer_siren", "text", "BT-47 (scheme 0002)."),
        Column("buyer_siret", "text", "BT-46 (scheme 0009)."),
        Column("buyer_vat_number", "text", "BT-48."),
        Column("buyer_electronic_address", "text", "BT-49."),
        Column("buyer_electronic_scheme", "text", "BT-49 scheme: 0225 or EM."),
        Column("buyer_address", "jsonb NOT NULL", "BG-8."),
        Column("buyer_country_code", "char(2) NOT NULL", "BT-55."),
        Column("delivery_date", "date", "BT-72."),
        Column("delivery_address", "jsonb", "BG-15, when it differs from the buyer's address."),
        Column("period_start", "date", "BT-73."),
        Column("period_end", "date", "BT-74."),
        Column("payment_means_code", "text NOT NULL", "BT-81."),
        Column("iban", "text", "BT-84."),
        Column("bic", "text", "BT-86."),
        Column("preceding_number", "text REFERENCES marts.invoice_numbers", "BT-25: invoice a credit note cancels."),
        Column("preceding_issue_date", "date", "BT-26."),
        Column("notes", "jsonb NOT NULL", "BG-1 notes [{subject, text}]: PMD, PMT, AAB, REG, ABL, AAI."),
        Column("exemptions", "jsonb NOT NULL DEFAULT '[]'", "BT-120/121 per category and rate."),
        Column("line_total", f"{MONEY} NOT NULL", "BT-106."),
        Column("allowance_total", f"{MONEY} NOT NULL", "BT-107."),
        Column("charge_total", f"{MONEY} NOT NULL", "BT-108."),
        Column("tax_basis_total", f"{MONEY} NOT NULL", "BT-109."),
        Column("tax_total", f"{MONEY} NOT NULL", "BT-110, invoice currency."),
        Column("tax_total_eur", MONEY, "BT-111, EUR, when BT-5 is not EUR."),
        Column("grand_total", f"{MONEY} NOT NULL", "BT-112."),
        Column("prepaid_amount", f"{MONEY} NOT NULL", "BT-113."),
        Column("rounding_amount", f"{MONEY} NOT NULL", "BT-114."),
        Column("due_payable", f"{MONEY} NOT NULL", "BT-115."),
        Column("billing_period_start", "date", "First day of the billing period that produced it."),
        Column("billing_period_end", "date", "Last day of that billing period."),
        Column("status", "text NOT NULL", "ready (passed every validation, can be sent) or held (a fatal finding)."),
        Column("run_id", "text NOT NULL", "Run that issued it."),
        Column("issued_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ]),
    Table("marts.invoice_lines", "Invoice lines (BG-25).", [
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoices ON DELETE CASCADE", "BT-1."),
        Column("line_id", "text NOT NULL", "BT-126."),
        Column("item_name", "text NOT NULL", "BT-153."),
        Column("description", "text", "BT-154."),
        Column("seller_item_id", "text", "BT-155."),
        Column("quantity", "numeric(18,4) NOT NULL", "BT-129."),
        Column("unit_code", "text NOT NULL", "BT-130."),
        Column("net_price", "numeric(24,6) NOT NULL", "BT-146."),
        Column("net_amount", f"{MONEY} NOT NULL", "BT-131."),
        Column("vat_category", "text NOT NULL", "BT-151."),
        Column("vat_rate", "numeric(5,2)", "BT-152."),
        Column("is_goods", "boolean NOT NULL", "Goods (true) or services."),
        Column("period_start", "date", "BT-134."),
        Column("period_end", "date", "BT-135."),
        Column("item_count", "integer NOT NULL DEFAULT 1", "Billable items (ledger rows) behind the line."),
    ], constraints=("PRIMARY KEY (invoice_number, line_id)",)),
    Table("marts.invoice_allowances_charges", "Allowances and charges, per line (BG-27/28) or per document (BG-20/21).", [
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoices ON DELETE CASCADE", "BT-1."),
        Column("line_id", "text", "BT-126, NULL at document level."),
        Column("position", "integer NOT NULL", "Order on the line or document."),
        Column("is_charge", "boolean NOT NULL", "Charge (true) or allowance."),
        Column("amount", f"{MONEY} NOT NULL", "BT-92/99/136/141."),
        Column("base_amount", MONEY, "BT-93/100/137/142."),
        Column("percent", "numeric(7,4)", "BT-94/101/138/143."),
        Column("reason", "text NOT NULL", "BT-97/104/139/144."),
        Column("reason_code", "text", "BT-98/105/140/145."),
        Column("vat_category", "text", "BT-95/102 (document level)."),
        Column("vat_rate", "numeric(5,2)", "BT-96/103 (document level)."),
    ]),
    Table("marts.invoice_vat_breakdown", "VAT breakdown per category and rate (BG-23).", [
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoices ON DELETE CASCADE", "BT-1."),
        Column("vat_category", "text NOT NULL", "BT-118."),
        Column("vat_rate", "numeric(5,2)", "BT-119."),
        Column("taxable_amount", f"{MONEY} NOT NULL", "BT-116."),
        Column("tax_amount", f"{MONEY} NOT NULL", "BT-117."),
        Column("exemption_reason", "text", "BT-120."),
        Column("exemption_code", "text", "BT-121."),
    ]),
    Table("marts.invoice_documents", "Documents written for each invoice.", [
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoices ON DELETE CASCADE", "BT-1."),
        Column("format", "text NOT NULL", "facturx (PDF/A-3 with CII), cii or ubl."),
        Column("path", "text NOT NULL", "File under the output folder."),
        Column("sha256", "text NOT NULL", "Digest of the file."),
        Column("bytes", "integer NOT NULL", "Size."),
        Column("written_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ], constraints=("PRIMARY KEY (invoice_number, format)",)),
    Table("marts.invoice_findings", "Validation findings per invoice document: XSD, EN 16931 and BR-FR schematrons.", [
        Column("finding_id", "bigserial PRIMARY KEY", "Identifier."),
        Column("invoice_key", "text NOT NULL", "Billing document (marts.invoices.invoice_key or a held draft)."),
        Column("invoice_number", "text", "BT-1 (the number it would carry, for a held draft)."),
        Column("format", "text NOT NULL", "cii, ubl or facturx."),
        Column("layer", "text NOT NULL", "xsd, en16931 or br-fr."),
        Column("rule", "text NOT NULL", "Official rule id, e.g. BR-CO-15 or BR-FR-11_BT-47."),
        Column("severity", "text NOT NULL", "fatal, warning or information."),
        Column("location", "text", "XPath of the failing node."),
        Column("message", "text NOT NULL", "Rule message."),
        Column("run_id", "text NOT NULL", "Run that validated."),
        Column("validated_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ]),
    Table("marts.invoice_validations", "One row per invoice document validated, passed or not (pass rates, trends).", [
        Column("invoice_key", "text NOT NULL", "Billing document."),
        Column("invoice_number", "text", "BT-1."),
        Column("format", "text NOT NULL", "cii, ubl or facturx."),
        Column("fatal", "integer NOT NULL", "Fatal findings."),
        Column("warnings", "integer NOT NULL", "Other findings."),
        Column("passed", "boolean NOT NULL", "No fatal finding."),
        Column("billing_period_end", "date", "Billing period (last day)."),
        Column("run_id", "text NOT NULL", "Run that validated."),
        Column("validated_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ]),
    Table("marts.held_invoices", "Drafts held back with a fatal finding: no number consumed, items stay billable.", [
        Column("invoice_key", "text PRIMARY KEY", "Billing document."),
        Column("customer_key", "text", "Customer."),
        Column("billing_period_end", "date NOT NULL", "Billing period (last day)."),
        Column("rules", "text[] NOT NULL", "Fatal rule ids."),
        Column("grand_total", MONEY, "BT-112 the draft computed."),
        Column("currency", "char(3)", "BT-5."),
        Column("run_id", "text NOT NULL", "Latest run that held it."),
        Column("held_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ]),
]

INDEXES = [
    "CREATE UNIQUE INDEX invoiced_items_open ON billing.invoiced_items (item_key) WHERE credited_by IS NULL",
    "CREATE INDEX invoiced_items_source ON billing.invoiced_items (source_key)",
    "CREATE INDEX invoiced_items_invoice ON billing.invoiced_items (invoice_number)",
    "CREATE INDEX billable_items_drafting ON marts.billable_items (customer_key, currency, project_key)",
    "CREATE INDEX invoice_findings_key ON marts.invoice_findings (invoice_key)",
    "CREATE INDEX invoices_period ON marts.invoices (billing_period_end)",
    "CREATE INDEX lifecycle_events_invoice ON billing.lifecycle_events (invoice_number, event_at)",
    "CREATE INDEX payments_invoice ON billing.payments (invoice_number)",
]


def upgrade() -> None:
    bind = op.get_bind()
    statements = [
        "CREATE SCHEMA IF NOT EXISTS billing",
        "COMMENT ON SCHEMA billing IS " + literal("Billing decisions made by people (rates, modes, schedules, rates of "
                                                  "exchange, payments, statuses) and the ledger of invoiced items."),
    ]
    for table in TABLES:
        statements += create_statements(table)
    for statement in statements + INDEXES:
        bind.exec_driver_sql(statement)
    for statement in (
        "GRANT USAGE ON SCHEMA billing TO passerelle_bi",
        "GRANT SELECT ON ALL TABLES IN SCHEMA billing TO passerelle_bi",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA billing GRANT SELECT ON TABLES TO passerelle_bi",
        "GRANT SELECT ON ALL TABLES IN SCHEMA marts TO passerelle_bi",
    ):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
