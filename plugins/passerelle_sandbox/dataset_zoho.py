"""Render a :class:`~passerelle_sandbox.dataset_model.Crm` as one Zoho org's records (Zoho CRM or Bigin).

Records keep the API shape with exact values (``Decimal`` amounts, quantities and rates) and
canonical UTC timestamps, which the emulator renders in the org's time zone as Zoho does
(``2026-03-01T11:00:00+01:00``). Ids are 19-digit strings. Custom fields (SIREN, SIRET, VAT number,
e-invoicing address, customer type) have plain API names, flagged ``custom_field`` in the field
metadata. Deal stages are renamed in French, as orgs do, so only the stage metadata
(``forecast_type``, ``probability``) tells a won deal. Zoho CRM deal lines are the ``Quoted_Items``
subform of one quote per deal (v8 has no standalone line-items module); Bigin has no quotes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from passerelle_sandbox.dataset_ids import fr_vat, new_siren, new_siret
from passerelle_sandbox.dataset_model import Crm, Customer, Deal, Person, build_crm
from passerelle_sandbox.dataset_refdata import CATALOGUE
from passerelle_sandbox.dataset_time import Clock, iso_date, iso_ms

Record = dict[str, Any]
ORG_ID = "20104587"
REPAIRED_ANOMALIES = frozenset({"invalid_siren_checksum", "invalid_siret"})
"""Checksum errors are quarantined by validation and the committed dataset's tests count exactly the
Salesforce and HubSpot ones: Zoho accounts keep only the anomalies validation warns about."""
# dataset stage key -> (stage value, forecast type, probability); renamed labels, as French orgs do
STAGES = {
    "qualification": ("Qualification", "Open", 10),
    "proposal": ("Proposition envoyée", "Open", 75),
    "negotiation": ("Négociation", "Open", 90),
    "won": ("Signé", "Closed Won", 100),
    "lost": ("Perdu", "Closed Lost", 0),
}
CUSTOM_ACCOUNT_FIELDS = ("SIREN", "SIRET", "VAT_Number", "E_invoicing_Address", "Customer_Type")


@dataclass(frozen=True)
class ZohoProduct:
    """What differs between Zoho CRM and Bigin for the emulator: base path and module API names."""

    name: str
    base_path: str
    deals_module: str
    modules: tuple[str, ...]


ZOHO_CRM = ZohoProduct("zoho_crm", "/crm/v8", "Deals", ("Accounts", "Contacts", "Deals", "Products", "Quotes", "Tasks"))
BIGIN = ZohoProduct("bigin", "/bigin/v2", "Pipelines", ("Accounts", "Contacts", "Pipelines", "Products"))
PRODUCTS = {p.name: p for p in (ZOHO_CRM, BIGIN)}

STANDARD_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Accounts": (("Account_Name", "text"), ("Owner", "ownerlookup"), ("Phone", "phone"), ("Website", "website"),
                 ("Industry", "picklist"), ("Billing_Street", "text"), ("Billing_City", "text"),
                 ("Billing_Code", "text"), ("Billing_Country", "text"), ("Currency", "picklist"),
                 ("Created_Time", "datetime"), ("Modified_Time", "datetime")),
    "Contacts": (("First_Name", "text"), ("Last_Name", "text"), ("Full_Name", "text"), ("Email", "email"),
                 ("Phone", "phone"), ("Title", "text"), ("Account_Name", "lookup"), ("Owner", "ownerlookup"),
                 ("Created_Time", "datetime"), ("Modified_Time", "datetime")),
    "Deals": (("Deal_Name", "text"), ("Stage", "picklist"), ("Amount", "currency"), ("Currency", "picklist"),
              ("Exchange_Rate", "double"), ("Closing_Date", "date"), ("Probability", "integer"),
              ("Account_Name", "lookup"), ("Contact_Name", "lookup"), ("Owner", "ownerlookup"),
              ("Description", "textarea"), ("Created_Time", "datetime"), ("Modified_Time", "datetime")),
    "Products": (("Product_Name", "text"), ("Product_Code", "text"), ("Unit_Price", "currency"),
                 ("Usage_Unit", "picklist"), ("Tax", "multiselectpicklist"),
                 ("Description", "textarea"), ("Product_Active", "boolean"), ("Owner", "ownerlookup"),
                 ("Created_Time", "datetime"), ("Modified_Time", "datetime")),
    "Quotes": (("Subject", "text"), ("Deal_Name", "lookup"), ("Account_Name", "lookup"), ("Quote_Stage", "picklist"),
               ("Currency", "picklist"), ("Sub_Total", "currency"), ("Grand_Total", "currency"),
               ("Quoted_Items", "subform"), ("Owner", "ownerlookup"), ("Created_Time", "datetime"),
               ("Modified_Time", "datetime")),
    "Tasks": (("Subject", "text"), ("Due_Date", "date"), ("Priority", "picklist"), ("Status", "picklist"),
              ("Owner", "ownerlookup"), ("What_Id", "lookup"), ("Who_Id", "lookup"), ("Description", "textarea"),
              ("Closed_Time", "datetime"), ("Created_Time", "datetime"), ("Modified_Time", "datetime")),
}
SYSTEM_FIELDS = (("Created_By", "ownerlookup"), ("Modified_By", "ownerlookup"))
"""Every module's creator and last modifier: the API user once our writes land (the echo signal)."""
READ_ONLY_FIELDS = frozenset({"Created_Time", "Modified_Time", "Created_By", "Modified_By", "Full_Name", "Closed_Time"})
MANDATORY_FIELDS = {"Accounts": ("Account_Name",), "Contacts": ("Last_Name",),
                    "Deals": ("Deal_Name", "Stage", "Closing_Date"),
                    "Products": ("Product_Name",), "Quotes": ("Subject",), "Tasks": ("Subject",)}
