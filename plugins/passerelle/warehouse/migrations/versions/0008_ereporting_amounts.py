"""Report views that count what was issued and cashed, each document or payment once.

``marts.vat_summary`` counted ``sum(sign)`` per category and rate, so an invoice with several rates counted
once per rate and a credit note cancelled an invoice in the count; it now counts distinct invoices and
distinct credit notes (the amounts stay signed: credit notes negative, on their own issue date).

VAT due on receipts follows the rule status 212 and Flux 10.2/10.4 state (``passerelle.ereporting.payments``):
each payment is split over the invoice's VAT rates (categories at the same rate merged) in proportion to each
rate's VAT-inclusive total, rounded half-up to the cent, the leftover cent on the largest rate, so the parts
add up to the amount received; the VAT of a part is the same proportion of the rate's VAT. The split of every
payment is a view of its own, ``marts.payment_vat_parts``, which the monthly view and the report sum.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import NamedTuple

from alembic import op

from passerelle.warehouse.ddl import literal

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


class View(NamedTuple):
    """A view with its documentation; the column list names every output column in order (a NamedTuple:
    Alembic loads this file outside ``sys.modules``)."""

    name: str
    comment: str
    columns: list[tuple[str, str]]
    query: str

    def statements(self) -> list[str]:
        names = ", ".join(name for name, _ in self.columns)
        statements = [f"CREATE VIEW {self.name} ({names}) AS {self.query}",
                      f"COMMENT ON VIEW {self.name} IS {literal(self.comment)}"]
        statements += [f"COMMENT ON COLUMN {self.name}.{name} IS {literal(comment)}" for name, comment in self.columns]
        statements.append(f"GRANT SELECT ON {self.name} TO passerelle_bi")
        return statements


VAT_SUMMARY = View(
    "marts.vat_summary", "VAT invoiced per month of issue (BT-2), processing rule, category, rate and VAT point, "
                         "in EUR; credit notes on their own issue date, amounts negative. A document with several "
                         "rates counts in each of its rows: add the counts of one row, never of several.", [
        ("month", "First day of the month of issue (BT-2)."),
        ("processing_rule", "B2B, B2BINT or B2C."),
        ("vat_category", "BT-118."),
        ("vat_rate", "BT-119."),
        ("vat_point", "BT-8: invoice, delivery or payment."),
        ("vat_due_on", "debits (VAT due on the invoice), delivery (goods) or receipts (encaissements: due when "
                       "cashed, see marts.vat_due_on_receipts)."),
        ("invoices", "Distinct invoices (BT-3 380) issued in the month with a row at this category and rate."),
        ("credit_notes", "Distinct credit notes (BT-3 381) issued in the month with a row at this category and rate."),
        ("taxable_eur", "Taxable base (BT-116) in EUR, credit notes deducted."),
        ("vat_eur", "VAT (BT-117) in EUR, credit notes deducted."),
    ], """
        SELECT date_trunc('month', issue_date)::date, processing_rule, vat_category, vat_rate, vat_point,
               CASE vat_point WHEN 'payment' THEN 'receipts' WHEN 'delivery' THEN 'delivery' ELSE 'debits' END,
               count(DISTINCT invoice_number) FILTER (WHERE sign > 0)::integer,
               count(DISTINCT invoice_number) FILTER (WHERE sign < 0)::integer,
               sum(sign * taxable_eur), sum(sign * tax_eur)
          FROM marts.invoice_vat_eur
         GROUP BY 1, 2, 3, 4, 5, 6""")

PAYMENT_VAT_PARTS = View(
    "marts.payment_vat_parts", "Every payment received on a document whose VAT is due on receipt (encaissements), "
                               "split per VAT rate as status 212 and Flux 10.2/10.4 carry it (BR-FR-CDV-14): "
                               "shares of the rates' VAT-inclusive totals, half-up to the cent, the leftover cent "
                               "on the largest rate (ties: first category, then highest rate).", [
        ("payment_id", "billing.payments."),
        ("invoice_number", "BT-1 of the document paid."),
        ("type_code", "BT-3: 380 invoice, 381 credit note (a refund)."),
        ("sign", "1 for money received on an invoice, -1 for a refund on a credit note."),
        ("paid_on", "Day the money was received (date d'encaissement)."),
        ("processing_rule", "B2B, B2BINT or B2C."),
        ("vat_category", "BT-118 of the document's rows at this rate, comma-separated when several share it."),
        ("vat_rate", "BT-119 (0 when absent)."),
        ("currency", "BT-5."),
        ("cashed_amount", "Part of the payment at this rate, VAT included, invoice currency (unsigned); the parts "
                          "of a payment add up to its amount."),
        ("tax_amount", "VAT inside that part: cashed_amount × the rate's BT-117 / its VAT-inclusive total, to the "
                       "cent, invoice currency."),
        ("cashed_eur", "cashed_amount in EUR: as is for EUR documents, else × eur_per_unit to the cent."),
        ("vat_eur", "tax_amount in EUR, the same way."),
        ("taxable_eur", "cashed_eur − vat_eur."),
    ], """
        WITH rates AS (
            SELECT invoice_number, coalesce(vat_rate, 0)::numeric(5,2) AS vat_rate,
                   string_agg(DISTINCT vat_category, ',' ORDER BY vat_category) AS categories,
                   min(vat_category) AS first_category,
                   sum(taxable_amount + tax_amount) AS total, sum(tax_amount) AS tax
              FROM marts.invoice_vat_breakdown
             GROUP BY invoice_number, coalesce(vat_rate, 0)::numeric(5,2)
        ), shares AS (
            SELECT p.payment_id, p.invoice_number, i.type_code, p.paid_on, i.processing_rule, i.currency,
                   i.eur_per_unit, p.amount, r.vat_rate, r.categories, r.total, r.tax,
                   round(p.amount * r.total / sum(r.total) OVER (PARTITION BY p.payment_id), 2) AS share,
                   sum(r.total) OVER (PARTITION BY p.payment_id) AS grand_total,
                   row_number() OVER (PARTITION BY p.payment_id
                                      ORDER BY r.total DESC, r.first_category, r.vat_rate DESC) AS largest
              FROM billing.payments AS p
              JOIN marts.invoices AS i ON i.invoice_number = p.invoice_number
              JOIN rates AS r ON r.invoice_number = p.invoice_number
             WHERE i.vat_point = 'payment' AND i.status = 'ready'
        ), parts AS (
            SELECT *, share + CASE WHEN largest = 1 THEN amount - sum(share) OVER (PARTITION BY payment_id)
                                   ELSE 0 END AS cashed
              FROM shares WHERE grand_total > 0
        ), taxed AS (
            SELECT *, CASE WHEN total = 0 THEN 0 ELSE round(cashed * tax / total, 2) END AS tax_part FROM parts
        ), converted AS (
            SELECT *, CASE WHEN currency = 'EUR' THEN cashed ELSE round(cashed * eur_per_unit, 2) END AS cashed_eur,
                      CASE WHEN currency = 'EUR' THEN tax_part ELSE round(tax_part * eur_per_unit, 2) END AS vat_eur
              FROM taxed
        )
        SELECT payment_id, invoice_number, type_code, CASE WHEN type_code = '381' THEN -1 ELSE 1 END, paid_on,
               processing_rule, categories, vat_rate, currency, cashed, tax_part, cashed_eur, vat_eur,
               cashed_eur - vat_eur
          FROM converted""")

VAT_DUE_ON_RECEIPTS = View(
    "marts.vat_due_on_receipts", "VAT cashed per month of receipt (date d'encaissement) on documents whose VAT is "
                                 "due on receipt, in EUR: the sum of marts.payment_vat_parts; refunds on credit "
                                 "notes negative.", [
        ("month", "First day of the month the money was received."),
        ("processing_rule", "B2B, B2BINT or B2C."),
        ("vat_category", "BT-118 (comma-separated when categories share the rate)."),
        ("vat_rate", "BT-119."),
        ("payments", "Distinct payments with a part at this rate."),
        ("invoices", "Distinct documents they paid."),
        ("cashed_eur", "Amount cashed at this rate, VAT included, in EUR."),
        ("taxable_eur", "Taxable base cashed, in EUR."),
        ("vat_eur", "VAT due for the month on what was cashed, in EUR (each payment's part rounded to the cent)."),
    ], """
        SELECT date_trunc('month', paid_on)::date, processing_rule, vat_category, vat_rate,
               count(DISTINCT payment_id)::integer, count(DISTINCT invoice_number)::integer,
               sum(sign * cashed_eur), sum(sign * taxable_eur), sum(sign * vat_eur)
          FROM marts.payment_vat_parts
         GROUP BY 1, 2, 3, 4""")


def upgrade() -> None:
    bind = op.get_bind()
    statements = ["DROP VIEW marts.vat_due_on_receipts", "DROP VIEW marts.vat_summary"]
    for view in (VAT_SUMMARY, PAYMENT_VAT_PARTS, VAT_DUE_ON_RECEIPTS):
        statements += view.statements()
    for statement in statements:
        # psycopg2 reads % as a placeholder even without parameters.
        bind.exec_driver_sql(statement.replace("%", "%%"))


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
