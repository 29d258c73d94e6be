"""Flux 10 transactions recomputed from the issued CII files alone, and compared figure by figure.

Shares no SQL and no Python with the production path (:mod:`passerelle.ereporting.invoice_amounts`,
:mod:`passerelle.compliance.ereporting_run`): the CII is read with XPath, the Flux 10 XML likewise, and
the documented allocation rule is written again here from its text, with its own rounding.

What the CII cannot say, the caller supplies:

* the nature of a line. BT-23's first letter (B goods, S services, M both) is document level, and the
  EN 16931 CII the project emits has no per-line goods/services indicator. A ``B`` or ``S`` invoice settles
  every line; for an ``M`` invoice the line's BT-155 (seller item id: the product key for catalogue lines,
  absent for time) is judged by the project's convention, given as ``goods_item`` (on the sandbox data:
  the product's family is "Matériel" or its SKU starts with ``MAT-``);
* the EUR exchange rate of a foreign-currency invoice (the CII only carries BT-111, the VAT in EUR), given
  as ``eur_per_unit`` (the rate the invoice was issued at).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from lxml import etree

NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
      "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"}
ONE_CENT = Decimal("0.01")
GOODS, SERVICES, NOT_TAXABLE = "TLB1", "TPS1", "TNT1"
TAXED_IN_FRANCE = {"S", "Z", "E"}


def cents(value: Decimal) -> Decimal:
    return value.quantize(ONE_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CiiLine:
    net: Decimal  # BT-131
    category: str  # BT-151
    rate: Decimal  # BT-152 (0 when absent)
    item_id: str | None  # BT-155


@dataclass(frozen=True)
class CiiVat:
    category: str  # BT-118
    rate: Decimal  # BT-119 (0 when absent)
    base: Decimal  # BT-116
    tax: Decimal  # BT-117


@dataclass(frozen=True)
class CiiDocument:
    number: str
    type_code: str
    issue_date: date
    nature: str  # BT-23's first letter
    rule: str  # BAR note
    currency: str
    tax_basis_total: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    tax_total_eur: Decimal | None  # BT-111
    lines: tuple[CiiLine, ...]
    vat: tuple[CiiVat, ...]
    vat_point: str = ""  # BT-8 as words: invoice (5), delivery (29), payment (72); "" when absent

    @property
    def sign(self) -> int:
        return -1 if self.type_code == "381" else 1


def _d(node: etree._Element, path: str) -> Decimal:
    text = node.findtext(path, namespaces=NS)
    return Decimal(text) if text not in (None, "") else Decimal(0)


def parse_cii(content: bytes) -> CiiDocument:
    root = etree.fromstring(content)
    x = lambda path: root.xpath(path, namespaces=NS)  # noqa: E731
    settlement = x("/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement")[0]
    currency = settlement.findtext("ram:InvoiceCurrencyCode", namespaces=NS)
    summation = settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    tax_totals = {node.get("currencyID"): Decimal(node.text) for node in summation.iterfind("ram:TaxTotalAmount", NS)}
    lines = tuple(CiiLine(
        _d(item, "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"),
        item.findtext("ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode", namespaces=NS),
        _d(item, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent"),
        item.findtext("ram:SpecifiedTradeProduct/ram:SellerAssignedID", namespaces=NS))
        for item in x("//ram:IncludedSupplyChainTradeLineItem"))
    vat = tuple(CiiVat(tax.findtext("ram:CategoryCode", namespaces=NS), _d(tax, "ram:RateApplicablePercent"),
                       _d(tax, "ram:BasisAmount"), _d(tax, "ram:CalculatedAmount"))
                for tax in settlement.iterfind("ram:ApplicableTradeTax", NS))
    due_codes = {node.text for node in settlement.iterfind("ram:ApplicableTradeTax/ram:DueDateTypeCode", NS)}
    assert len(due_codes) <= 1, f"several BT-8 codes: {due_codes}"
    vat_point = {"5": "invoice", "29": "delivery", "72": "payment"}.get(next(iter(due_codes), ""), "")
    rule = [note.findtext("ram:Content", namespaces=NS) for note in x("/rsm:CrossIndustryInvoice/rsm:ExchangedDocument"
                                                                      "/ram:IncludedNote[ram:SubjectCode='BAR']")]
    return CiiDocument(
        number=x("string(/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID)"),
        type_code=x("string(/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode)"),
        issue_date=datetime.strptime(x("string(/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:IssueDateTime"
                                       "/udt:DateTimeString)"), "%Y%m%d").date(),
        nature=x("string(//rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter"
                 "/ram:ID)")[:1],
        rule=rule[0] if rule else "", currency=currency,
        tax_basis_total=_d(summation, "ram:TaxBasisTotalAmount"), tax_total=tax_totals.get(currency, Decimal(0)),
        tax_total_eur=tax_totals.get("EUR") if currency != "EUR" else None, lines=lines, vat=vat,
        vat_point=vat_point)


def read_documents(paths: Iterable[Path]) -> list[CiiDocument]:
    return [parse_cii(Path(path).read_bytes()) for path in paths]


def _share_out(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Pro rata to the cent; whatever rounding leaves goes to the biggest weight (earliest of equal ones)."""
    whole = sum(weights)
    parts = [cents(amount * w / whole) for w in weights]
    biggest = 0
    for index, weight in enumerate(weights):
        if weight > weights[biggest]:
            biggest = index
    parts[biggest] += amount - sum(parts)
    return parts


