"""Billable items grouped into invoice drafts: one per customer and currency for a billing period, or two
(goods and services) when one VAT point (BT-8) cannot date both parts (see :func:`mentions.one_vat_point`).

A draft is a complete :class:`~passerelle.einvoice.model.Invoice` except for its number, which is only
assigned once the draft has passed validation (see :mod:`passerelle.invoicing.issue`). Deal lines become
one invoice line each; time is summed per project, rate and VAT rate into one line covering the days
worked (BT-134/135), so an invoice stays readable with thousands of entries behind it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.einvoice.amounts import business_process, round2
from passerelle.invoicing.mentions import (
    due_date, legal_notes, one_vat_point, payment_terms, seller_party, vat_point,
)
from passerelle.einvoice.model import (
    INVOICE, AllowanceCharge, Exemption, Invoice, InvoiceLine, Party, PostalAddress, ProcessingRule, VatCategory,
)
from passerelle.invoicing.seller import SellerConfig, VatRegime
from passerelle.invoicing.vat import line_vat, processing_rule
from passerelle.invoicing.vat_rules import combined

PLACEHOLDER_NUMBER = "DRAFT"


@dataclass(frozen=True, slots=True)
class TimeGroup:
    """The time items one invoice line sums: selected again in SQL when the ledger is written."""

    line_id: str
    project_key: str
    unit_price: Decimal
    vat_rate: Decimal
    item_name: str
    count: int


@dataclass(frozen=True, slots=True)
class Draft:
    """An invoice before numbering, with what its ledger rows will be.

    ``items`` are the deal-line items, (item_key, line_id, source_key, amount) each; time items are not
    held in memory (a period may have hundreds of thousands) but described by ``time_groups``.
    """

    invoice_key: str
    customer_key: str
    invoice: Invoice
    items: tuple[tuple[str, str, str, Decimal], ...]
    period_start: date
    period_end: date  # last day
    time_groups: tuple[TimeGroup, ...] = ()

    @property
    def currency(self) -> str:
        return self.invoice.currency

    def item_counts(self) -> dict[str, int]:
        counts = {group.line_id: group.count for group in self.time_groups}
        for _, line_id, _, _ in self.items:
            counts[line_id] = counts.get(line_id, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class DraftFailure:
    """A draft that could not be built (a line's VAT rate, its customer gone...): held with ``error``."""

    invoice_key: str
    customer_key: str
    currency: str
    period_end: date
    error: Exception


ITEM_COLUMNS = ("item_key", "item_kind", "source_key", "customer_key", "deal_key", "project_key", "billable_on",
                "item_name", "description", "product_key", "is_goods", "unit_code", "quantity", "unit_price",
                "discount_percent", "amount", "currency", "vat_rate")
TIME_NAMES = ("customer_key", "currency", "project_key", "unit_price", "vat_rate", "item_name", "hours", "count",
              "first_day", "last_day")
TIME_COLUMNS = TIME_NAMES[:6] + ("sum(quantity)", "count(*)", "min(billable_on)", "max(billable_on)")
CUSTOMER_COLUMNS = ("customer_key", "legal_name", "customer_type", "siren", "siret", "vat_number", "einvoicing_address",
                    "billing_street", "billing_postcode", "billing_city", "billing_country_code",
                    "delivery_street", "delivery_postcode", "delivery_city", "delivery_country_code", "email", "is_eu")


def load_drafts(conn: Any, seller: SellerConfig, period_start: date, period_end: date,
                failures: list[DraftFailure] | None = None) -> list[Draft]:
    """Drafts for the items of ``marts.billable_items`` billable by ``period_end`` (last day of the period).

    A draft that cannot be built raises, unless ``failures`` is given: it is then appended there and the
    other drafts are still built (issuing holds it with its reason).
    """
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM marts.billable_items"
                    " WHERE billable_on <= %s AND item_kind <> 'time'"
                    " ORDER BY customer_key, currency, billable_on, item_key", (period_end,))
        items = [dict(zip(ITEM_COLUMNS, row)) for row in cur.fetchall()]
        cur.execute(f"SELECT {', '.join(TIME_COLUMNS)} FROM marts.billable_items"
                    " WHERE billable_on <= %s AND item_kind = 'time'"
                    " GROUP BY customer_key, currency, project_key, unit_price, vat_rate, item_name"
                    " ORDER BY customer_key, currency, project_key, unit_price, vat_rate, item_name", (period_end,))
        times = [dict(zip(TIME_NAMES, row)) for row in cur.fetchall()]
        cur.execute(f"SELECT {', '.join('c.' + c for c in CUSTOMER_COLUMNS[:-2])},"
                    " (SELECT min(ct.email) FROM staging.contacts ct WHERE ct.customer_key = c.customer_key),"
                    " coalesce(rc.is_eu, false)"
                    " FROM staging.customers c LEFT JOIN reference.countries rc"
                    " ON rc.country_code = c.billing_country_code"
                    " WHERE c.customer_key IN (SELECT DISTINCT customer_key FROM marts.billable_items)")
        customers = {row[0]: dict(zip(CUSTOMER_COLUMNS, row)) for row in cur.fetchall()}
        cur.execute("SELECT DISTINCT ON (currency) currency, eur_per_unit FROM billing.exchange_rates"
                    " WHERE rate_date <= %s ORDER BY currency, rate_date DESC", (period_end,))
        rates = dict(cur.fetchall())
        cur.execute("SELECT invoice_key FROM marts.invoice_numbers WHERE invoice_key LIKE %s",
                    (f"{period_end.isoformat()}:%",))
        issued_keys = {row[0] for row in cur.fetchall()}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    time_groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        groups[(item["customer_key"], item["currency"])].append(item)
    for group in times:
        time_groups[(group["customer_key"], group["currency"])].append(group)
    drafts = []
    for customer_key, currency in sorted(set(groups) | set(time_groups)):
        group_items, group_times = groups.get((customer_key, currency), []), time_groups.get((customer_key, currency), [])
        goods = [item for item in group_items if item["is_goods"]]
        services = [item for item in group_items if not item["is_goods"]]
        # Goods and services go on separate invoices when one BT-8 cannot date the VAT of both.
        split = not one_vat_point(seller, has_goods=bool(goods), has_services=bool(services or group_times))
        if split:
            parts = {"B": (goods, []), "S": (services, group_times)}
        else:
            nature = "M" if goods and (services or group_times) else ("B" if goods else "S")
            parts = {nature: (group_items, group_times)}
        keys = _draft_keys(f"{period_end.isoformat()}:{customer_key}:{currency}", list(parts), split, issued_keys)
        for nature, (part_items, part_times) in parts.items():
            try:
                if customer_key not in customers:
                    raise LookupError(f"customer {customer_key} has billable items but is not in staging.customers")
                drafts.append(build_draft(keys[nature], seller, customers[customer_key], currency,
                                          rates.get(currency), part_items, part_times, period_start, period_end))
            except Exception as error:
                if failures is None:
                    raise
                failures.append(DraftFailure(keys[nature], customer_key, currency, period_end, error))
    return drafts


