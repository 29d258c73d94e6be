"""Render a :class:`~passerelle_sandbox.dataset_model.Crm` as one Dataverse org's tables (Dynamics 365 Sales).

Rows keep the Web API's shape: GUID primary keys (``accountid``...), lookups as ``_<name>_value`` GUIDs,
option sets as integers (``statecode`` 0 open / 1 won / 2 lost on opportunities), money and decimals as
``Decimal`` with Dataverse's scale (4 places for money, 5 for quantities, 10 for exchange rates) and
canonical UTC timestamps the emulator renders to the second. The org is French and counts in EUR; a
few opportunities are in USD, GBP or CHF with their exchange rate. Custom columns carry the publisher
prefix ``pa_`` (``pa_siren``, ``pa_siret``, ``pa_vatnumber``...).

Some accounts are the same companies as the Salesforce and HubSpot customers of the dataset (same name,
SIREN, SIRET and VAT number), so identity resolution meets them across CRMs; one of them is another
establishment of its company (same SIREN, its own SIRET) and one is a namesake with its own identifiers.
``versionnumber`` follows the order of the rows' last modification, as Dataverse's row version does.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from passerelle_sandbox.dataset_dynamics_projects import render_projects
from passerelle_sandbox.dataset_ids import fr_vat, new_siren, new_siret
from passerelle_sandbox.dataset_model import Address, Crm, Customer, Deal, Line, Person, build_crm
from passerelle_sandbox.dataset_refdata import CATALOGUE, EXCHANGE_RATES
from passerelle_sandbox.dataset_time import Clock, Stamps, iso_date, iso_ms

Record = dict[str, Any]
MONEY = Decimal("0.0001")
QUANTITY = Decimal("0.00001")
RATE = Decimal("0.0000000001")
SCALES = {"quantity": QUANTITY, "exchangerate": RATE,
          **dict.fromkeys(("msdyn_progress", "msdyn_effort", "msdyn_effortcompleted"), Decimal("0.01"))}
"""Decimal places of the non-money numeric columns."""
CENT = Decimal("0.01")
FIRST_VERSION = 1_204_000
REPAIRED_ANOMALIES = frozenset({"invalid_siren_checksum", "invalid_siret"})
"""As for Pipedrive: the committed dataset's tests count exactly the Salesforce and HubSpot checksum errors."""
SHARED_FROM = (("salesforce", 4), ("hubspot", 2))
"""How many reference companies each CRM of the dataset lends the org (identical identifiers)."""
CURRENCIES = {"EUR": ("Euro", "€"), "USD": ("US Dollar", "$"), "GBP": ("Pound Sterling", "£"),
              "CHF": ("Swiss Franc", "CHF")}
UNITS = ("heure", "jour", "forfait", "unité", "licence", "mois")
# dataset stage key -> (statecode, statuscode, salesstage, stepname)
OPPORTUNITY_STATES = {
    "qualification": (0, 1, 0, "1-Qualifier"),
    "proposal": (0, 1, 2, "3-Proposer"),
    "negotiation": (0, 2, 3, "4-Conclure"),
    "won": (1, 3, 3, "4-Conclure"),
    "lost": (2, 5, 2, "3-Proposer"),
}
CUSTOMER_TYPE_CODE = 3  # "Client"


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def reference_companies(dataset: dict[str, Any]) -> list[Record]:
    """Clean French B2B customers of the dataset's other CRMs: name, identifiers and billing address."""
    spoiled = {a["id"] for a in dataset.get("anomalies", [])}
    found: list[Record] = []
    for vendor, count in SHARED_FROM:
        objects = dataset.get(vendor, {}).get("objects", {})
        if vendor == "salesforce":
            rows = [{"name": a["Name"], "siren": a["SIREN__c"], "siret": a["SIRET__c"], "vat": a["VAT_Number__c"],
                     "street": a["BillingStreet"], "city": a["BillingCity"], "postcode": a["BillingPostalCode"]}
                    for a in sorted(objects.get("Account", []), key=lambda a: a["Id"])
                    if a["Id"] not in spoiled and a.get("Customer_Type__c") == "B2B" and a.get("SIREN__c")]
        else:
            rows = [{"name": p["name"], "siren": p["siren"], "siret": p["siret"], "vat": p["vat_number"],
                     "street": p["address"], "city": p["city"], "postcode": p["zip"]}
                    for p in (c["properties"] for c in sorted(objects.get("companies", []), key=lambda c: int(c["id"]))
                              if c["id"] not in spoiled)
                    if p.get("customer_type") == "B2B" and p.get("siren") and p.get("vat_number") == fr_vat(p["siren"])]
        found += rows[:count]
    return found


