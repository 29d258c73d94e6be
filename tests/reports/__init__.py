"""Report test data: minimal but valid issued invoices (number first, then the invoice, its lines and VAT
breakdown, with totals that follow EN 16931's arithmetic), validations, payments and lifecycle events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from psycopg2.extras import Json

SELLER_SIREN = "732829320"
ADDRESS = {"street": "12 rue de la Paix", "postcode": "75002", "city": "Paris", "country_code": "FR"}
D = Decimal


def utc(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def add_invoice(conn: Any, number: str, issued: date, rates: Sequence[tuple[str, str | None, str, str]], *,
                rule: str = "B2B", vat_point: str = "invoice", type_code: str = "380", currency: str = "EUR",
                eur_per_unit: str | None = None, tax_total_eur: str | None = None, preceding: str | None = None,
                customer_key: str = "salesforce:001", period_end: date | None = None) -> None:
    """One issued invoice; ``rates`` are its VAT breakdown rows (category, rate, BT-116, BT-117), one line each."""
    basis = sum((D(base) for _, _, base, _ in rates), D("0.00"))
    tax = sum((D(amount) for _, _, _, amount in rates), D("0.00"))
    key = f"test:{number}"
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO marts.invoice_numbers (invoice_number, seller_siren, fiscal_year, sequence,
                                                          issue_date, invoice_key, run_id)
                       VALUES (%s, %s, %s, %s, %s, %s, 'test')""",
                    (number, SELLER_SIREN, issued.year, int(number[-6:]), issued, key))
        cur.execute("""
            INSERT INTO marts.invoices (
                invoice_number, invoice_key, type_code, issue_date, currency, tax_currency, eur_per_unit, profile,
                business_process, vat_point, due_date, payment_terms, processing_rule, customer_key, seller_name,
                seller_siren, seller_address, buyer_name, buyer_address, buyer_country_code, payment_means_code,
                preceding_number, notes, line_total, allowance_total, charge_total, tax_basis_total, tax_total,
                tax_total_eur, grand_total, prepaid_amount, rounding_amount, due_payable, billing_period_start,
                billing_period_end, status, run_id)
            VALUES (%s, %s, %s, %s, %s, %s, %s, 'urn:cen.eu:en16931:2017', 'S1', %s, %s, 'Virement à 30 jours', %s,
                    %s, 'Exemple Conseil SAS', %s, %s, 'Dupont Industries SARL', %s, 'FR', '58', %s, '[]', %s, 0, 0,
                    %s, %s, %s, %s, 0, 0, %s, %s, %s, 'ready', 'test')""",
                    (number, key, type_code, issued, currency, None if currency == "EUR" else "EUR", eur_per_unit,
                     vat_point, issued, rule, customer_key, SELLER_SIREN, Json(ADDRESS), Json(ADDRESS), preceding,
                     basis, basis, tax, tax_total_eur, basis + tax, basis + tax, issued.replace(day=1),
                     period_end or issued))
        for index, (category, rate, base, amount) in enumerate(rates, start=1):
            cur.execute("""INSERT INTO marts.invoice_lines (invoice_number, line_id, item_name, quantity, unit_code,
                                                            net_price, net_amount, vat_category, vat_rate, is_goods)
                           VALUES (%s, %s, 'Conseil', 1, 'C62', %s, %s, %s, %s, false)""",
                        (number, str(index), base, base, category, rate))
            cur.execute("""INSERT INTO marts.invoice_vat_breakdown (invoice_number, vat_category, vat_rate,
                                                                    taxable_amount, tax_amount)
                           VALUES (%s, %s, %s, %s, %s)""", (number, category, rate, base, amount))
    conn.commit()


def add_payment(conn: Any, number: str, paid_on: date, amount: str) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO billing.payments (invoice_number, paid_on, amount) VALUES (%s, %s, %s) "
                    "RETURNING payment_id", (number, paid_on, amount))
        [payment_id] = cur.fetchone()
    conn.commit()
    return payment_id


def add_event(conn: Any, number: str, status_code: int, at: datetime, *, source: str = "platform",
              reason_code: str | None = None, reason: str | None = None, payment_id: int | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO billing.lifecycle_events (invoice_number, status_code, event_at, reason_code,
                                                             reason, source, payment_id)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                    (number, status_code, at, reason_code, reason, source, payment_id))
    conn.commit()


def add_validation(conn: Any, invoice_key: str, fmt: str, period_end: date, run_id: str, at: datetime,
                   findings: Sequence[tuple[str, str, str, str]] = (), invoice_number: str | None = None) -> None:
    """One validated document and its findings (layer, rule, severity, message)."""
    fatal = sum(1 for _, _, severity, _ in findings if severity == "fatal")
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO marts.invoice_validations (invoice_key, invoice_number, format, fatal, warnings,
                                                              passed, billing_period_end, run_id, validated_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (invoice_key, invoice_number, fmt, fatal, len(findings) - fatal, fatal == 0, period_end, run_id,
                     at))
        for layer, rule, severity, message in findings:
            cur.execute("""INSERT INTO marts.invoice_findings (invoice_key, invoice_number, format, layer, rule,
                                                               severity, location, message, run_id, validated_at)
                           VALUES (%s, %s, %s, %s, %s, %s, '/rsm:CrossIndustryInvoice', %s, %s, %s)""",
                        (invoice_key, invoice_number, fmt, layer, rule, severity, message, run_id, at))
    conn.commit()
