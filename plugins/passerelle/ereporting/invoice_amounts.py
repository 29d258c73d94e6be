"""The e-reporting amounts of an issued invoice: its stored VAT breakdown, split per operation category.

One source for every Flux 10 figure: 10.1 writes the breakdown rows (``marts.invoice_vat_breakdown``) and
BT-111; 10.3 sums the operation parts per day, category and rate; 10.2 and 10.4 split each payment over the
same rows (:func:`passerelle.ereporting.payments.cashed_per_rate`). Nothing is recomputed from the lines'
prices: the invoice says what it taxed, the lines only say how to share it out.

Operation category (TT-81, G1.68):

* ``TLB1`` goods / ``TPS1`` services subject to French VAT: VAT categories S, Z and E (taxable in France,
  possibly at 0 % or exempt), by the nature of the invoice lines;
* ``TNT1`` not subject to French VAT: categories K (intra-EU, distance sales included), G (export),
  AE (reverse charge: the buyer accounts for it) and O (out of scope);
* ``TMA1`` margin scheme: never produced, the seller does not invoice under the margin scheme.

Allocation rule (a mixed invoice, or document-level allowances and charges). For each breakdown row
(category, rate), BT-116 and BT-117 are shared between goods and services in proportion to the net
amounts (BT-131) of the row's goods lines and service lines; document-level allowances and charges of
that category and rate are thereby allocated pro rata of the line nets they apply to. Each part is
rounded half-up to the cent; the cent the rounding leaves (amount − Σ parts) goes to the part with the
largest line net, goods first on equal nets, so the parts add up exactly to BT-116 and BT-117. A row
whose lines net to zero is shared by line count; a row without any line (a charge at a rate no line has)
goes to the document's nature (BT-23 ``B``: goods, otherwise services). The EUR amounts are split the
same way from the row's EUR figures (``marts.invoice_vat_eur``: BT-116 × rate to the cent, BT-111 shared
pro rata of BT-117), so the parts of a foreign-currency invoice add up to its BT-111.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from passerelle.ereporting.categories import B2cCategory
from passerelle.einvoice.amounts import VatBreakdown
from passerelle.einvoice.model import CREDIT_NOTE, Exemption, VatCategory

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
TAXED_IN_FRANCE = frozenset({VatCategory.STANDARD, VatCategory.ZERO, VatCategory.EXEMPT})


@dataclass(frozen=True, slots=True)
class OperationPart:
    """The part of one breakdown row that belongs to one operation category (unsigned, as on the document)."""

    vat_category: VatCategory
    vat_rate: Decimal | None
    operation: B2cCategory
    base: Decimal  # share of BT-116, invoice currency
    vat: Decimal  # share of BT-117, invoice currency
    base_eur: Decimal
    vat_eur: Decimal


@dataclass(frozen=True, slots=True)
class IssuedAmounts:
    """What Flux 10 reports of one issued invoice or credit note."""

    number: str
    type_code: str
    issue_date: date
    processing_rule: str
    currency: str
    tax_basis_total: Decimal  # BT-109
    tax_total_eur: Decimal  # BT-110 for EUR invoices, BT-111 otherwise
    vat_breakdown: tuple[VatBreakdown, ...]  # BG-23 as stored
    parts: tuple[OperationPart, ...]

    @property
    def sign(self) -> int:
        """Credit notes weigh negative in the aggregates."""
        return -1 if self.type_code == CREDIT_NOTE else 1


def operation_of(category: VatCategory, is_goods: bool) -> B2cCategory:
    if category not in TAXED_IN_FRANCE:
        return B2cCategory.NOT_TAXABLE
    return B2cCategory.GOODS if is_goods else B2cCategory.SERVICES


def allocate(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``amount`` shared pro rata of ``weights`` to the cent, the leftover cent(s) on the largest weight (the
    first of equal ones); the parts always add up to ``amount``."""
    total = sum(weights, Decimal(0))
    if total == 0:
        raise ValueError("allocate: the weights add up to zero")
    shares = [(amount * weight / total).quantize(CENT, rounding=ROUND_HALF_UP) for weight in weights]
    largest = max(range(len(weights)), key=lambda i: (weights[i], -i))
    shares[largest] += amount - sum(shares, Decimal(0))
    return shares