def _draft_keys(prefix: str, natures: list[str], split: bool, issued_keys: set[str]) -> dict[str, str]:
    """Invoice keys ``<prefix>:<n>`` (one draft) or ``<prefix>:<n>:B`` / ``<prefix>:<n>:S`` (goods and
    services split), with the first ``n`` none of them was issued under.

    A goods-only or services-only draft whose split counterpart is already issued under ``n`` keeps the
    split key, so a held part is issued under the key it was held with.
    """
    n = 1
    while True:
        base = f"{prefix}:{n}"
        taken = {key for key in issued_keys if key == base or key.startswith(base + ":")}
        if not taken:
            return {nature: f"{base}:{nature}" if split else base for nature in natures}
        if base not in taken and set(natures) <= {"B", "S"} and not {f"{base}:{nature}" for nature in natures} & taken:
            return {nature: f"{base}:{nature}" for nature in natures}
        n += 1


def build_draft(invoice_key: str, seller: SellerConfig, customer: dict[str, Any], currency: str,
                eur_per_unit: Decimal | None, items: list[dict[str, Any]], times: list[dict[str, Any]],
                period_start: date, period_end: date) -> Draft:
    rule = processing_rule(customer["customer_type"], customer["billing_country_code"])
    franchise = seller.vat_regime is VatRegime.FRANCHISE
    lines: list[InvoiceLine] = []
    ledger: list[tuple[str, str, str, Decimal]] = []
    exemptions: dict[tuple[VatCategory, Decimal | None], Exemption] = {}

    def add_line(item_name: str, description: str | None, quantity: Decimal, unit_code: str, price: Decimal,
                 discount: Decimal, vat_rate: Decimal, is_goods: bool, sources: list[dict[str, Any]],
                 start: date | None = None, end: date | None = None, item_id: str | None = None,
                 sources_named: str | None = None) -> str:
        line_id = str(len(lines) + 1)
        try:
            vat = line_vat(rule=rule, buyer_in_eu=customer["is_eu"], product_rate=vat_rate, is_goods=is_goods,
                           franchise=franchise)
        except ValueError as error:
            named = sources_named or ", ".join(s["source_key"] for s in sources[:3])
            raise ValueError(f"invoice {invoice_key}, line {item_name!r} ({named}): vat_rate: {error}") from error
        if vat.exemption:
            row = (vat.category, vat.rate.quantize(Decimal("0.01")))
            exemptions[row] = combined(exemptions.get(row), vat.exemption)  # one text per BG-23 row
        allowances: tuple[AllowanceCharge, ...] = ()
        if discount:
            base = round2(quantity * price)  # BT-137: the line's gross amount, rounded as BT-131 is
            allowances = (AllowanceCharge(False, round2(base * discount / 100), "Remise", "95", base, discount),)
        lines.append(InvoiceLine(line_id, item_name, quantity, unit_code, price, vat.category, vat.rate,
                                 description=description or None, seller_item_id=item_id,
                                 allowances_charges=allowances, period_start=start, period_end=end,
                                 is_goods=is_goods))
        ledger.extend((s["item_key"], line_id, s["source_key"], s["amount"]) for s in sources)
        return line_id

    for item in items:
        add_line(item["item_name"], item["description"], item["quantity"], item["unit_code"], item["unit_price"],
                 item["discount_percent"], item["vat_rate"], item["is_goods"], [item], item_id=item["product_key"])
    groups = []
    for group in times:
        first, last = group["first_day"], group["last_day"]
        line_id = add_line(group["item_name"], f"{group['count']} saisies de temps du {first:%d/%m/%Y} au {last:%d/%m/%Y}",
                           group["hours"], "HUR", group["unit_price"], Decimal("0"), group["vat_rate"], False, [],
                           start=first, end=last, sources_named=group["project_key"])
        groups.append(TimeGroup(line_id, group["project_key"], group["unit_price"], group["vat_rate"],
                                group["item_name"], group["count"]))

    buyer = buyer_party(customer, rule)
    delivery = delivery_address(customer)
    if delivery is None and any(line.vat_category is VatCategory.INTRA_EU for line in lines):
        delivery = buyer.address  # BR-IC-12: an intra-community supply names the deliver-to country (BT-80)
    issue_date = period_end
    invoice = Invoice(
        number=PLACEHOLDER_NUMBER, issue_date=issue_date, type_code=INVOICE, currency=currency,
        seller=seller_party(seller), buyer=buyer, lines=tuple(lines), processing_rule=rule,
        vat_point=vat_point(seller, has_services=any(not line.is_goods for line in lines)),
        due_date=due_date(seller, issue_date), payment_terms=payment_terms(seller), notes=legal_notes(seller),
        business_process=business_process(lines), exemptions=exemptions,
        eur_per_unit=eur_per_unit if currency != "EUR" else None,
        period_start=period_start, period_end=period_end, delivery_date=period_end,
        delivery_address=delivery, iban=seller.iban, bic=seller.bic,
    )
    return Draft(invoice_key, customer["customer_key"], invoice, tuple(ledger), period_start, period_end,
                 tuple(groups))