"""``system_mandatory`` fields of the standard layouts (Bigin's Pipelines follow Deals)."""
LOOKUP_MODULES = {"Account_Name": "Accounts", "Contact_Name": "Contacts", "Deal_Name": "Deals", "Who_Id": "Contacts",
                  "What_Id": "se_module"}
"""Target module of each lookup field; ``What_Id`` names its module in the record's ``$se_module``."""
TASK_PICKLISTS = {"Priority": ("High", "Highest", "Low", "Lowest", "Normal"),
                  "Status": ("Not Started", "Deferred", "In Progress", "Completed", "Waiting for input")}


def stage_picklist() -> list[Record]:
    return [{"display_value": value, "actual_value": value, "forecast_type": forecast, "probability": probability,
             "sequence_number": order, "id": f"5725767{order:012d}"}
            for order, (value, forecast, probability) in enumerate(STAGES.values(), start=1)]


def field_metadata(product: ZohoProduct) -> dict[str, list[Record]]:
    """``/settings/fields?module=…`` content per module (custom fields flagged ``custom_field``)."""
    out: dict[str, list[Record]] = {}
    for number, module in enumerate(product.modules):
        source = "Deals" if module == product.deals_module else module
        rows: list[Record] = [{"api_name": n, "field_label": n.replace("_", " "), "data_type": t, "custom_field": False}
                              for n, t in (*STANDARD_FIELDS[source], *SYSTEM_FIELDS)]
        if module == product.deals_module and product.name == "bigin":
            rows.append({"api_name": "Sub_Pipeline", "field_label": "Sub-Pipeline", "data_type": "picklist",
                         "custom_field": False})
        if module == "Accounts":
            rows += [{"api_name": n, "field_label": n.replace("_", " "), "data_type": "text", "custom_field": True}
                     for n in CUSTOM_ACCOUNT_FIELDS]
        for order, row in enumerate(rows, start=1):
            name = row["api_name"]
            row.update({"id": f"5725767{number:04d}{order:08d}", "visible": True, "read_only": name in READ_ONLY_FIELDS,
                        "system_mandatory": name in MANDATORY_FIELDS.get(source, ())})
            if name == "Stage":
                row["pick_list_values"] = stage_picklist()
            elif source == "Tasks" and name in TASK_PICKLISTS:
                row["pick_list_values"] = [{"display_value": v, "actual_value": v, "sequence_number": i}
                                           for i, v in enumerate(TASK_PICKLISTS[name], start=1)]
            if row["data_type"] == "lookup":
                target = LOOKUP_MODULES.get(name)
                target = product.deals_module if target == "Deals" else target
                row["lookup"] = {"module": {"api_name": target, "id": None}, "api_name": name}
            if row["data_type"] in ("text", "email", "phone", "website"):
                row["length"] = 255
            elif row["data_type"] == "textarea":
                row["length"] = 32000
        out[module] = rows
    return out