def share_identities(crm: Crm, references: list[Record], rng: random.Random) -> None:
    """Give French EUR customers the legal identity (SIREN, SIRET, VAT, address) of the reference companies
    under the org's own account names, as a second CRM spelling the same firm its own way; the last
    reference becomes a second establishment. Project names keep naming one customer only, so projects
    still resolve to the CRM the dataset links them to."""
    candidates = [c for c in crm.customers if c.kind == "B2B" and c.currency == "EUR" and c.anomaly is None]
    for index, (customer, reference) in enumerate(zip(candidates, references)):
        customer.siren, customer.vat = reference["siren"], reference["vat"]
        customer.siret = new_siret(rng, reference["siren"]) if index == len(references) - 1 else reference["siret"]
        customer.einvoicing = reference["siren"]
        customer.billing = customer.shipping = Address(reference["street"], reference["city"], reference["postcode"],
                                                       "France", "FR")


class DynamicsRenderer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tables: dict[str, list[Record]] = {name: [] for name in (
            "transactioncurrencies", "systemusers", "products", "accounts", "contacts", "opportunities",
            "opportunityproducts")}
        self.currencies: dict[str, str] = {}
        self.units = {unit: guid(rng) for unit in UNITS}
        self.anomalies: list[Record] = []

    def render(self, crm: Crm, clock: Clock, seed: int = 1) -> Record:
        since = clock.now - 900 * 86_400_000
        for code, (name, symbol) in CURRENCIES.items():
            self._currency(code, name, symbol, Stamps(since, since))
        users = [self._user(person) for person in crm.users]
        products = [self._product(index, stamps, users[0]) for index, stamps in enumerate(crm.product_stamps)]
        for customer in crm.customers:
            self._customer(customer, users, products)
        project_links = render_projects(self.tables, seed, clock.now)  # Project for the web / Project Operations
        rows = [row for table in self.tables.values() for row in table]
        for version, row in enumerate(sorted(rows, key=lambda r: r["modifiedon"]), start=FIRST_VERSION):
            row["versionnumber"] = version
        return {"organization": {"name": "Passerelle Démo", "languagecode": 1036, "basecurrency": "EUR",
                                 "expirechangetrackingindays": 7},
                "uoms": {guid_: unit for unit, guid_ in self.units.items()}, "tables": self.tables,
                "project_links": project_links}

    def _row(self, table: str, pk: str, stamps: Stamps, fields: Record) -> Record:
        row = {pk: guid(self.rng), **fields, "createdon": iso_ms(stamps.created), "modifiedon": iso_ms(stamps.modified)}
        self.tables[table].append(row)
        return row

    def _currency(self, code: str, name: str, symbol: str, stamps: Stamps) -> None:
        row = self._row("transactioncurrencies", "transactioncurrencyid", stamps, {
            "isocurrencycode": code, "currencyname": name, "currencysymbol": symbol,
            "exchangerate": EXCHANGE_RATES[code].quantize(RATE), "currencyprecision": 2, "statecode": 0})
        self.currencies[code] = row["transactioncurrencyid"]

    def _user(self, person: Person) -> str:
        row = self._row("systemusers", "systemuserid", person.stamps, {
            "fullname": f"{person.first_name} {person.last_name}", "firstname": person.first_name,
            "lastname": person.last_name, "internalemailaddress": person.email, "mobilephone": person.phone,
            "title": person.title, "isdisabled": False})
        return str(row["systemuserid"])

    def _product(self, index: int, stamps: Stamps, owner: str) -> str:
        item = CATALOGUE[index]
        row = self._row("products", "productid", stamps, {
            "productnumber": item.code, "name": item.name, "description": item.description,
            "price": money(item.price), "_defaultuomid_value": self.units[item.unit],
            "_transactioncurrencyid_value": self.currencies["EUR"], "pa_vatrate": item.vat_rate.quantize(CENT),
            "productstructure": 1, "statecode": 0, "statuscode": 1, "_ownerid_value": owner})
        return str(row["productid"])

    def _customer(self, customer: Customer, users: list[str], products: list[str]) -> None:
        if customer.anomaly in REPAIRED_ANOMALIES:
            customer.siren = customer.einvoicing = new_siren(self.rng)
            customer.siret, customer.vat, customer.anomaly = new_siret(self.rng, customer.siren), fr_vat(customer.siren), None
        billing = customer.billing
        account = self._row("accounts", "accountid", customer.stamps, {
            "name": customer.name, "accountnumber": None, "telephone1": customer.phone,
            "websiteurl": f"https://www.{customer.domain}" if customer.domain else None,
            "address1_line1": billing.street, "address1_city": billing.city, "address1_postalcode": billing.postcode,
            "address1_country": billing.country, "customertypecode": CUSTOMER_TYPE_CODE,
            "_parentaccountid_value": None, "_ownerid_value": users[customer.owner],
            "_transactioncurrencyid_value": self.currencies[customer.currency],
            "pa_siren": customer.siren, "pa_siret": customer.siret, "pa_vatnumber": customer.vat,
            "pa_einvoicingaddress": customer.einvoicing, "pa_customertype": customer.kind,
            "statecode": 0, "statuscode": 1})
        if customer.anomaly:
            self.anomalies.append({"vendor": "dynamics", "object": "accounts", "id": account["accountid"],
                                   "problem": customer.anomaly})
        contacts = [self._contact(person, account["accountid"], users[customer.owner]) for person in customer.contacts]
        for deal in customer.deals:
            self._opportunity(deal, account["accountid"], contacts[0] if contacts else None, users, products)

    def _contact(self, person: Person, account_id: str, owner: str) -> str:
        row = self._row("contacts", "contactid", person.stamps, {
            "firstname": person.first_name, "lastname": person.last_name,
            "fullname": f"{person.first_name} {person.last_name}", "emailaddress1": person.email,
            "telephone1": person.phone, "jobtitle": person.title, "_parentcustomerid_value": account_id,
            "_ownerid_value": owner, "statecode": 0, "statuscode": 1})
        return str(row["contactid"])

    def _opportunity(self, deal: Deal, account_id: str, contact_id: str | None, users: list[str],
                     products: list[str]) -> None:
        statecode, statuscode, salesstage, stepname = OPPORTUNITY_STATES[deal.stage.key]
        amount = money(deal.amount)
        closed = iso_date(deal.close_day) if statecode != 0 else None
        row = self._row("opportunities", "opportunityid", deal.stamps, {
            "name": deal.name, "description": deal.description, "_customerid_value": account_id,
            "_parentaccountid_value": account_id, "_parentcontactid_value": contact_id,
            "_transactioncurrencyid_value": self.currencies[deal.currency],
            "exchangerate": EXCHANGE_RATES[deal.currency].quantize(RATE), "estimatedvalue": amount,
            "actualvalue": amount if statecode == 1 else None, "estimatedclosedate": iso_date(deal.close_day),
            "actualclosedate": closed, "closeprobability": deal.stage.probability, "statecode": statecode,
            "statuscode": statuscode, "salesstage": salesstage, "stepname": stepname,
            "isrevenuesystemcalculated": False, "_ownerid_value": users[deal.owner]})
        for order, line in enumerate(deal.lines, start=1):
            self._line(line, row, products[line.product_index], order)

    def _line(self, line: Line, opportunity: Record, product_id: str, order: int) -> None:
        base = line.quantity * line.unit_price
        tax = (line.total * line.vat_rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        self._row("opportunityproducts", "opportunityproductid", line.stamps, {
            "_opportunityid_value": opportunity["opportunityid"], "_productid_value": product_id,
            "_uomid_value": self.units[line.product.unit],
            "_transactioncurrencyid_value": opportunity["_transactioncurrencyid_value"],
            "exchangerate": opportunity["exchangerate"], "productdescription": line.description,
            "quantity": line.quantity.quantize(QUANTITY), "priceperunit": money(line.unit_price),
            "baseamount": money(base), "manualdiscountamount": money(base - line.total), "tax": money(tax),
            "extendedamount": money(line.total + tax), "sequencenumber": order, "isproductoverridden": False,
            "ispriceoverridden": False})


def render_dynamics(crm: Crm, seed: int, clock: Clock, references: Sequence[Record] = ()) -> tuple[Record, list[Record]]:
    """The ``dynamics`` section of a dataset and its anomalies."""
    rng = random.Random(f"passerelle:{seed}:dynamics:ids")
    share_identities(crm, list(references), rng)
    renderer = DynamicsRenderer(rng)
    return renderer.render(crm, clock, seed), renderer.anomalies


def build_dynamics_dataset(dataset: dict[str, Any], accounts: int = 30) -> Record:
    """The Dataverse org served for ``dataset`` when it has no ``dynamics`` section: drawn from the
    dataset's seed and clock (and its other CRMs' companies), so it is the same on every start."""
    seed, clock = int(dataset.get("seed") or 1), Clock.parse(dataset["clock"])
    section, anomalies = render_dynamics(build_crm(seed, "dynamics", accounts, clock), seed, clock,
                                         reference_companies(dataset))
    section["anomalies"] = anomalies
    return section