def with_issue_date(draft: Draft, number: str, issue_date: date, seller: SellerConfig) -> Invoice:
    """The draft as issued: its number, and its dates when a backfill had to date it after later invoices."""
    return replace(draft.invoice, number=number, issue_date=issue_date, due_date=due_date(seller, issue_date))


def buyer_party(customer: dict[str, Any], rule: ProcessingRule) -> Party:
    address = PostalAddress(customer["billing_street"], customer["billing_postcode"], customer["billing_city"],
                            customer["billing_country_code"])
    name = customer["legal_name"] or customer["customer_key"]
    if rule is ProcessingRule.B2B:
        return Party(name, address, siren=customer["siren"], siret=customer["siret"],
                     vat_number=customer["vat_number"], electronic_address=customer["einvoicing_address"])
    # Outside the French directory, BT-49 (mandatory, BR-FR-12) is the buyer's e-mail (scheme EM).
    return Party(name, address, vat_number=customer["vat_number"] if rule is ProcessingRule.B2BINT else None,
                 electronic_address=customer["einvoicing_address"] or customer["email"],
                 electronic_address_scheme="0225" if customer["einvoicing_address"] else "EM")


def delivery_address(customer: dict[str, Any]) -> PostalAddress | None:
    """BG-15 only when the delivery address differs from the billing address (a new French mention)."""
    delivery = (customer["delivery_street"], customer["delivery_postcode"], customer["delivery_city"],
                customer["delivery_country_code"])
    billing = (customer["billing_street"], customer["billing_postcode"], customer["billing_city"],
               customer["billing_country_code"])
    if not delivery[3] or delivery == billing:
        return None
    return PostalAddress(*delivery)