class Ids:
    """Increasing 19-digit string ids, as Zoho's."""

    def __init__(self, rng: random.Random) -> None:
        self._number, self._rng = 5_725_767_000_000_200_000, rng

    def __call__(self) -> str:
        self._number += 1 + int(self._rng.random() * 40)
        return str(self._number)


class ZohoRenderer:
    def __init__(self, product: ZohoProduct, rng: random.Random) -> None:
        self.product = product
        self.ids = Ids(rng)
        self.rng = rng
        self.objects: dict[str, list[Record]] = {m: [] for m in (*product.modules, "users")}
        self.anomalies: list[Record] = []
        self.users: list[Record] = []

    def render(self, crm: Crm) -> Record:
        self.users = [self._user(person) for person in crm.users]
        products = [self._product(index, stamps) for index, stamps in enumerate(crm.product_stamps)]
        for customer in crm.customers:
            self._customer(customer, products)
        return {"org_id": ORG_ID, "time_zone_offset": "+01:00", "fields": field_metadata(self.product),
                "objects": self.objects, "deleted": {m: [] for m in self.product.modules}}

    def _owner(self, index: int) -> Record:
        user = self.users[index]
        return {"name": user["full_name"], "id": user["id"], "email": user["email"]}

    def _user(self, person: Person) -> Record:
        user = {"id": self.ids(), "first_name": person.first_name, "last_name": person.last_name,
                "full_name": f"{person.first_name} {person.last_name}", "email": person.email, "phone": person.phone,
                "status": "active", "role": {"name": "CEO", "id": "5725767000000015969"}, "time_zone": "Europe/Paris",
                "locale": "fr_FR", "created_time": iso_ms(person.stamps.created),
                "Modified_Time": iso_ms(person.stamps.modified)}
        self.objects["users"].append(user)
        return user

    def _product(self, index: int, stamps: Any) -> Record:
        item = CATALOGUE[index]
        record = {"id": self.ids(), "Product_Name": item.name, "Product_Code": item.code, "Unit_Price": item.price,
                  "Usage_Unit": item.unit, "Tax": [f"TVA - {item.vat_rate} %"],
                  "Description": item.description, "Product_Active": True, "Owner": self._owner(0),
                  "Created_Time": iso_ms(stamps.created), "Modified_Time": iso_ms(stamps.modified)}
        self.objects["Products"].append(record)
        return record

    def _customer(self, customer: Customer, products: list[Record]) -> None:
        if customer.anomaly in REPAIRED_ANOMALIES:
            customer.siren = customer.einvoicing = new_siren(self.rng)
            customer.siret, customer.vat, customer.anomaly = new_siret(self.rng, customer.siren), fr_vat(customer.siren), None
        billing = customer.billing
        account = {
            "id": self.ids(), "Account_Name": customer.name, "Owner": self._owner(customer.owner),
            "Phone": customer.phone, "Website": customer.domain,
            "Industry": customer.industry.salesforce if customer.industry else None,
            "Billing_Street": billing.street, "Billing_City": billing.city, "Billing_Code": billing.postcode,
            "Billing_Country": billing.country, "Currency": customer.currency,
            "SIREN": customer.siren, "SIRET": customer.siret, "VAT_Number": customer.vat,
            "E_invoicing_Address": customer.einvoicing, "Customer_Type": customer.kind,
            "Created_Time": iso_ms(customer.stamps.created), "Modified_Time": iso_ms(customer.stamps.modified),
        }
        self.objects["Accounts"].append(account)
        if customer.anomaly:
            self.anomalies.append({"vendor": self.product.name, "object": "Accounts", "id": account["id"],
                                   "problem": customer.anomaly})
        contacts = [self._contact(person, account, customer.owner) for person in customer.contacts]
        for deal in customer.deals:
            self._deal(deal, account, contacts[0] if contacts else None, products)

    def _contact(self, person: Person, account: Record, owner: int) -> Record:
        record = {"id": self.ids(), "First_Name": person.first_name, "Last_Name": person.last_name,
                  "Full_Name": f"{person.first_name} {person.last_name}", "Email": person.email,
                  "Phone": person.phone, "Title": person.title,
                  "Account_Name": {"name": account["Account_Name"], "id": account["id"]},
                  "Owner": self._owner(owner), "Created_Time": iso_ms(person.stamps.created),
                  "Modified_Time": iso_ms(person.stamps.modified)}
        self.objects["Contacts"].append(record)
        return record

    def _deal(self, deal: Deal, account: Record, contact: Record | None, products: list[Record]) -> None:
        stage, _, probability = STAGES[deal.stage.key]
        record = {"id": self.ids(), "Deal_Name": deal.name, "Stage": stage, "Amount": deal.amount,
                  "Currency": deal.currency, "Exchange_Rate": Decimal("1.000000000"),
                  "Closing_Date": iso_date(deal.close_day), "Probability": probability,
                  "Account_Name": {"name": account["Account_Name"], "id": account["id"]},
                  "Contact_Name": {"name": contact["Full_Name"], "id": contact["id"]} if contact else None,
                  "Owner": self._owner(deal.owner), "Description": deal.description,
                  "Created_Time": iso_ms(deal.stamps.created), "Modified_Time": iso_ms(deal.stamps.modified)}
        if self.product.name == "bigin":
            record["Sub_Pipeline"] = "Ventes Standard"
        self.objects[self.product.deals_module].append(record)
        if "Quotes" in self.objects and deal.lines:
            self._quote(deal, record, account, products)

    def _quote(self, deal: Deal, record: Record, account: Record, products: list[Record]) -> None:
        items = []
        for order, line in enumerate(deal.lines, start=1):
            product = products[line.product_index]
            gross = line.quantity * line.unit_price  # Zoho's line Discount is an amount, not a percentage
            items.append({
                "id": self.ids(), "Product_Name": {"name": product["Product_Name"], "id": product["id"]},
                "Quantity": line.quantity, "List_Price": line.unit_price, "Total": gross,
                "Discount": gross - line.total, "Total_After_Discount": line.total,
                "Line_Tax": [{"percentage": line.vat_rate, "name": "TVA"}],
                "Description": line.description, "Sequence_Number": order,
                "Modified_Time": iso_ms(line.stamps.modified),
            })
        modified = max([deal.stamps.modified, *(line.stamps.modified for line in deal.lines)])
        self.objects["Quotes"].append({
            "id": self.ids(), "Subject": f"Devis — {deal.name}", "Deal_Name": {"name": deal.name, "id": record["id"]},
            "Account_Name": {"name": account["Account_Name"], "id": account["id"]}, "Quote_Stage": "Delivered",
            "Currency": deal.currency, "Sub_Total": deal.amount, "Grand_Total": deal.amount, "Quoted_Items": items,
            "Owner": record["Owner"], "Created_Time": iso_ms(deal.stamps.created), "Modified_Time": iso_ms(modified),
        })


def render_zoho(crm: Crm, seed: int, product: ZohoProduct) -> tuple[Record, list[Record]]:
    renderer = ZohoRenderer(product, random.Random(f"passerelle:{seed}:{product.name}:ids"))
    return renderer.render(crm), renderer.anomalies


def build_zoho_dataset(dataset: dict[str, Any], product: ZohoProduct, organizations: int = 30) -> Record:
    """The org served for ``dataset`` when it has no section for ``product``: drawn from the dataset's
    seed and clock, so it is the same on every start."""
    seed = int(dataset.get("seed") or 1)
    crm = build_crm(seed, product.name, organizations, Clock.parse(dataset["clock"]))
    section, anomalies = render_zoho(crm, seed, product)
    section["anomalies"] = anomalies
    return section
