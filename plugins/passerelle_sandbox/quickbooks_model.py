"""QuickBooks Online entities: what each one is, its sales lines and tax, balances, rendering and Fault bodies.

The store keeps objects in the API's shape with ``MetaData`` times in the sandbox's canonical UTC form;
they go out in the company's offset to the second (``2026-03-02T10:15:00+01:00``), as QuickBooks answers.
Amounts are ``Decimal`` with two places, written as JSON numbers with their digits. Balances are never
stored by hand: :func:`settle` derives an invoice's ``Balance`` and ``LinkedTxn``, a credit memo's
``RemainingCredit`` and a payment's ``UnappliedAmt`` from the payments' lines, as QuickBooks does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from passerelle_sandbox.clock import is_canonical, parse_instant
from passerelle_sandbox.core import VendorError

Record = dict[str, Any]
CENT = Decimal("0.01")
EUR = {"value": "EUR", "name": "Euro"}


@dataclass(frozen=True)
class Entity:
    name: str
    name_list: bool = False
    """Customer and Item: answered only when active unless the query asks ``Active IN (true, false)``."""
    in_cdc: bool = True
    deletable: bool = True


ENTITIES: dict[str, Entity] = {e.name: e for e in (
    Entity("Customer", name_list=True, deletable=False),
    Entity("Item", name_list=True, deletable=False),
    Entity("Invoice"),
    Entity("CreditMemo"),
    Entity("Payment"),
    Entity("TimeActivity", in_cdc=False),
)}
BY_LOWER = {name.lower(): name for name in (*ENTITIES, "CompanyInfo")}
TRANSACTIONS = ("Invoice", "CreditMemo", "Payment")
"""They share one id sequence, as in a QuickBooks company."""
TAX_CODES = {Decimal("20"): "2", Decimal("10"): "3", Decimal("5.5"): "4", Decimal("2.1"): "5", Decimal("0"): "6"}
"""French VAT rate → the company's TaxCode (and TaxRate) id."""
RATE_OF = {code: rate for rate, code in TAX_CODES.items()}


def cents(value: Any) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def ref(value: str, name: str | None = None) -> Record:
    return {"value": value, "name": name} if name is not None else {"value": value}


def sales_lines(items: dict[str, Record], wanted: list[Record]) -> tuple[list[Record], Record, Decimal]:
    """Invoice or credit memo lines, their tax detail and total from ``[{"ItemRef", "Qty", "UnitPrice"?,
    "Description"?}]``: each line's amount and VAT rounded to the cent, one tax line per rate."""
    lines: list[Record] = []
    taxes: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for number, want in enumerate(wanted, start=1):
        item_id = str(want["ItemRef"]["value"] if isinstance(want["ItemRef"], dict) else want["ItemRef"])
        item = items[item_id]
        qty = Decimal(str(want.get("Qty", 1)))
        price = Decimal(str(want.get("UnitPrice", item["UnitPrice"])))
        amount = cents(qty * price)
        rate = RATE_OF[item["SalesTaxCodeRef"]["value"]]
        net, tax = taxes.get(rate, (Decimal("0.00"), Decimal("0.00")))
        taxes[rate] = (net + amount, tax + cents(amount * rate / 100))
        lines.append({"Id": str(number), "LineNum": number, "Description": want.get("Description", item["Description"]),
                      "Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {
                          "ItemRef": ref(item_id, item["Name"]), "UnitPrice": price, "Qty": qty,
                          "TaxCodeRef": ref(TAX_CODES[rate])}})
    net_total = sum((line["Amount"] for line in lines), Decimal("0.00"))
    lines.append({"Amount": net_total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    total_tax = sum((tax for _, tax in taxes.values()), Decimal("0.00"))
    detail = {"TotalTax": total_tax, "TaxLine": [
        {"Amount": tax, "DetailType": "TaxLineDetail", "TaxLineDetail": {
            "TaxRateRef": ref(TAX_CODES[rate]), "PercentBased": True, "TaxPercent": rate, "NetAmountTaxable": net}}
        for rate, (net, tax) in sorted(taxes.items(), reverse=True)]}
    return lines, detail, net_total + total_tax


def settle(store: dict[str, dict[str, Record]]) -> set[tuple[str, str]]:
    """Derive balances from the payments; returns the (entity, Id) of the invoices and credit memos that changed."""
    paid: dict[tuple[str, str], Decimal] = {}
    links: dict[str, list[Record]] = {}
    for payment in sorted(store["Payment"].values(), key=lambda p: int(p["Id"])):
        applied = Decimal("0.00")
        for line in payment["Line"]:
            for linked in line.get("LinkedTxn", []):
                key = (linked["TxnType"], str(linked["TxnId"]))
                paid[key] = paid.get(key, Decimal("0.00")) + line["Amount"]
                applied += line["Amount"] if linked["TxnType"] == "Invoice" else -line["Amount"]
                if linked["TxnType"] == "Invoice":
                    links.setdefault(str(linked["TxnId"]), []).append({"TxnId": payment["Id"], "TxnType": "Payment"})
        payment["UnappliedAmt"] = cents(payment["TotalAmt"] - applied)
    changed = set()
    for entity, field in (("Invoice", "Balance"), ("CreditMemo", "RemainingCredit")):
        for record_id, record in store[entity].items():
            balance = cents(record["TotalAmt"] - paid.get((entity, record_id), 0))
            linked = links.get(record_id, []) if entity == "Invoice" else record.get("LinkedTxn", [])
            if record.get(field) != balance or record.get("LinkedTxn", []) != linked:
                changed.add((entity, record_id))
            record[field] = balance
            record["LinkedTxn"] = linked
            if entity == "CreditMemo":
                record["Balance"] = balance
    return changed


def render_time(value: Any, offset: timedelta) -> Any:
    """Canonical UTC → ``2026-03-02T10:15:00+01:00`` in the company's offset."""
    if not is_canonical(value):
        return value
    moment = parse_instant(value) + offset
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def render(record: Record, offset: timedelta) -> Record:
    """The object as the API answers it."""
    out = dict(record)
    out["MetaData"] = {k: render_time(v, offset) for k, v in record["MetaData"].items()}
    return out


def mask(tax_id: str) -> str:
    """``XXXXXXXXX9320``: QuickBooks shows only the last four characters of a tax identifier."""
    return "X" * (len(tax_id) - 4) + tax_id[-4:]


def fault(status: int, kind: str, code: str, message: str, detail: str | None = None, now: str | None = None,
          headers: dict[str, str] | None = None) -> VendorError:
    error: Record = {"Message": message}
    if detail is not None:
        error["Detail"] = detail
    error["code"] = code
    body: Record = {"Fault": {"Error": [error], "type": kind}}
    if now is not None:
        body["time"] = now
    return VendorError(status, body, headers)


def validation_fault(code: str, message: str, detail: str, now: str) -> VendorError:
    """QuickBooks answers a request it refuses on its merits in HTTP 200, with a ``Fault``."""
    return fault(200, "ValidationFault", code, message, detail, now)


def authentication_fault(now: str) -> VendorError:
    return fault(401, "AUTHENTICATION", "3200", "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                 now=now, headers={"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'})


def throttle_fault() -> VendorError:
    return fault(429, "SERVICE", "003001", "message=ThrottleExceeded; errorCode=003001; statusCode=429")
