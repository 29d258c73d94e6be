"""The books of the dataset's French company in QuickBooks Online, drawn from the dataset's seed.

Customers are the reference companies of the dataset's CRMs (same names, so identity resolution
meets them) and more drawn for this company; French bookkeepers write the SIREN or VAT number in
``Notes`` (spaced out, or with a typo the checksum catches), QuickBooks masks ``PrimaryTaxIdentifier``
to its last four characters, and a few customers are inactive. Items are the catalogue. Invoices carry
the numbers Passerelle issues (``MS2026-000042``, one sequence with the credit memos), plus one the
bookkeeper typed in QuickBooks' own numbering. Payments pay in full, in part, two invoices at once,
too much (``UnappliedAmt``), with a credit memo, or name an invoice QuickBooks does not have.
Time activities are the hours of three employees. Everything is in EUR; times are whole seconds.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from passerelle_sandbox.dataset_dynamics import reference_companies
from passerelle_sandbox.dataset_ids import break_luhn
from passerelle_sandbox.dataset_model import Customer, build_crm, slug
from passerelle_sandbox.dataset_refdata import CATALOGUE
from passerelle_sandbox.dataset_time import DAY_MS, SECOND_MS, Clock, iso_ms
from passerelle_sandbox.quickbooks_model import EUR, TAX_CODES, Record, cents, mask, ref, sales_lines, settle

REALM_ID = "9341455128304152"
INVOICE_PREFIX = "MS"
"""The seller's prefix in ``include/config/seller.example.json``: numbers read ``MS2026-000042``."""
FIRST_SEQUENCE = {2025: 118, 2026: 1}
UNSYNCED_NUMBER = "MS2025-000117"
"""Issued by Passerelle before the books moved to QuickBooks: a payment names it, no invoice carries it."""
HISTORY_DAYS = 150
EMPLOYEES = (("55", "Claire Moreau"), ("56", "Julien Lefèvre"), ("57", "Sophie Garnier"))
OFFSET_MS = 3600 * SECOND_MS  # the company keeps Paris time; the dataset's clock is in winter
HOURLY_ITEMS = ("SRV-DEV-H", "SRV-CONSEIL-J")


