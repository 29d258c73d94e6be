"""Rebuild ``marts.customer_readiness`` from staging and the quarantine (run after validation).

The report must never call ready a customer issuing would hold, nor hold back one issuing would accept
for the same reason. So it does not re-implement the identifier rules: every customer is turned into
the buyer an invoice would carry (the very functions drafting uses) and issuing's checker
(:func:`passerelle.invoicing.checks.issue_checks`) runs on a probe invoice holding only that buyer. Its
findings, worded as ``marts.held_invoices`` words them, become the customer's ``missing`` items; the
SQL adds what the report asks beyond them. Issuing in turn holds a customer the report says is not
ready (``PASSERELLE-READINESS``).

Steps, in one transaction: ``reports/readiness_customers.sql`` lists the customers (staged and
quarantined) into a temporary table; the checker runs on each in Python and its verdicts go into a
second temporary table; ``reports/customer_readiness.sql`` builds the mart from both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pandas as pd
from psycopg2.extras import execute_values

from passerelle.documents.validation import Finding
from passerelle.invoicing.checks import issue_checks
from passerelle.invoicing.drafts import PLACEHOLDER_NUMBER, buyer_party, delivery_address
from passerelle.einvoice.model import INVOICE, Invoice, Party, PostalAddress, VatPoint
from passerelle.invoicing.vat import processing_rule
from passerelle.quality.identifiers import siren_valid, siret_valid, tax_id_problem
from passerelle.warehouse.sql_files import render

logger = logging.getLogger(__name__)

# Paths relative to include/sql, as the SQL operator of a DAG receives them.
CUSTOMERS_SQL = "reports/readiness_customers.sql"
READINESS_SQL = "reports/customer_readiness.sql"

# The probe invoice's own parts carry no identifier and only plain text: every finding is the customer's.
PROBE_SELLER = Party("-", PostalAddress(None, None, None, "FR"))
PROBE_DAY = date(2000, 1, 1)
# Where the checker reports a staging.customers column (the quarantine rule ``customers.<column>_…``).
COLUMN_LOCATIONS = {
    "legal_name": "buyer.name", "siren": "buyer.siren", "siret": "buyer.siret", "vat_number": "buyer.vat_number",
    "billing_street": "buyer.address.street", "billing_postcode": "buyer.address.postcode",
    "billing_city": "buyer.address.city", "billing_country_code": "buyer.address.country_code",
    "einvoicing_address": "buyer.electronic_address", "delivery_street": "delivery_address.street",
    "delivery_postcode": "delivery_address.postcode", "delivery_city": "delivery_address.city",
    "delivery_country_code": "delivery_address.country_code",
}
# Reported by customer_readiness.sql in its own words (``billing country: … is not a known country``).
REPORTED_IN_SQL = frozenset({"customers.billing_country_known"})
CHECK_COLUMNS = ("customer_key", "classification", "siren_valid", "siret_valid", "vat_valid", "problems")


def held_reason(finding: Finding) -> str:
    """A finding as ``marts.held_invoices.reasons`` states it (see ``passerelle.invoicing.issue``)."""
    return f"{finding.rule} ({finding.location}): {finding.message}"


def customer_findings(customer: Mapping[str, Any]) -> list[Finding]:
    """What issuing's checks find about ``customer`` (a staging.customers row with ``email`` and ``is_eu``).

    The buyer and the delivery address are built by drafting's own functions, under the processing rule
    invoicing gives the customer, so a draft for this customer gets exactly these findings about its buyer.
    """
    row = {**customer, "is_eu": bool(customer.get("is_eu"))}
    rule = processing_rule(row["customer_type"], row["billing_country_code"])
    probe = Invoice(number=PLACEHOLDER_NUMBER, issue_date=PROBE_DAY, type_code=INVOICE, currency="EUR",
                    seller=PROBE_SELLER, buyer=buyer_party(row, rule), lines=(), processing_rule=rule,
                    vat_point=VatPoint.INVOICE, due_date=PROBE_DAY, payment_terms="-",
                    delivery_address=delivery_address(row))
    return issue_checks(probe)


def uncovered_quarantine(rules: Iterable[str], reasons: Iterable[str], findings: list[Finding]) -> list[str]:
    """Quarantine reasons the checker's findings do not already state, as ``quarantined: <reason>``."""
    located = {finding.location for finding in findings}
    kept = []
    for rule, reason in zip(rules, reasons):
        if rule in REPORTED_IN_SQL:
            continue
        column = next((c for c in COLUMN_LOCATIONS if rule.startswith(f"customers.{c}_")), None)
        if column is None or COLUMN_LOCATIONS[column] not in located:
            kept.append(f"quarantined: {reason}")
    return kept


def customer_checks(customers: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """readiness_checks rows: classification, identifier verdicts and the problems issuing would hold for.

    The SIREN and SIRET columns take the batch checks of :mod:`passerelle.quality.identifiers` (stdnum's
    verdicts, computed with numpy: the checker already spends one stdnum call per identifier); the VAT
    column is stdnum's verdict for a buyer of the customer's country, as issuing asks it.
    """
    sirens = verdicts(siren_valid, [c["siren"] for c in customers])
    sirets = verdicts(siret_valid, [c["siret"] for c in customers])
    checked = []
    for customer, siren_ok, siret_ok in zip(customers, sirens, sirets):
        findings = customer_findings(customer)
        problems = [held_reason(f) for f in findings]
        problems += uncovered_quarantine(customer["quarantine_rules"], customer["quarantine_reasons"], findings)
        vat = customer["vat_number"]
        checked.append((customer["customer_key"],
                        processing_rule(customer["customer_type"], customer["billing_country_code"]).value,
                        siren_ok, siret_ok,
                        None if vat is None else tax_id_problem(vat, customer["billing_country_code"]) == "valid",
                        problems))
    return checked


def verdicts(check: Any, values: list[Any]) -> list[bool | None]:
    """``check`` over ``values`` (None where there is no value)."""
    valid = check(pd.Series(values, dtype=object))
    return [None if value is None else bool(ok) for value, ok in zip(values, valid)]


def rebuild_customer_readiness(conn: Any) -> float:
    """Rebuild the table in one committed transaction; returns seconds taken."""
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute(render(CUSTOMERS_SQL))
            cur.execute("SELECT * FROM readiness_customers")
            names = [column.name for column in cur.description]
            checked = customer_checks([dict(zip(names, row)) for row in cur.fetchall()])
            cur.execute("CREATE TEMPORARY TABLE readiness_checks (customer_key text PRIMARY KEY,"
                        " classification text NOT NULL, siren_valid boolean, siret_valid boolean, vat_valid boolean,"
                        " problems text[] NOT NULL) ON COMMIT DROP")
            execute_values(cur, f"INSERT INTO readiness_checks ({', '.join(CHECK_COLUMNS)}) VALUES %s", checked,
                           template="(%s, %s, %s, %s, %s, %s::text[])", page_size=2000)
            cur.execute(render(READINESS_SQL))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    seconds = time.monotonic() - started
    logger.info("marts.customer_readiness rebuilt in %.2fs (%d customers)", seconds, len(checked))
    return seconds
