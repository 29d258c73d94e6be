"""The report views of migration 0006 on hand-made invoices whose figures are worked out in the comments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from tests.db import rows, tuples
from tests.reports import D, add_event, add_invoice, add_payment, add_validation, utc

MARCH = date(2026, 3, 1)


def test_vat_summary_converts_to_eur_and_deducts_credit_notes(warehouse_conn: Any) -> None:
    add_invoice(warehouse_conn, "F2026-000001", date(2026, 3, 10),
                [("S", "20.00", "1000.00", "200.00"), ("S", "5.50", "200.00", "11.00")])
    add_invoice(warehouse_conn, "F2026-000002", date(2026, 3, 18), [("G", "0.00", "1000.00", "0.00")],
                rule="B2BINT", currency="CHF", eur_per_unit="1.050000", tax_total_eur="0.00")
    add_invoice(warehouse_conn, "F2026-000003", date(2026, 3, 25), [("S", "20.00", "100.00", "20.00")],
                type_code="381", preceding="F2026-000001")
    # USD, three rates of 3.33 each: BT-110 9.99, BT-111 8.99. Shares of 8.99 round to 3.00 each (9.00), so the
    # cent goes back on the first of the largest rates (5.5 %, categories and rates ordering the tie).
    add_invoice(warehouse_conn, "F2026-000004", date(2026, 3, 28),
                [("S", "20.00", "16.65", "3.33"), ("S", "10.00", "33.30", "3.33"), ("S", "5.50", "60.55", "3.33")],
                currency="USD", eur_per_unit="0.900000", tax_total_eur="8.99")
    add_invoice(warehouse_conn, "F2026-000005", date(2026, 2, 20), [("S", "20.00", "100.00", "20.00")])
    add_invoice(warehouse_conn, "F2026-000006", date(2026, 3, 15), [("S", "20.00", "500.00", "100.00")],
                rule="B2C", vat_point="payment")

    usd = tuples(warehouse_conn, """SELECT vat_rate, taxable_eur, tax_eur FROM marts.invoice_vat_eur
                                     WHERE invoice_number = 'F2026-000004' ORDER BY vat_rate""")
    assert usd == [(D("5.50"), D("54.50"), D("2.99")), (D("10.00"), D("29.97"), D("3.00")),
                   (D("20.00"), D("14.99"), D("3.00"))]

    summary = rows(warehouse_conn, """SELECT processing_rule, vat_category, vat_rate, vat_point, vat_due_on, invoices,
                                             credit_notes, taxable_eur, vat_eur
                                        FROM marts.vat_summary WHERE month = %s
                                       ORDER BY processing_rule, vat_category, vat_rate""", MARCH)
    assert [tuple(r.values()) for r in summary] == [
        # 20 %: 1000 − 100 (credit note) + 16.65 USD × 0.9; VAT 200 − 20 + 3.00; invoices 1 and 4, credit note 3
        # (distinct documents: the credit note no longer cancels an invoice in the count).
        ("B2B", "S", D("5.50"), "invoice", "debits", 2, 0, D("254.50"), D("13.99")),
        ("B2B", "S", D("10.00"), "invoice", "debits", 1, 0, D("29.97"), D("3.00")),
        ("B2B", "S", D("20.00"), "invoice", "debits", 2, 1, D("914.99"), D("183.00")),
        ("B2BINT", "G", D("0.00"), "invoice", "debits", 1, 0, D("1050.00"), D("0.00")),
        ("B2C", "S", D("20.00"), "payment", "receipts", 1, 0, D("500.00"), D("100.00")),
    ]
    assert tuples(warehouse_conn, "SELECT invoices, vat_eur FROM marts.vat_summary WHERE month = '2026-02-01'") == [
        (1, D("20.00"))]


def test_vat_due_on_receipts_splits_each_payment_over_the_rates(warehouse_conn: Any) -> None:
    # VAT on receipts, 120 + 55 + 105.50 = 280.50 due. Debits invoices never appear, paid or not.
    add_invoice(warehouse_conn, "F2026-000001", date(2026, 3, 5),
                [("S", "20.00", "100.00", "20.00"), ("S", "10.00", "50.00", "5.00"), ("S", "5.50", "100.00", "5.50")],
                vat_point="payment")
    add_invoice(warehouse_conn, "F2026-000002", date(2026, 3, 15), [("S", "20.00", "500.00", "100.00")],
                rule="B2C", vat_point="payment")
    add_invoice(warehouse_conn, "F2026-000003", date(2026, 3, 16), [("S", "20.00", "500.00", "100.00")])
    add_payment(warehouse_conn, "F2026-000001", date(2026, 3, 25), "140.25")  # half
    add_payment(warehouse_conn, "F2026-000002", date(2026, 3, 20), "300.00")  # half
    add_payment(warehouse_conn, "F2026-000002", date(2026, 4, 2), "150.00")  # a quarter
    add_payment(warehouse_conn, "F2026-000003", date(2026, 3, 30), "600.00")

    found = tuples(warehouse_conn, """SELECT month, processing_rule, vat_rate, payments, invoices, cashed_eur,
                                             taxable_eur, vat_eur
                                        FROM marts.vat_due_on_receipts ORDER BY month, processing_rule, vat_rate""")
    assert found == [
        (MARCH, "B2B", D("5.50"), 1, 1, D("52.75"), D("50.00"), D("2.75")),
        (MARCH, "B2B", D("10.00"), 1, 1, D("27.50"), D("25.00"), D("2.50")),
        (MARCH, "B2B", D("20.00"), 1, 1, D("60.00"), D("50.00"), D("10.00")),
        (MARCH, "B2C", D("20.00"), 1, 1, D("300.00"), D("250.00"), D("50.00")),
        (date(2026, 4, 1), "B2C", D("20.00"), 1, 1, D("150.00"), D("125.00"), D("25.00")),
    ]


def test_invoice_lifecycle_latest_status_payments_and_cashed_amount_per_rate(warehouse_conn: Any) -> None:
    add_invoice(warehouse_conn, "F2026-000001", date(2026, 3, 10), [("S", "20.00", "1000.00", "200.00")])
    add_event(warehouse_conn, "F2026-000001", 200, utc(date(2026, 3, 10)))
    add_event(warehouse_conn, "F2026-000001", 210, utc(date(2026, 3, 12)), source="buyer", reason_code="TX_TVA_ERR",
              reason="Taux de TVA erroné")
    # 280.50 due; 7.00 cashed: shares 2.99 + 1.37 + 2.63 = 6.99, the missing cent goes on 20 % (the largest).
    add_invoice(warehouse_conn, "F2026-000002", date(2026, 3, 5),
                [("S", "20.00", "100.00", "20.00"), ("S", "10.00", "50.00", "5.00"), ("S", "5.50", "100.00", "5.50")],
                vat_point="payment")
    payment = add_payment(warehouse_conn, "F2026-000002", date(2026, 3, 25), "7.00")
    add_event(warehouse_conn, "F2026-000002", 200, utc(date(2026, 3, 5)))
    add_event(warehouse_conn, "F2026-000002", 212, utc(date(2026, 3, 25)), source="payments", payment_id=payment)
    add_invoice(warehouse_conn, "F2026-000003", date(2026, 3, 20), [("S", "20.00", "10.00", "2.00")])
    add_payment(warehouse_conn, "F2026-000003", date(2026, 3, 21), "12.00")  # paid, but VAT on debits: no 212

    found = {r["invoice_number"]: r for r in rows(warehouse_conn, "SELECT * FROM marts.invoice_lifecycle")}
    refused = found["F2026-000001"]
    assert (refused["status_code"], refused["status_label"], refused["status_reason"]) == (
        210, "Refusée", "TX_TVA_ERR Taux de TVA erroné")
    assert (refused["amount_paid"], refused["outstanding"], refused["cashed_by_rate"]) == (0, D("1200.00"), None)

    cashed = found["F2026-000002"]
    assert (cashed["status_code"], cashed["status_label"]) == (212, "Encaissée")
    assert (cashed["amount_paid"], cashed["outstanding"], cashed["last_paid_on"]) == (
        D("7.00"), D("273.50"), date(2026, 3, 25))
    per_rate = [{k: Decimal(str(v)) if k != "vat_category" else v for k, v in item.items()}
                for item in cashed["cashed_by_rate"]]
    assert per_rate == [
        {"vat_category": "S", "vat_rate": D("20"), "cashed_amount": D("3.00"), "taxable_amount": D("2.50"),
         "tax_amount": D("0.50")},
        {"vat_category": "S", "vat_rate": D("10"), "cashed_amount": D("1.37"), "taxable_amount": D("1.25"),
         "tax_amount": D("0.12")},
        {"vat_category": "S", "vat_rate": D("5.5"), "cashed_amount": D("2.63"), "taxable_amount": D("2.50"),
         "tax_amount": D("0.14")},
    ]
    assert sum(item["cashed_amount"] for item in per_rate) == cashed["amount_paid"]

    debits = found["F2026-000003"]
    assert (debits["status_code"], debits["status_label"], debits["outstanding"], debits["cashed_by_rate"]) == (
        None, None, D("0.00"), None)


def test_validation_summary_counts_each_document_once_with_its_latest_outcome(warehouse_conn: Any) -> None:
    end, previous = date(2026, 3, 31), date(2026, 2, 28)
    fatal = ("br-fr", "BR-FR-11_BT-47", "fatal", "Le SIREN de l'acheteur est obligatoire")
    warning = ("en16931", "BR-CO-26", "warning", "Seller identifier")
    # draft-1 fails in run r1, is fixed and passes in r2: one document, passed; its r1 finding is history.
    add_validation(warehouse_conn, "draft-1", "cii", end, "r1", utc(date(2026, 4, 1)), [fatal])
    add_validation(warehouse_conn, "draft-1", "cii", end, "r2", utc(date(2026, 4, 2)), [warning])
    add_validation(warehouse_conn, "draft-2", "cii", end, "r2", utc(date(2026, 4, 2)), [fatal, fatal])
    add_validation(warehouse_conn, "draft-3", "cii", end, "r2", utc(date(2026, 4, 2)))
    add_validation(warehouse_conn, "draft-2", "facturx", end, "r2", utc(date(2026, 4, 2)), [fatal])
    add_validation(warehouse_conn, "old-1", "cii", previous, "r0", utc(date(2026, 3, 1)))

    summary = tuples(warehouse_conn, """SELECT billing_period_end, format, documents, passed, failed, pass_rate,
                                               fatal_findings, warnings
                                          FROM marts.invoice_validation_summary ORDER BY 1, 2""")
    assert summary == [
        (previous, "cii", 1, 1, 0, D("100.0"), 0, 0),
        (end, "cii", 3, 2, 1, D("66.7"), 2, 1),
        (end, "facturx", 1, 0, 1, D("0.0"), 1, 0),
    ]
    failures = tuples(warehouse_conn, """SELECT billing_period_end, rule, severity, layer, findings, documents, message
                                           FROM marts.invoice_rule_failures ORDER BY findings DESC, rule""")
    assert failures == [
        (end, "BR-FR-11_BT-47", "fatal", "br-fr", 3, 2, "Le SIREN de l'acheteur est obligatoire"),
        (end, "BR-CO-26", "warning", "en16931", 1, 1, "Seller identifier"),
    ]


def test_report_objects_are_documented_and_readable_by_bi(warehouse_conn: Any) -> None:
    undocumented = tuples(warehouse_conn, """
        SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('marts', 'reference') AND c.relkind IN ('r', 'v') AND a.attnum > 0
           AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL""")
    assert undocumented == []
    views = ["invoice_vat_eur", "vat_summary", "payment_vat_parts", "vat_due_on_receipts", "invoice_latest_validations",
             "invoice_validation_summary", "invoice_rule_failures", "invoice_lifecycle"]
    readable = tuples(warehouse_conn, """
        SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL,
               has_table_privilege('passerelle_bi', c.oid, 'SELECT')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'marts' AND c.relname = ANY(%s) ORDER BY 1""", views)
    assert readable == [(name, True, True) for name in sorted(views)]
    assert tuples(warehouse_conn, "SELECT label FROM reference.lifecycle_statuses WHERE status_code IN (200, 213) "
                                  "ORDER BY 1") == [("Déposée",), ("Rejetée",)]
