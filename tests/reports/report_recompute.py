"""The compliance report's tables recomputed from the issued CII files and the test's own inputs, and the
tables read back from the HTML page.

Shares no SQL and no Python with the production path (:mod:`passerelle.reports`, the report views): the CII
is read by :mod:`tests.ereporting.flux10_recompute`, the documented rules are written again here. What
the CII cannot say comes from the test: the payments and lifecycle statuses it recorded, and the exchange
rate a foreign-currency invoice was issued at (BT-111 is on the document, the rate is not).

Documented rules recomputed:

* VAT invoiced (basis: issue date BT-2, per month): each VAT row in EUR (BT-116 × rate to the cent; BT-111
  shared over the rows pro rata of BT-117, the leftover cent on the largest row), credit notes negative on
  their own issue date; counts are distinct invoices and credit notes per row, and in the total;
* VAT due on receipts (basis: day the money was received, per month): each payment split per rate as
  status 212 says (:func:`tests.ereporting.flux10_recompute.cashed_split`), each part to EUR at the
  invoice's rate to the cent, its VAT likewise, the base the difference; refunds on credit notes negative;
* lifecycle (basis: issue date): each document issued in the period once, under its latest status.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import lxml.html

from tests.ereporting.flux10_recompute import CiiDocument, Payment, cashed_split, cents, eur_rows

ZERO = Decimal("0.00")


def vat_rate(category: str, rate: Decimal) -> Decimal | None:
    """BT-119 as a key: none for out-of-scope rows (category O), else to the cent."""
    return None if category == "O" else rate.quantize(Decimal("0.01"))


def _month(day: date) -> str:
    return day.strftime("%Y-%m")


def _due_on(vat_point: str) -> str:
    return {"payment": "receipts", "delivery": "delivery"}.get(vat_point, "debits")


@dataclass(frozen=True)
class Table:
    """A report table in comparable form: rows by key, and the total row."""

    rows: dict[tuple, tuple]
    total: tuple


def vat_invoiced(documents: Iterable[CiiDocument], start: date, end: date,
                 eur_per_unit: dict[str, Decimal]) -> Table:
    """Key (month, rule, category, rate, VAT due on) → (invoices, credit notes, base EUR, VAT EUR)."""
    numbers: dict[tuple, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    amounts: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    invoices, credit_notes = set(), set()
    for document in documents:
        if not start <= document.issue_date <= end:
            continue
        (credit_notes if document.sign < 0 else invoices).add(document.number)
        for row, base_eur, tax_eur in eur_rows(document, eur_per_unit.get(document.number)):
            key = (_month(document.issue_date), document.rule, row.category, vat_rate(row.category, row.rate),
                   _due_on(document.vat_point))
            numbers[key][1 if document.sign < 0 else 0].add(document.number)
            amounts[key][0] += document.sign * base_eur
            amounts[key][1] += document.sign * tax_eur
    rows = {key: (len(numbers[key][0]), len(numbers[key][1]), *amounts[key]) for key in amounts}
    return Table(rows, (len(invoices), len(credit_notes), sum((r[2] for r in rows.values()), ZERO),
                        sum((r[3] for r in rows.values()), ZERO)))


def vat_on_receipts(documents: dict[str, CiiDocument], payments: Iterable[Payment], start: date, end: date,
                    eur_per_unit: dict[str, Decimal]) -> Table:
    """Key (month, rule, categories, rate) → (payments, cashed EUR, base EUR, VAT EUR); total (payments,
    cashed, base, VAT) counting each payment once."""
    ids: dict[tuple, set[int]] = defaultdict(set)
    amounts: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    counted: set[int] = set()
    for index, payment in enumerate(payments):
        document = documents[payment.number]
        if not start <= payment.paid_on <= end or document.vat_point != "payment":
            continue
        counted.add(index)
        rate = eur_per_unit.get(document.number) if document.currency != "EUR" else None
        for vat_rate, cashed, vat, categories in cashed_split(document, payment.amount):
            cashed_eur = cents(cashed * rate) if rate is not None else cashed
            vat_eur = cents(vat * rate) if rate is not None else vat
            key = (_month(payment.paid_on), document.rule, categories, vat_rate)
            ids[key].add(index)
            for position, value in enumerate((cashed_eur, cashed_eur - vat_eur, vat_eur)):
                amounts[key][position] += document.sign * value
    rows = {key: (len(ids[key]), *values) for key, values in amounts.items()}
    return Table(rows, (len(counted), *(sum((r[i] for r in rows.values()), ZERO) for i in (1, 2, 3))))


def lifecycle(documents: Iterable[CiiDocument], start: date, end: date,
              events: Iterable[tuple[str, int, datetime]]) -> Table:
    """Latest status code (None: none yet) → documents issued in the period; events are (number, code, at) in
    the order they were recorded (the later one wins a tie)."""
    latest: dict[str, tuple[datetime, int]] = {}
    for number, code, at in events:
        if number not in latest or at >= latest[number][0]:
            latest[number] = (at, code)
    counts: dict[tuple, int] = defaultdict(int)
    for document in documents:
        if start <= document.issue_date <= end:
            counts[(latest[document.number][1] if document.number in latest else None,)] += 1
    return Table({key: (count,) for key, count in counts.items()}, (sum(counts.values()),))


# --- the HTML page, read back -------------------------------------------------------------------------------

# The page speaks French (the default): its labels read back into the warehouse's codes.
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
CATEGORIES = {"Taux normal": "S", "Taux zéro": "Z", "Exonérée": "E", "Autoliquidation": "AE",
              "Livraison intracommunautaire": "K", "Exportation hors UE": "G", "Hors champ de la TVA": "O"}
DUE_ON = {"Débits": "debits", "Livraison": "delivery", "Encaissements": "receipts"}
NO_STATUS = "Pas encore de statut"


def _number(text: str) -> Decimal:
    """``-1 234,56 €`` (French: narrow no-break space between thousands, decimal comma) as a Decimal."""
    assert text.endswith("\u00a0€"), text
    return Decimal(text[:-2].replace("\u202f", "").replace(",", "."))


def _rate(text: str) -> Decimal | None:
    if text == "—":
        return None
    assert text.endswith("\u202f%"), text
    return Decimal(text[:-2].replace(",", ".")).quantize(Decimal("0.01"))


def _count(text: str) -> int:
    return int(text.replace("\u202f", ""))


def _read_month(text: str) -> str:
    """``mars 2026`` → ``2026-03``."""
    name, year = text.split()
    return f"{year}-{MONTHS.index(name) + 1:02d}"


def _rule(text: str) -> str:
    """``Entreprise en France (B2B)`` → ``B2B``."""
    code = re.fullmatch(r".+ \((B2B|B2BINT|B2C)\)", text)
    assert code, text
    return code.group(1)


def _categories(text: str) -> str:
    return ",".join(CATEGORIES[name] for name in text.split(", "))


def html_tables(page: str) -> dict[str, list[list[str]]]:
    """Every table of the page under an ``<h3>`` heading, by its heading text: rows of cell texts, header and
    total rows included."""
    root = lxml.html.fromstring(page)
    tables = {}
    for heading in root.iter("h3"):
        table = heading.getnext()
        while table is not None and table.tag != "table":
            table = table.getnext()
        assert table is not None, heading.text_content()
        tables[heading.text_content()] = [[cell.text_content() for cell in row.iter("td", "th")]
                                          for row in table.iter("tr")]
    return tables


def _body_and_total(rows: list[list[str]]) -> tuple[list[list[str]], list[str]]:
    assert rows[-1][0] == "Total", rows[-1]
    return rows[1:-1], rows[-1]


def html_vat_invoiced(rows: list[list[str]]) -> Table:
    body, total = _body_and_total(rows)
    parsed = {}
    for month, rule, category, rate, due_on, invoices, credit_notes, base, vat in body:
        key = (_read_month(month), _rule(rule), _categories(category), _rate(rate), DUE_ON[due_on])
        assert key not in parsed, key
        parsed[key] = (_count(invoices), _count(credit_notes), _number(base), _number(vat))
    return Table(parsed, (_count(total[5]), _count(total[6]), _number(total[7]), _number(total[8])))


def html_vat_on_receipts(rows: list[list[str]]) -> Table:
    body, total = _body_and_total(rows)
    parsed = {}
    for month, rule, categories, rate, payments, cashed, base, vat in body:
        key = (_read_month(month), _rule(rule), _categories(categories), _rate(rate))
        assert key not in parsed, key
        parsed[key] = (_count(payments), _number(cashed), _number(base), _number(vat))
    return Table(parsed, (_count(total[4]), _number(total[5]), _number(total[6]), _number(total[7])))


def html_lifecycle(rows: list[list[str]]) -> Table:
    body, total = _body_and_total(rows)
    parsed = {}
    for label, count in body:
        code = None if label == NO_STATUS else int(label.split()[0])
        parsed[(code,)] = (_count(count),)
    return Table(parsed, (_count(total[1]),))
