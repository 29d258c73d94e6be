"""The expectation suites of the staging tables, as code: one per table, rules listed with their ids.

A table is validated after the tables its rules refer to, its upstream models in
:mod:`passerelle.transform.models`, so that a referential rule sees its parent after the parent's own
quarantine: a deal whose customer was quarantined is an orphan too.
``staging.project_links`` is built by identity resolution after the staging tables are validated, so
it is validated on its own (``validate_table(conn, "project_links", run_id)``); so are
``staging.ledger_customer_links`` and ``staging.ledger_customer_exceptions``, the books' identity resolution.

Date bounds depend on the day validated (``as_of``): business dates must fall between 2000-01-01 and
two years after it; work dates (time entries, completions) may not be more than a day ahead of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import great_expectations.expectations as gxe

from passerelle.quality import expectations as x
from passerelle.quality.identifiers import identifier_problem
from passerelle.quality.rules import (
    CRITICAL,
    QUARANTINE,
    WARNING,
    Rule,
    Suite,
    between,
    identity,
    in_set,
    is_true,
    not_null,
    references,
    xml_text,
)
from passerelle.transform.models import MODELS_BY_NAME

EARLIEST = date(2000, 1, 1)
FRENCH_VAT_RATES = [Decimal("0"), Decimal("2.1"), Decimal("5.5"), Decimal("10"), Decimal("20")]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Text columns that reach an invoice or the e-reporting (all XML): rows where they hold a character XML 1.0
# cannot carry are quarantined (``<table>.<column>_xml_text``) rather than stopping a billing period.
XML_TEXT_COLUMNS = {
    "customers": ("legal_name", "siren", "siret", "vat_number", "billing_street", "billing_city", "billing_postcode",
                  "delivery_street", "delivery_city", "delivery_postcode", "einvoicing_address"),
    "contacts": ("first_name", "last_name", "email"),
    "products": ("name", "sku", "unit"),
    "deals": ("name", "description"),
    "deal_lines": ("name", "description"),
    "projects": ("name",),
}


def _xml_texts(table: str) -> list[Rule]:
    return [xml_text(table, column) for column in XML_TEXT_COLUMNS[table]]


class Bounds:
    """Sane date bounds relative to the day validated (timestamps: UTC, end of the last day included)."""

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        try:
            self.latest = as_of.replace(year=as_of.year + 2)
        except ValueError:  # 29 February
            self.latest = as_of.replace(year=as_of.year + 2, day=28) + timedelta(days=1)
        self.worked_latest = as_of + timedelta(days=1)
        self.earliest_moment = datetime.combine(EARLIEST, time.min, tzinfo=UTC)
        self.worked_latest_moment = datetime.combine(self.worked_latest + timedelta(days=1), time.min, tzinfo=UTC)


def _identifier(kind: str, column: str, label: str) -> Callable[[Mapping[str, Any]], str]:
    def reason(row: Mapping[str, Any]) -> str:
        return f"invalid {label} '{row[column]}' ({identifier_problem(kind, row[column])})"

    reason.__doc__ = f"invalid {label} '{{{column}}}' (checksum, length or format)"
    return reason


def _business_date(table: str, column: str, bounds: Bounds) -> Rule:
    return between(f"{table}.{column}_in_range", QUARANTINE, column,
                   f"{column} {{{column}}} outside {EARLIEST} .. {bounds.latest}",
                   min_value=EARLIEST, max_value=bounds.latest)


def _worked_date(table: str, column: str, bounds: Bounds, what: str) -> Rule:
    return between(f"{table}.{column}_not_future", QUARANTINE, column,
                   f"{what} {{{column}}} outside {EARLIEST} .. {bounds.worked_latest}",
                   min_value=EARLIEST, max_value=bounds.worked_latest)


def _completion(table: str, bounds: Bounds) -> Rule:
    return between(f"{table}.completed_at_not_future", QUARANTINE, "completed_at",
                   f"completed_at {{completed_at}} outside {EARLIEST} .. {bounds.worked_latest}",
                   min_value=bounds.earliest_moment, max_value=bounds.worked_latest_moment)


def _non_negative(table: str, column: str, label: str) -> Rule:
    return between(f"{table}.{column}_non_negative", QUARANTINE, column, f"negative {label} {{{column}}}", min_value=0)


def _vat_rate(table: str) -> Rule:
    return in_set(f"{table}.vat_rate_french", QUARANTINE, "vat_rate", FRENCH_VAT_RATES,
                  "VAT rate {vat_rate} is not a French rate (0, 2.1, 5.5, 10, 20)")


def _project(table: str, what: str) -> list[Rule]:
    return [
        not_null(table, "project_key", QUARANTINE, f"{what} without a project"),
        references(table, "project_key", "staging.projects", "project_key", QUARANTINE,
                   f"orphan {what}: project {{project_key}} not in staging.projects"),
    ]


def _email(table: str) -> Rule:
    expectation = gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_PATTERN)
    return Rule(f"{table}.email_format", WARNING, expectation, "malformed e-mail address '{email}'")


def customers(bounds: Bounds) -> list[Rule]:
    t = "customers"
    return [
        *identity(t, "customer_key"),
        Rule(f"{t}.siren_checksum", QUARANTINE, x.ExpectColumnValuesToBeValidSiren(column="siren"),
             _identifier("siren", "siren", "SIREN")),
        Rule(f"{t}.siret_checksum", QUARANTINE, x.ExpectColumnValuesToBeValidSiret(column="siret"),
             _identifier("siret", "siret", "SIRET")),
        Rule(f"{t}.vat_number_checksum", QUARANTINE, x.ExpectColumnValuesToBeValidVatNumber(column="vat_number"),
             _identifier("vat", "vat_number", "VAT number")),
        Rule(f"{t}.billing_country_iso3166", QUARANTINE,
             x.ExpectColumnValuesToBeIso3166Alpha2(column="billing_country_code"),
             "billing country code '{billing_country_code}' is not ISO 3166-1 alpha-2"),
        is_true(f"{t}.billing_country_known", QUARANTINE,
                "CASE WHEN t.billing_country_raw IS NOT NULL THEN t.billing_country_code IS NOT NULL END",
                "unknown billing country '{billing_country_raw}' (not in reference.country_aliases)"),
        Rule(f"{t}.delivery_country_iso3166", WARNING,
             x.ExpectColumnValuesToBeIso3166Alpha2(column="delivery_country_code"),
             "delivery country code '{delivery_country_code}' is not ISO 3166-1 alpha-2"),
        is_true(f"{t}.siret_starts_with_siren", WARNING,
                "CASE WHEN t.siren IS NOT NULL AND t.siret IS NOT NULL THEN left(t.siret, 9) = t.siren END",
                "SIRET '{siret}' does not start with SIREN '{siren}'"),
        is_true(f"{t}.vat_number_matches_siren", WARNING,
                "CASE WHEN t.siren IS NOT NULL AND t.vat_number LIKE 'FR%' THEN right(t.vat_number, 9) = t.siren END",
                "French VAT number '{vat_number}' is not built on SIREN '{siren}'"),
        is_true(f"{t}.b2b_siren_present", WARNING,
                "CASE WHEN t.customer_type = 'B2B' THEN t.siren IS NOT NULL END",
                "French company without a SIREN"),
        is_true(f"{t}.billing_address_present", WARNING,
                "t.billing_street IS NOT NULL AND t.billing_city IS NOT NULL AND t.billing_postcode IS NOT NULL "
                "AND coalesce(t.billing_country_code, t.billing_country_raw) IS NOT NULL",
                "incomplete billing address (street '{billing_street}', city '{billing_city}', "
                "postcode '{billing_postcode}', country '{billing_country_raw}')"),
        is_true(f"{t}.einvoicing_address_present", WARNING,
                "CASE WHEN t.customer_type = 'B2B' THEN t.einvoicing_address IS NOT NULL END",
                "French company without an e-invoicing address"),
        in_set(f"{t}.customer_type_known", WARNING, "customer_type", ["B2B", "B2B_INTL", "B2C"],
               "unknown customer type '{customer_type}'"),
        *_xml_texts(t),
    ]


def contacts(bounds: Bounds) -> list[Rule]:
    t = "contacts"
    return [
        *identity(t, "contact_key"),
        not_null(t, "customer_key", WARNING, "contact without a customer"),
        references(t, "customer_key", "staging.customers", "customer_key", QUARANTINE,
                   "orphan contact: customer {customer_key} not in staging.customers"),
        _email(t),
        *_xml_texts(t),
    ]


def people(bounds: Bounds) -> list[Rule]:
    return [*identity("people", "person_key"), _email("people")]


def products(bounds: Bounds) -> list[Rule]:
    t = "products"
    return [*identity(t, "product_key"), _non_negative(t, "unit_price", "unit price"), _vat_rate(t), *_xml_texts(t)]


def deals(bounds: Bounds) -> list[Rule]:
    t = "deals"
    return [
        *identity(t, "deal_key"),
        not_null(t, "customer_key", WARNING, "deal without a customer"),
        references(t, "customer_key", "staging.customers", "customer_key", QUARANTINE,
                   "orphan deal: customer {customer_key} not in staging.customers"),
        references(t, "owner_person_key", "staging.people", "person_key", WARNING,
                   "deal owner {owner_person_key} not in staging.people"),
        not_null(t, "currency", WARNING, "deal without a currency"),
        Rule(f"{t}.currency_iso4217", QUARANTINE, x.ExpectColumnValuesToBeIso4217Currency(column="currency"),
             "unknown currency '{currency}' (not ISO 4217)"),
        _non_negative(t, "amount", "amount"),
        _business_date(t, "close_date", bounds),
        _business_date(t, "won_date", bounds),
        *_xml_texts(t),
    ]


def deal_lines(bounds: Bounds) -> list[Rule]:
    t = "deal_lines"
    return [
        *identity(t, "deal_line_key"),
        not_null(t, "deal_key", QUARANTINE, "deal line without a deal"),
        references(t, "deal_key", "staging.deals", "deal_key", QUARANTINE,
                   "orphan deal line: deal {deal_key} not in staging.deals"),
        references(t, "product_key", "staging.products", "product_key", WARNING,
                   "product {product_key} not in staging.products"),
        not_null(t, "quantity", QUARANTINE, "missing or unreadable quantity"),
        not_null(t, "unit_price", QUARANTINE, "missing or unreadable unit price"),
        _non_negative(t, "quantity", "quantity"),
        _non_negative(t, "unit_price", "unit price"),
        _non_negative(t, "line_amount", "line amount"),
        between(f"{t}.discount_percent_range", QUARANTINE, "discount_percent",
                "discount {discount_percent} % outside 0 .. 100", min_value=0, max_value=100),
        _vat_rate(t),
        _business_date(t, "service_date", bounds),
        *_xml_texts(t),
    ]


def projects(bounds: Bounds) -> list[Rule]:
    t = "projects"
    return [
        *identity(t, "project_key"),
        _business_date(t, "start_date", bounds),
        _business_date(t, "due_date", bounds),
        in_set(f"{t}.status_known", WARNING, "status", ["active", "completed", "archived"],
               "unknown project status '{status}'"),
        in_set(f"{t}.crm_system_known", WARNING, "crm_system",
               ["salesforce", "hubspot", "pipedrive", "zoho_crm", "bigin", "folk", "dynamics"],
               "CRM link names an unknown CRM '{crm_system}'"),
        *_xml_texts(t),
    ]


def tasks(bounds: Bounds) -> list[Rule]:
    t = "tasks"
    return [
        *identity(t, "task_key"),
        *_project(t, "task"),
        references(t, "assignee_person_key", "staging.people", "person_key", WARNING,
                   "assignee {assignee_person_key} not in staging.people"),
        in_set(f"{t}.status_known", WARNING, "status", ["todo", "in_progress", "done"],
               "unknown task status '{status}'"),
        _business_date(t, "due_date", bounds),
        _completion(t, bounds),
    ]


def milestones(bounds: Bounds) -> list[Rule]:
    t = "milestones"
    return [
        *identity(t, "milestone_key"),
        *_project(t, "milestone"),
        in_set(f"{t}.status_known", WARNING, "status", ["open", "done"], "unknown milestone status '{status}'"),
        _business_date(t, "due_date", bounds),
        _completion(t, bounds),
    ]


def time_entries(bounds: Bounds) -> list[Rule]:
    t = "time_entries"
    return [
        *identity(t, "time_entry_key"),
        *_project(t, "time entry"),
        references(t, "task_key", "staging.tasks", "task_key", WARNING, "task {task_key} not in staging.tasks"),
        not_null(t, "person_key", WARNING, "time entry without a person"),
        references(t, "person_key", "staging.people", "person_key", WARNING,
                   "person {person_key} not in staging.people"),
        not_null(t, "entry_date", QUARANTINE, "time entry without a date"),
        _worked_date(t, "entry_date", bounds, "entry date"),
        not_null(t, "hours", QUARANTINE, "missing or unreadable hours"),
        _non_negative(t, "hours", "hours"),
        between(f"{t}.hours_max_24", QUARANTINE, "hours", "{hours} hours in one entry (more than 24)", max_value=24),
    ]


def ledger_customers(bounds: Bounds) -> list[Rule]:
    t = "ledger_customers"
    return [
        *identity(t, "ledger_customer_key"),
        not_null(t, "display_name", WARNING, "customer of the books without a name"),
        is_true(f"{t}.notes_identifier_checksum", WARNING,
                "CASE WHEN t.identifier_problem IS NOT NULL THEN false END", "{identifier_problem}"),
    ]


def _ledger_customer(table: str) -> Rule:
    return references(table, "ledger_customer_key", "staging.ledger_customers", "ledger_customer_key", WARNING,
                      "customer {ledger_customer_key} not in staging.ledger_customers")


def ledger_invoices(bounds: Bounds) -> list[Rule]:
    t = "ledger_invoices"
    return [
        *identity(t, "ledger_document_key"),
        in_set(f"{t}.document_type_known", CRITICAL, "document_type", ["Invoice", "CreditMemo"],
               "unknown document type '{document_type}'"),
        not_null(t, "total_amount", QUARANTINE, "TotalAmt missing or not an exact amount"),
        _non_negative(t, "total_amount", "total"),
        _ledger_customer(t),
        _business_date(t, "txn_date", bounds),
    ]


def ledger_payments(bounds: Bounds) -> list[Rule]:
    t = "ledger_payments"
    return [
        *identity(t, "ledger_payment_key"),
        not_null(t, "paid_on", QUARANTINE, "payment without a TxnDate"),
        _business_date(t, "paid_on", bounds),
        not_null(t, "total_amount", QUARANTINE, "TotalAmt missing or not an exact amount"),
        _non_negative(t, "total_amount", "total"),
        _non_negative(t, "unapplied_amount", "unapplied amount"),
        is_true(f"{t}.applications_usable", QUARANTINE, "t.applications_valid",
                "a line of the payment names no Invoice / CreditMemo id or has no exact positive Amount "
                "(staging.ledger_payment_applications)"),
        _ledger_customer(t),
    ]


def project_links(bounds: Bounds) -> list[Rule]:
    t = "project_links"
    return [
        not_null(t, "project_key", CRITICAL),
        Rule(f"{t}.project_key_unique", CRITICAL, gxe.ExpectColumnValuesToBeUnique(column="project_key"),
             "duplicate project_key '{project_key}'"),
        references(t, "project_key", "staging.projects", "project_key", WARNING,
                   "linked project {project_key} not in staging.projects"),
        references(t, "customer_key", "staging.customers", "customer_key", WARNING,
                   "linked customer {customer_key} not in staging.customers"),
        references(t, "deal_key", "staging.deals", "deal_key", WARNING, "linked deal {deal_key} not in staging.deals"),
        in_set(f"{t}.method_known", WARNING, "method",
               ["override", "explicit_link", "siren", "siret", "vat", "name_domain"], "unknown method '{method}'"),
        between(f"{t}.confidence_range", WARNING, "confidence", "confidence {confidence} outside 0 .. 1",
                min_value=0, max_value=1),
    ]


def _ledger_customer_key(table: str) -> list[Rule]:
    """One row per customer of the books, and that customer exists (as it stands after its own quarantine)."""
    return [
        not_null(table, "ledger_customer_key", CRITICAL),
        Rule(f"{table}.ledger_customer_key_unique", CRITICAL,
             gxe.ExpectColumnValuesToBeUnique(column="ledger_customer_key"),
             "duplicate ledger_customer_key '{ledger_customer_key}'"),
        references(table, "ledger_customer_key", "staging.ledger_customers", "ledger_customer_key", WARNING,
                   "customer of the books {ledger_customer_key} not in staging.ledger_customers"),
    ]


def ledger_customer_links(bounds: Bounds) -> list[Rule]:
    t = "ledger_customer_links"
    return [
        *_ledger_customer_key(t),
        references(t, "customer_key", "staging.customers", "customer_key", WARNING,
                   "linked customer {customer_key} not in staging.customers"),
        in_set(f"{t}.method_known", WARNING, "method", ["siren", "vat", "name"], "unknown method '{method}'"),
        between(f"{t}.confidence_range", WARNING, "confidence", "confidence {confidence} outside 0 .. 1",
                min_value=0, max_value=1),
    ]


def ledger_customer_exceptions(bounds: Bounds) -> list[Rule]:
    t = "ledger_customer_exceptions"
    return [
        *_ledger_customer_key(t),
        in_set(f"{t}.problem_known", WARNING, "problem", ["ambiguous", "conflict", "unmapped"],
               "unknown problem '{problem}' for {ledger_customer_key}"),
        not_null(t, "detail", WARNING, "exception of {ledger_customer_key} without a detail"),
    ]


BUILDERS: dict[str, tuple[str, Callable[[Bounds], list[Rule]]]] = {
    "customers": ("customer_key", customers),
    "contacts": ("contact_key", contacts),
    "people": ("person_key", people),
    "products": ("product_key", products),
    "deals": ("deal_key", deals),
    "deal_lines": ("deal_line_key", deal_lines),
    "projects": ("project_key", projects),
    "tasks": ("task_key", tasks),
    "milestones": ("milestone_key", milestones),
    "time_entries": ("time_entry_key", time_entries),
    "ledger_customers": ("ledger_customer_key", ledger_customers),
    "ledger_invoices": ("ledger_document_key", ledger_invoices),
    "ledger_payments": ("ledger_payment_key", ledger_payments),
    "project_links": ("project_key", project_links),
    "ledger_customer_links": ("ledger_customer_key", ledger_customer_links),
    "ledger_customer_exceptions": ("ledger_customer_key", ledger_customer_exceptions),
}
# Tables built one row per live raw record; the others are derived (at most one row per raw record).
ONE_ROW_PER_RECORD = {"customers", "contacts", "people", "products", "deals", "projects", "ledger_customers",
                      "ledger_invoices", "ledger_payments"}
# Derived tables that may legitimately be empty while their raw streams are not: a workspace whose
# projects have no milestones is normal (every other derived table must have rows when raw has).
MAY_BE_EMPTY = {"milestones"}


def suite_name(table: str) -> str:
    """``customers`` or ``staging.customers`` -> ``customers``."""
    name = table.removeprefix("staging.")
    if name not in BUILDERS:
        raise KeyError(f"no expectation suite for table {table!r}; known: {', '.join(BUILDERS)}")
    return name


def build_suite(table: str, as_of: date) -> Suite:
    """The suite of ``table`` for the day ``as_of`` (rules are rebuilt per run: date bounds move)."""
    name = suite_name(table)
    key, builder = BUILDERS[name]
    model = MODELS_BY_NAME.get(name)
    row_count = None if model is None else "equal" if name in ONE_ROW_PER_RECORD else "at_most"
    return Suite(
        table=f"staging.{name}", key=key, rules=tuple(builder(Bounds(as_of))), row_count=row_count,
        raw_streams=model.raw_streams if model else (), may_be_empty=name in MAY_BE_EMPTY,
    )