class Books:
    def __init__(self, rng: random.Random, clock: Clock) -> None:
        self.rng, self.clock = rng, clock
        self.store: dict[str, dict[str, Record]] = {e: {} for e in (
            "Customer", "Item", "Invoice", "CreditMemo", "Payment", "TimeActivity")}
        self.deleted: list[Record] = []
        self.next_txn = 130
        self.sequence = dict(FIRST_SEQUENCE)

    # ---------------------------------------------------------------------------- helpers

    def _meta(self, created: int, modified: int | None = None) -> Record:
        return {"CreateTime": iso_ms(created), "LastUpdatedTime": iso_ms(max(created, modified or created))}

    def _at(self, day: date, hour: int) -> int:
        """A whole-second instant on ``day`` around ``hour`` o'clock, Paris time."""
        midnight = (day - date(1970, 1, 1)).days * DAY_MS - OFFSET_MS
        return min(self.clock.now, midnight + hour * 3_600_000 + self.rng.randrange(3600) * SECOND_MS)

    def _txn_id(self) -> str:
        self.next_txn += self.rng.randint(1, 3)
        return str(self.next_txn)

    def _number(self, day: date) -> str:
        sequence = self.sequence.setdefault(day.year, 1)
        self.sequence[day.year] = sequence + 1
        return f"{INVOICE_PREFIX}{day.year}-{sequence:06d}"

    def _common(self, record_id: str, meta: Record) -> Record:
        return {"Id": record_id, "SyncToken": "0", "domain": "QBO", "sparse": False, "MetaData": meta}

    # ------------------------------------------------------------------------------ names

    def items(self) -> None:
        for index, product in enumerate(CATALOGUE, start=1):
            stamps = self.clock.stamps(self.rng, max_age_days=700)
            self.store["Item"][str(index)] = {
                **self._common(str(index), self._meta(stamps.created, stamps.modified)),
                "Name": product.name, "Sku": product.code, "Description": product.description, "Active": True,
                "FullyQualifiedName": product.name, "Taxable": True, "UnitPrice": cents(product.price),
                "Type": "Service" if product.family in ("Services", "Formation") else "NonInventory",
                "IncomeAccountRef": ref("79", "Ventes de prestations"), "PurchaseCost": Decimal("0.00"),
                "TrackQtyOnHand": False, "SalesTaxCodeRef": ref(TAX_CODES[product.vat_rate])}
        retired = len(CATALOGUE) + 1
        self.store["Item"][str(retired)] = {
            **self.store["Item"]["4"], **self._common(str(retired), self._meta(self.clock.now - 500 * DAY_MS,
                                                                              self.clock.now - 200 * DAY_MS)),
            "Name": "Maintenance annuelle (ancienne offre)", "Sku": "SRV-MAINT-A", "Active": False,
            "FullyQualifiedName": "Maintenance annuelle (ancienne offre)", "UnitPrice": Decimal("1800.00")}

    def customers(self, references: list[Record], drawn: list[Customer]) -> None:
        people = [{"name": c.name, "siren": c.siren, "vat": c.vat, "street": c.billing.street, "city": c.billing.city,
                   "postcode": c.billing.postcode, "country": c.billing.country_code, "domain": c.domain,
                   "phone": c.phone, "b2c": c.kind == "B2C"} for c in drawn]
        rows = [{**r, "country": "FR", "domain": slug(r["name"]) + ".fr", "phone": None, "b2c": False}
                for r in references] + people
        for index, row in enumerate(rows, start=1):
            stamps = self.clock.stamps(self.rng, max_age_days=600)
            created = min(stamps.created, self.clock.now - (HISTORY_DAYS + 30) * DAY_MS)  # before its invoices
            name = row["name"]
            customer = {
                **self._common(str(index), self._meta(created, stamps.modified)),
                "DisplayName": name, "CompanyName": None if row["b2c"] else name, "PrintOnCheckName": name,
                "FullyQualifiedName": name, "Active": True, "Taxable": True, "Job": False, "BillWithParent": False,
                "IsProject": False, "CurrencyRef": dict(EUR), "PreferredDeliveryMethod": "Email",
                "PrimaryEmailAddr": {"Address": f"compta@{row['domain']}"} if row["domain"] else None,
                "PrimaryPhone": {"FreeFormNumber": row["phone"]} if row["phone"] else None,
                "WebAddr": {"URI": f"https://www.{row['domain']}"} if row["domain"] else None,
                "BillAddr": {"Id": str(100 + index), "Line1": row["street"], "City": row["city"],
                             "PostalCode": row["postcode"], "Country": row["country"]},
                "Notes": self._notes(index, row),
                "PrimaryTaxIdentifier": mask(row["vat"]) if row["vat"] and index % 2 else None}
            self.store["Customer"][customer["Id"]] = {k: v for k, v in customer.items() if v is not None}
        for record_id in (str(len(references)), str(len(rows) - 1), str(len(rows) - 4)):
            inactive = self.store["Customer"][record_id]
            inactive["Active"] = False
            inactive["DisplayName"] = inactive["FullyQualifiedName"] = f"{inactive['DisplayName']} (deleted)"

    @staticmethod
    def _notes(index: int, row: Record) -> str | None:
        siren, vat = row["siren"], row["vat"]
        if not siren:
            return f"TVA intracom. {vat}" if vat and index % 3 == 0 else None
        variants = (f"SIREN {siren}", f"TVA {vat}", f"SIREN {siren[:3]} {siren[3:6]} {siren[6:]} - TVA {vat}", None,
                    "Relances par e-mail uniquement", f"Siren : {siren}\nPaiement par virement à 30 jours")
        if index == 9:
            return f"SIREN {break_luhn(siren)}"  # a typo the checksum catches
        return variants[index % len(variants)]

    # ------------------------------------------------------------------------ transactions

    def _sale(self, entity: str, customer: Record, day: date, wanted: list[Record], number: str) -> Record:
        lines, tax, total = sales_lines(self.store["Item"], wanted)
        created = self._at(day, 10)
        record = {**self._common(self._txn_id(), self._meta(created)), "DocNumber": number,
                  "TxnDate": day.isoformat(), "CustomerRef": ref(customer["Id"], customer["DisplayName"]),
                  "CurrencyRef": dict(EUR), "ExchangeRate": Decimal("1"), "Line": lines, "TxnTaxDetail": tax,
                  "TotalAmt": total, "PrintStatus": "NotSet", "EmailStatus": "EmailSent",
                  "ApplyTaxAfterDiscount": False}
        if "PrimaryEmailAddr" in customer:
            record["BillEmail"] = dict(customer["PrimaryEmailAddr"])
        if entity == "Invoice":
            record["DueDate"] = (day + timedelta(days=30)).isoformat()
        self.store[entity][record["Id"]] = record
        return record

    def _wanted(self) -> list[Record]:
        picks = self.rng.sample(range(1, len(CATALOGUE) + 1), self.rng.randint(1, 3))
        return [{"ItemRef": str(i), "Qty": self.rng.choice((1, 1, 2, 3, 5, Decimal("0.5"), Decimal("1.5")))}
                for i in sorted(picks)]

    def invoices(self) -> list[Record]:
        today = date.fromisoformat(iso_ms(self.clock.now)[:10])
        customers = list(self.store["Customer"].values())
        invoices, credit_memos = [], []
        day = today - timedelta(days=HISTORY_DAYS)
        while day < today:
            for _ in range(self.rng.choice((0, 1, 1, 2))):
                customer = self.rng.choice(customers)
                if customer["Active"] or day < today - timedelta(days=90):
                    invoices.append(self._sale("Invoice", customer, day, self._wanted(), self._number(day)))
            if len(invoices) % 25 == 24 and len(credit_memos) < len(invoices) // 25:
                source = invoices[-3]
                line = source["Line"][0]["SalesItemLineDetail"]
                customer = self.store["Customer"][source["CustomerRef"]["value"]]
                credit_memos.append(self._sale("CreditMemo", customer, day,
                                               [{"ItemRef": line["ItemRef"]["value"], "Qty": line["Qty"]}],
                                               self._number(day)))
                credit_memos[-1]["PrivateNote"] = f"Avoir sur facture {source['DocNumber']}"
            day += timedelta(days=1)
        typed = self._sale("Invoice", customers[2], today - timedelta(days=70), self._wanted(), "1042")
        typed["PrivateNote"] = "Saisie manuelle"
        invoices.append(typed)
        return invoices

    def _payment(self, customer_id: str, day: date, total: Decimal, lines: list[tuple[Record, Decimal]],
                 note: str | None = None) -> Record:
        created = self._at(day, 15)
        customer = self.store["Customer"][customer_id]
        payment = {**self._common(self._txn_id(), self._meta(created)), "TxnDate": day.isoformat(),
                   "CustomerRef": ref(customer_id, customer["DisplayName"]), "CurrencyRef": dict(EUR),
                   "TotalAmt": cents(total), "UnappliedAmt": Decimal("0.00"), "ProcessPayment": False,
                   "PaymentRefNum": f"VIR{self.rng.randrange(10**8):08d}",
                   "DepositToAccountRef": ref("35", "512000 Banque"),
                   "Line": [{"Amount": cents(amount), "LinkedTxn": [
                       {"TxnId": txn["Id"], "TxnType": "Invoice" if "DueDate" in txn else "CreditMemo"}]}
                       for txn, amount in lines]}
        if note:
            payment["PrivateNote"] = note
        self.store["Payment"][payment["Id"]] = payment
        for txn, _ in lines:  # paying moves the invoice's LastUpdatedTime
            txn["MetaData"]["LastUpdatedTime"] = max(txn["MetaData"]["LastUpdatedTime"], iso_ms(created))
        return payment

    def payments(self, invoices: list[Record]) -> None:
        today = date.fromisoformat(iso_ms(self.clock.now)[:10])
        due = [i for i in invoices if date.fromisoformat(i["TxnDate"]) < today - timedelta(days=20)]
        customer = lambda invoice: invoice["CustomerRef"]["value"]  # noqa: E731
        specials = self.rng.sample(due[:-5], 8)
        pair = [i for i in due if customer(i) == customer(specials[0]) and i not in specials][:1]
        memo, netted = next(((m, i) for m in self.store["CreditMemo"].values() for i in due
                             if customer(i) == customer(m) and i["TotalAmt"] > m["TotalAmt"]
                             and i not in specials + pair), (None, None))
        handled = [*specials, *pair, netted]
        for invoice in due:
            if any(invoice is h for h in handled) or self.rng.random() < 0.15:
                continue  # overdue
            paid_on = min(today, date.fromisoformat(invoice["TxnDate"]) + timedelta(days=self.rng.randint(12, 45)))
            self._payment(customer(invoice), paid_on, invoice["TotalAmt"], [(invoice, invoice["TotalAmt"])])
        recent = today - timedelta(days=self.rng.randint(3, 20))
        if pair:  # one transfer for two invoices
            both = specials[0]["TotalAmt"] + pair[0]["TotalAmt"]
            self._payment(customer(specials[0]), recent, both, [(specials[0], specials[0]["TotalAmt"]),
                                                                (pair[0], pair[0]["TotalAmt"])])
        for invoice in specials[1:3]:  # in part
            half = cents(invoice["TotalAmt"] / 2)
            self._payment(customer(invoice), recent, half, [(invoice, half)])
        over = specials[3]  # too much: the rest stays unapplied
        self._payment(customer(over), recent, over["TotalAmt"] + Decimal("50.00"), [(over, over["TotalAmt"])],
                      f"Virement de {over['TotalAmt'] + Decimal('50.00')} EUR pour {over['DocNumber']}")
        if memo is not None and netted is not None:  # an invoice settled net of a credit memo
            self._payment(customer(netted), recent, netted["TotalAmt"] - memo["TotalAmt"],
                          [(netted, netted["TotalAmt"]), (memo, memo["TotalAmt"])])
        self._payment(customer(specials[4]), recent, Decimal("1428.00"), [],
                      f"Virement reçu, référence client : facture {UNSYNCED_NUMBER}")
        mistaken = self._payment(customer(specials[5]), recent, specials[5]["TotalAmt"],
                                 [(specials[5], specials[5]["TotalAmt"])])
        self._forget("Payment", mistaken, self._at(recent + timedelta(days=1), 9))

    def _forget(self, entity: str, record: Record, when: int) -> None:
        del self.store[entity][record["Id"]]
        self.deleted.append({"entity": entity, "Id": record["Id"], "deleted": iso_ms(min(when, self.clock.now))})

    def time_activities(self) -> None:
        today = date.fromisoformat(iso_ms(self.clock.now)[:10])
        items = [i for i in self.store["Item"].values() if i["Sku"] in HOURLY_ITEMS]
        customers = [c for c in self.store["Customer"].values() if c["Active"]]
        for number in range(1, 181):
            day = today - timedelta(days=self.rng.randint(1, 60))
            employee_id, employee = self.rng.choice(EMPLOYEES)
            item, customer = self.rng.choice(items), self.rng.choice(customers)
            billable = self.rng.choices(("Billable", "NotBillable", "HasBeenBilled"), (6, 1, 3))[0]
            activity = {**self._common(str(number), self._meta(self._at(day, 18))), "TxnDate": day.isoformat(),
                        "NameOf": "Employee", "EmployeeRef": ref(employee_id, employee),
                        "CustomerRef": ref(customer["Id"], customer["DisplayName"]),
                        "ItemRef": ref(item["Id"], item["Name"]), "BillableStatus": billable, "Taxable": True,
                        "HourlyRate": Decimal("85.00") if item["Sku"] == "SRV-DEV-H" else Decimal("118.75"),
                        "Hours": self.rng.randint(0, 7), "Minutes": self.rng.choice((0, 15, 30, 45)),
                        "Description": f"{item['Name']} — {customer['DisplayName']}",
                        "TransactionLocationType": "WithinFrance"}
            if activity["Hours"] == 0 and activity["Minutes"] == 0:
                activity["Minutes"] = 30
            self.store["TimeActivity"][activity["Id"]] = activity
        gone = self.store["TimeActivity"][str(self.rng.randint(1, 180))]
        self._forget("TimeActivity", gone, self._at(today - timedelta(days=2), 11))

    def company(self) -> Record:
        now = self.clock.now
        return {**self._common("1", self._meta(now - 800 * DAY_MS, now - 40 * DAY_MS)),
                "CompanyName": "Passerelle Démo", "LegalName": "Passerelle Démo SAS", "Country": "FR",
                "CompanyAddr": {"Line1": "12 rue de la Paix", "City": "Paris", "PostalCode": "75002", "Country": "FR"},
                "Email": {"Address": "compta@passerelle-demo.fr"}, "SupportedLanguages": "fr",
                "DefaultTimeZone": "Europe/Paris", "FiscalYearStartMonth": "January",
                "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
                              {"Name": "NeoEnabled", "Value": "true"}]}


def build_quickbooks_dataset(dataset: dict[str, Any], drawn_customers: int = 40) -> Record:
    """The ``quickbooks`` section served for ``dataset`` when it has none: the same on every start."""
    seed, clock = int(dataset.get("seed") or 1), Clock.parse(dataset["clock"])
    rng = random.Random(f"passerelle:{seed}:quickbooks:books")
    crm = build_crm(seed, "quickbooks", drawn_customers, clock)
    drawn = [c for c in crm.customers if c.currency == "EUR" and c.anomaly is None]
    books = Books(rng, clock)
    books.items()
    books.customers(reference_companies(dataset), drawn)
    books.payments(books.invoices())
    books.time_activities()
    settle(books.store)
    return {"realm_id": REALM_ID, "time_zone_offset": "+01:00", "company": books.company(),
            "entities": {name: list(records.values()) for name, records in books.store.items()},
            "deleted": books.deleted}