def eur_rows(document: CiiDocument, rate: Decimal | None) -> list[tuple[CiiVat, Decimal, Decimal]]:
    """Each VAT row with its base and VAT in EUR: BT-116 × rate to the cent; BT-111 over the rows pro rata
    of BT-117, the leftover cent on the row of largest BT-117 (then category, then rate ascending)."""
    if document.currency == "EUR":
        return [(row, row.base, row.tax) for row in document.vat]
    assert rate is not None and document.tax_total_eur is not None, document.number
    taxes = [Decimal(0)] * len(document.vat)
    if document.tax_total != 0:
        taxes = [cents(document.tax_total_eur * row.tax / document.tax_total) for row in document.vat]
        first = min(range(len(document.vat)),
                    key=lambda i: (-document.vat[i].tax, document.vat[i].category, document.vat[i].rate))
        taxes[first] += document.tax_total_eur - sum(taxes)
    return [(row, cents(row.base * rate), tax) for row, tax in zip(document.vat, taxes)]


def operation_parts(document: CiiDocument, goods_item: Callable[[str | None], bool],
                    eur_per_unit: Decimal | None) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(operation category, rate, base EUR, VAT EUR) of every VAT row, unsigned."""
    result = []
    for row, base_eur, tax_eur in eur_rows(document, eur_per_unit):
        def kind(line: CiiLine) -> str:
            if row.category not in TAXED_IN_FRANCE:
                return NOT_TAXABLE
            goods = {"B": True, "S": False}.get(document.nature)
            return GOODS if (goods if goods is not None else goods_item(line.item_id)) else SERVICES
        nets: dict[str, Decimal] = {}
        counts: dict[str, int] = {}
        for line in document.lines:
            if line.category == row.category and (row.category == "O" or line.rate == row.rate):
                nets[kind(line)] = nets.get(kind(line), Decimal(0)) + line.net
                counts[kind(line)] = counts.get(kind(line), 0) + 1
        kinds = [k for k in (GOODS, SERVICES, NOT_TAXABLE) if k in counts]
        if not kinds:
            kinds = [NOT_TAXABLE if row.category not in TAXED_IN_FRANCE
                     else GOODS if document.nature == "B" else SERVICES]
            weights = [Decimal(1)]
        else:
            weights = [nets[k] for k in kinds] if sum(nets.values()) != 0 else [Decimal(counts[k]) for k in kinds]
        for k, base, tax in zip(kinds, _share_out(base_eur, weights), _share_out(tax_eur, weights)):
            result.append((k, row.rate, base, tax))
    return result


Day = tuple[str, str]  # (YYYYMMDD, category)


def expected_b2c(documents: Iterable[CiiDocument], start: date, end: date, goods_item: Callable[[str | None], bool],
                 rates: dict[str, Decimal]) -> dict[Day, tuple[int, dict[Decimal, tuple[Decimal, Decimal]]]]:
    """10.3 per (day, category): the number of documents and, per rate, (base, VAT) in EUR, credit notes negative."""
    sums: dict[Day, dict[Decimal, list[Decimal]]] = defaultdict(dict)
    numbers: dict[Day, set[str]] = defaultdict(set)
    for document in documents:
        if document.rule != "B2C" or not start <= document.issue_date <= end:
            continue
        for kind, rate, base, tax in operation_parts(document, goods_item, rates.get(document.number)):
            key = (document.issue_date.strftime("%Y%m%d"), kind)
            total = sums[key].setdefault(rate.quantize(ONE_CENT), [Decimal(0), Decimal(0)])
            total[0] += document.sign * base
            total[1] += document.sign * tax
            numbers[key].add(document.number)
    return {key: (len(numbers[key]), {rate: (b, t) for rate, (b, t) in per_rate.items()})
            for key, per_rate in sums.items()}


def expected_unitary(documents: Iterable[CiiDocument], start: date, end: date) -> dict[str, tuple]:
    """10.1 per invoice: type, BT-109, VAT in EUR (BT-111, or BT-110 in EUR) and the BG-23 rows."""
    return {d.number: (d.type_code, d.tax_basis_total, d.tax_total_eur if d.tax_total_eur is not None else d.tax_total,
                       sorted((row.category, row.rate.quantize(ONE_CENT), row.base, row.tax) for row in d.vat))
            for d in documents if d.rule == "B2BINT" and start <= d.issue_date <= end}


def reported(flux10: bytes) -> tuple[date, date, dict[Day, tuple[int, dict]], dict[str, tuple], list[str]]:
    """What a Flux 10 transactions report says, in the shapes of the expectations; plus its internal
    inconsistencies (a day's totals that are not the sum of its rates)."""
    root = etree.fromstring(flux10)
    day = lambda text: datetime.strptime(text, "%Y%m%d").date()  # noqa: E731
    start = day(root.findtext("TransactionsReport/ReportPeriod/StartDate"))
    end = day(root.findtext("TransactionsReport/ReportPeriod/EndDate"))
    problems: list[str] = []
    days: dict[Day, tuple[int, dict]] = {}
    for node in root.iterfind("TransactionsReport/Transactions"):
        key = (node.findtext("Date"), node.findtext("CategoryCode"))
        assert key not in days, f"10.3 {key} reported twice"
        rows = {Decimal(r.findtext("TaxPercent")): (Decimal(r.findtext("TaxableAmount")), Decimal(r.findtext("TaxTotal")))
                for r in node.iterfind("TaxSubtotal")}
        if Decimal(node.findtext("TaxExclusiveAmount")) != sum(b for b, _ in rows.values()):
            problems.append(f"10.3 {key}: TaxExclusiveAmount is not the sum of its rates")
        if Decimal(node.findtext("TaxTotal")) != sum(t for _, t in rows.values()):
            problems.append(f"10.3 {key}: TaxTotal is not the sum of its rates")
        days[key] = (int(node.findtext("TransactionsCount")), rows)
    invoices = {}
    for node in root.iterfind("TransactionsReport/Invoice"):
        invoices[node.findtext("ID")] = (
            node.findtext("TypeCode"), Decimal(node.findtext("MonetaryTotal/TaxExclusiveAmount")),
            Decimal(node.findtext("MonetaryTotal/TaxAmount")),
            sorted((s.findtext("TaxCategory/Code"), Decimal(s.findtext("TaxCategory/Percent")),
                    Decimal(s.findtext("TaxableAmount")), Decimal(s.findtext("TaxAmount")))
                   for s in node.iterfind("TaxSubTotal")))
    return start, end, days, invoices, problems


def differences(flux10_files: Iterable[bytes], documents: list[CiiDocument], goods_item: Callable[[str | None], bool],
                rates: dict[str, Decimal]) -> tuple[list[str], int]:
    """Every figure of the reports that differs from the recomputation, and how many figures were compared."""
    problems: list[str] = []
    compared = 0
    for content in flux10_files:
        start, end, days, invoices, inner = reported(content)
        problems += inner
        want_days = expected_b2c(documents, start, end, goods_item, rates)
        for key in sorted(set(days) | set(want_days)):
            got, want = days.get(key), want_days.get(key)
            compared += 1
            if got != want:
                problems.append(f"10.3 {start}..{end} {key}: reported {got}, recomputed {want}")
        want_invoices = expected_unitary(documents, start, end)
        for number in sorted(set(invoices) | set(want_invoices)):
            compared += 1
            if invoices.get(number) != want_invoices.get(number):
                problems.append(f"10.1 {number}: reported {invoices.get(number)}, recomputed {want_invoices.get(number)}")
    return problems, compared


# --- Flux 10.2 / 10.4: payments ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Payment:
    """One row of the payments the test recorded (billing.payments' inputs)."""

    number: str
    paid_on: date
    amount: Decimal  # VAT included, invoice currency


def cashed_split(document: CiiDocument, amount: Decimal) -> list[tuple[Decimal, Decimal, Decimal, str]]:
    """(rate, cashed, VAT inside, categories) of one payment, from the documented rule (status 212, BR-FR-CDV-14):
    the rows are merged per rate whatever their category; each rate takes amount × its VAT-inclusive total /
    the document's, half-up to the cent; the cents left over go to the rate of largest total (on equal totals
    the one whose first category sorts first, then the highest rate); the VAT inside is cashed × the rate's
    VAT / its VAT-inclusive total, to the cent."""
    per_rate: dict[Decimal, list] = {}
    for row in document.vat:
        entry = per_rate.setdefault(row.rate.quantize(ONE_CENT), [Decimal(0), Decimal(0), set()])
        entry[0] += row.base + row.tax
        entry[1] += row.tax
        entry[2].add(row.category)
    whole = sum(total for total, _, _ in per_rate.values())
    assert 0 < amount <= whole, (document.number, amount, whole)
    order = sorted(per_rate, key=lambda r: (-per_rate[r][0], min(per_rate[r][2]), -r))
    cashed = {r: cents(amount * per_rate[r][0] / whole) for r in order}
    cashed[order[0]] += amount - sum(cashed.values())
    return [(r, cashed[r], cents(cashed[r] * per_rate[r][1] / per_rate[r][0]) if per_rate[r][0] else Decimal("0.00"),
             ",".join(sorted(per_rate[r][2]))) for r in order]


def _reported_on_receipt(document: CiiDocument) -> bool:
    """What Flux 10.2/10.4 carry: invoices (not credit notes) taxed on receipt, B2BINT or B2C, with a
    standard-rated (S) row."""
    return (document.vat_point == "payment" and document.type_code == "380" and document.rule in ("B2BINT", "B2C")
            and any(row.category == "S" for row in document.vat))


def expected_payments(documents: dict[str, CiiDocument], payments: Iterable[Payment], start: date, end: date,
                      eur_per_unit: dict[str, Decimal]) -> tuple[dict[tuple[str, str], dict], dict[str, dict]]:
    """10.2 per (invoice, day) and 10.4 per day: the EUR amount received per rate. 10.2 entries are one per
    payment (two payments of one invoice on one day are listed apart, so they are summed here and in the
    reading); 10.4 sums each day's B2C parts converted at the invoice's rate, then rounds to the cent."""
    unitary: dict[tuple[str, str], dict[Decimal, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    daily: dict[str, dict[Decimal, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for payment in payments:
        document = documents[payment.number]
        if not start <= payment.paid_on <= end or not _reported_on_receipt(document):
            continue
        day = payment.paid_on.strftime("%Y%m%d")
        for rate, cashed, _, _ in cashed_split(document, payment.amount):
            if document.rule == "B2BINT":
                assert document.currency == "EUR", f"10.2 of {document.number}: {document.currency}"
                unitary[(document.number, day)][rate] += cashed
            else:
                daily[day][rate] += cashed * eur_per_unit.get(document.number, Decimal(1))
    return ({key: dict(rates) for key, rates in unitary.items()},
            {day: {rate: cents(total) for rate, total in rates.items()} for day, rates in daily.items()})


def reported_payments(flux10: bytes) -> tuple[date, date, dict[tuple[str, str], dict], dict[str, dict]]:
    """What a 10.2/10.4 transmission says, in the shapes of :func:`expected_payments`."""
    root = etree.fromstring(flux10)
    day = lambda text: datetime.strptime(text, "%Y%m%d").date()  # noqa: E731
    start = day(root.findtext("PaymentsReport/ReportPeriod/StartDate"))
    end = day(root.findtext("PaymentsReport/ReportPeriod/EndDate"))

    def amounts(payment: etree._Element) -> dict[Decimal, Decimal]:
        rows: dict[Decimal, Decimal] = defaultdict(Decimal)
        for subtotal in payment.iterfind("SubTotals"):
            assert subtotal.findtext("CurrencyCode") == "EUR"
            rows[Decimal(subtotal.findtext("TaxPercent"))] += Decimal(subtotal.findtext("Amount"))
        return rows

    unitary: dict[tuple[str, str], dict[Decimal, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for node in root.iterfind("PaymentsReport/Invoice"):
        for payment in node.iterfind("Payment"):
            for rate, amount in amounts(payment).items():
                unitary[(node.findtext("InvoiceID"), payment.findtext("Date"))][rate] += amount
    daily: dict[str, dict[Decimal, Decimal]] = {}
    for node in root.iterfind("PaymentsReport/Transactions/Payment"):
        assert node.findtext("Date") not in daily, f"10.4 {node.findtext('Date')} reported twice"
        daily[node.findtext("Date")] = dict(amounts(node))
    return start, end, {key: dict(rates) for key, rates in unitary.items()}, daily


def payment_differences(flux10_files: Iterable[bytes], documents: list[CiiDocument], payments: list[Payment],
                        eur_per_unit: dict[str, Decimal]) -> tuple[list[str], int]:
    """Every 10.2/10.4 figure that differs from the recomputation, and how many figures were compared."""
    by_number = {document.number: document for document in documents}
    problems: list[str] = []
    compared = 0
    for content in flux10_files:
        start, end, unitary, daily = reported_payments(content)
        want_unitary, want_daily = expected_payments(by_number, payments, start, end, eur_per_unit)
        for key in sorted(set(unitary) | set(want_unitary)):
            compared += 1
            if unitary.get(key) != want_unitary.get(key):
                problems.append(f"10.2 {key}: reported {unitary.get(key)}, recomputed {want_unitary.get(key)}")
        for key in sorted(set(daily) | set(want_daily)):
            compared += 1
            if daily.get(key) != want_daily.get(key):
                problems.append(f"10.4 {key}: reported {daily.get(key)}, recomputed {want_daily.get(key)}")
    return problems, compared