def split_row(row: VatBreakdown, base_eur: Decimal, vat_eur: Decimal, line_nets: dict[B2cCategory, Decimal],
              line_counts: dict[B2cCategory, int], document_goods: bool) -> list[OperationPart]:
    """One breakdown row split per operation category (see the module's allocation rule)."""
    order = [op for op in (B2cCategory.GOODS, B2cCategory.SERVICES, B2cCategory.NOT_TAXABLE) if op in line_counts]
    if not order:
        order = [operation_of(row.category, document_goods)]
        weights = [Decimal(1)]
    elif sum((line_nets[op] for op in order), Decimal(0)) != 0:
        weights = [line_nets[op] for op in order]
    else:
        weights = [Decimal(line_counts[op]) for op in order]
    amounts = [allocate(value, weights) for value in (row.taxable_amount, row.tax_amount, base_eur, vat_eur)]
    return [OperationPart(row.category, row.rate, op, *(column[i] for column in amounts))
            for i, op in enumerate(order)]


def load_issued(cur: Any, numbers: Iterable[str]) -> list[IssuedAmounts]:
    """The e-reporting amounts of issued invoices, in the order of ``numbers``, from the marts."""
    numbers = list(numbers)
    if not numbers:
        return []
    cur.execute("""
        SELECT i.invoice_number, i.type_code, i.issue_date, i.processing_rule, i.currency, i.tax_basis_total,
               coalesce(i.tax_total_eur, i.tax_total), left(i.business_process, 1) = 'B'
          FROM marts.invoices AS i WHERE i.invoice_number = ANY(%s)""", (numbers,))
    headers = {row[0]: row for row in cur.fetchall()}
    cur.execute("""
        SELECT b.invoice_number, b.vat_category, b.vat_rate, b.taxable_amount, b.tax_amount, b.exemption_reason,
               b.exemption_code, v.taxable_eur, v.tax_eur
          FROM marts.invoice_vat_breakdown AS b
          JOIN marts.invoice_vat_eur AS v ON v.invoice_number = b.invoice_number
                                        AND v.vat_category = b.vat_category
                                        AND v.vat_rate IS NOT DISTINCT FROM b.vat_rate
         WHERE b.invoice_number = ANY(%s)
         ORDER BY b.invoice_number, b.vat_category, b.vat_rate DESC NULLS LAST""", (numbers,))
    rows: dict[str, list[tuple]] = {}
    for number, *row in cur.fetchall():
        rows.setdefault(number, []).append(tuple(row))
    cur.execute("""
        SELECT invoice_number, vat_category, vat_rate, is_goods, sum(net_amount), count(*)::integer
          FROM marts.invoice_lines WHERE invoice_number = ANY(%s)
         GROUP BY invoice_number, vat_category, vat_rate, is_goods""", (numbers,))
    lines: dict[tuple[str, str, Decimal | None], tuple[dict, dict]] = {}
    for number, category, rate, goods, net, count in cur.fetchall():
        nets, counts = lines.setdefault((number, category, _rate(category, rate)), ({}, {}))
        operation = operation_of(VatCategory(category), goods)
        nets[operation] = nets.get(operation, ZERO) + net
        counts[operation] = counts.get(operation, 0) + count
    result = []
    for number in numbers:
        _, type_code, issue_date, rule, currency, basis, tax_eur, goods = headers[number]
        breakdown, parts = [], []
        for category, rate, base, tax, reason, code, base_eur, row_tax_eur in rows.get(number, []):
            row = VatBreakdown(VatCategory(category), rate, base, tax, Exemption(reason, code) if reason else None)
            breakdown.append(row)
            nets, counts = lines.get((number, category, _rate(category, rate)), ({}, {}))
            parts += split_row(row, base_eur, row_tax_eur, nets, counts, goods)
        result.append(IssuedAmounts(number, type_code, issue_date, rule, currency, basis, tax_eur,
                                    tuple(breakdown), tuple(parts)))
    return result


def _rate(category: str, rate: Decimal | None) -> Decimal | None:
    return None if category == VatCategory.OUT_OF_SCOPE.value else (rate or ZERO).quantize(CENT)
