"""Render a :class:`~passerelle_sandbox.dataset_model.Crm` as HubSpot CRM v3 objects.

As in the real API every property value is a string (or ``null``): amounts as ``"1350.00"``,
dates as ISO-8601 timestamps, and ``hs_object_id`` repeats the record id.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from passerelle_sandbox.dataset_ids import HubSpotIds
from passerelle_sandbox.dataset_model import Crm, Customer, Deal, Line, Person
from passerelle_sandbox.dataset_refdata import CATALOGUE
from passerelle_sandbox.dataset_time import Stamps, iso_ms, midnight_iso

Record = dict[str, Any]
PORTAL_ID = 146123456
ID_BASES = {
    "companies": 10_100_000_000,
    "contacts": 20_100_000_000,
    "deals": 30_100_000_000,
    "line_items": 40_100_000_000,
    "products": 50_100_000_000,
    "owners": 70_000_000,
    "users": 1_000_000,
}
DEAL_TO_COMPANY, DEAL_TO_LINE_ITEM, CONTACT_TO_COMPANY = 5, 19, 1


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def number(value: Decimal) -> str:
    """Shortest plain rendering: ``3``, ``7.5``, ``5.5``, ``0``."""
    return f"{value.normalize():f}"


def hubspot_object(object_id: str, properties: Record, stamps: Stamps, modified_key: str) -> Record:
    """Wrap ``properties`` with the id and timestamps every v3 object carries."""
    created, modified = iso_ms(stamps.created), iso_ms(stamps.modified)
    properties = {**properties, "hs_object_id": object_id, "createdate": created, modified_key: modified}
    return {"id": object_id, "properties": properties, "createdAt": created, "updatedAt": modified, "archived": False}


def company_object(customer: Customer, company_id: str, owner_id: str) -> Record:
    address = customer.billing
    properties = {
        "name": customer.name,
        "domain": customer.domain,
        "address": address.street,
        "city": address.city,
        "zip": address.postcode,
        "country": address.country,
        "phone": customer.phone,
        "industry": customer.industry.hubspot if customer.industry else None,
        "siren": customer.siren,
        "siret": customer.siret,
        "vat_number": customer.vat,
        "einvoicing_address": customer.einvoicing,
        "customer_type": customer.kind,
        "hubspot_owner_id": owner_id,
    }
    return hubspot_object(company_id, properties, customer.stamps, "hs_lastmodifieddate")


def contact_object(person: Person, customer: Customer, contact_id: str) -> Record:
    properties = {
        "email": person.email,
        "firstname": person.first_name,
        "lastname": person.last_name,
        "phone": person.phone,
        "jobtitle": person.title,
        "company": customer.name,
    }
    return hubspot_object(contact_id, properties, person.stamps, "lastmodifieddate")


def product_object(index: int, stamps: Stamps, product_id: str) -> Record:
    product = CATALOGUE[index]
    properties = {
        "name": product.name,
        "price": money(product.price),
        "hs_sku": product.code,
        "description": product.description,
        "hs_tax_rate": number(product.vat_rate),
    }
    return hubspot_object(product_id, properties, stamps, "hs_lastmodifieddate")


def deal_object(deal: Deal, deal_id: str, owner_id: str) -> Record:
    properties = {
        "dealname": deal.name,
        "amount": money(deal.amount),
        "deal_currency_code": deal.currency,
        "dealstage": deal.stage.hubspot,
        "pipeline": "default",
        "closedate": midnight_iso(deal.close_day),
        "hubspot_owner_id": owner_id,
        "description": deal.description,
    }
    return hubspot_object(deal_id, properties, deal.stamps, "hs_lastmodifieddate")


def line_item_object(line: Line, line_id: str, product_id: str) -> Record:
    properties = {
        "name": line.product.name,
        "hs_product_id": product_id,
        "quantity": number(line.quantity),
        "price": money(line.unit_price),
        "amount": money(line.total),
        "hs_sku": line.product.code,
        "hs_discount_percentage": number(line.discount),
        "hs_tax_rate": number(line.vat_rate),
        "description": line.description,
    }
    return hubspot_object(line_id, properties, line.stamps, "hs_lastmodifieddate")


def owner_object(person: Person, owner_id: str, user_id: int) -> Record:
    return {
        "id": owner_id,
        "userId": user_id,
        "email": person.email,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "type": "PERSON",
        "createdAt": iso_ms(person.stamps.created),
        "updatedAt": iso_ms(person.stamps.modified),
        "archived": False,
        "teams": [],
    }


# (id, label, [(stage id, label, probability, closed)]): HubSpot's default deal pipeline, whose stage ids
# are words, and a custom one whose stage ids are numbers, as HubSpot assigns them to created stages.
DEAL_PIPELINES: tuple[tuple[str, str, tuple[tuple[str, str, str, bool], ...]], ...] = (
    ("default", "Sales Pipeline", (
        ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
        ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
        ("presentationscheduled", "Presentation Scheduled", "0.6", False),
        ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
        ("contractsent", "Contract Sent", "0.9", False),
        ("closedwon", "Closed Won", "1.0", True),
        ("closedlost", "Closed Lost", "0.0", True),
    )),
    ("75318642", "Grands comptes", (
        ("120553001", "Découverte", "0.1", False),
        ("120553002", "Proposition envoyée", "0.5", False),
        ("120553003", "Signé", "1.0", True),
        ("120553004", "Abandonné", "0.0", True),
    )),
)
PIPELINES_CREATED = "2024-01-15T09:30:00.000Z"


def deal_pipelines() -> list[Record]:
    """The deal pipelines as ``GET /crm/v3/pipelines/deals`` returns them (stage metadata are strings)."""
    pipelines = []
    for order, (pipeline_id, label, stages) in enumerate(DEAL_PIPELINES):
        pipelines.append({
            "label": label, "displayOrder": order, "id": pipeline_id,
            "stages": [
                {"label": stage_label, "displayOrder": position,
                 "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
                 "id": stage_id, "createdAt": PIPELINES_CREATED, "updatedAt": PIPELINES_CREATED, "archived": False,
                 "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
                for position, (stage_id, stage_label, probability, closed) in enumerate(stages)
            ],
            "createdAt": PIPELINES_CREATED, "updatedAt": PIPELINES_CREATED, "archived": False,
        })
    return pipelines


TICKET_STAGES = (("1", "New", "OPEN"), ("2", "Waiting on contact", "OPEN"), ("3", "Waiting on us", "OPEN"),
                 ("4", "Closed", "CLOSED"))


def ticket_pipelines() -> list[Record]:
    """The portal's default support pipeline (id ``0``), stages as HubSpot ships them (``ticketState`` metadata)."""
    return [{
        "label": "Support Pipeline", "displayOrder": 0, "id": "0",
        "stages": [
            {"label": label, "displayOrder": position, "metadata": {"ticketState": state}, "id": stage_id,
             "createdAt": PIPELINES_CREATED, "updatedAt": PIPELINES_CREATED, "archived": False,
             "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
            for position, (stage_id, label, state) in enumerate(TICKET_STAGES)
        ],
        "createdAt": PIPELINES_CREATED, "updatedAt": PIPELINES_CREATED, "archived": False,
    }]


def association(from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> Record:
    return {"from_type": from_type, "from_id": from_id, "to_type": to_type, "to_id": to_id, "type_id": type_id}


class HubSpotRenderer:
    """Assigns ids in creation order and builds every object list of one portal."""

    def __init__(self, rng: random.Random) -> None:
        self.ids = {name: HubSpotIds(base, rng) for name, base in ID_BASES.items()}
        self.objects: dict[str, list[Record]] = {
            name: [] for name in ("companies", "contacts", "deals", "line_items", "products")
        }
        self.owners: list[Record] = []
        self.associations: list[Record] = []
        self.anomalies: list[Record] = []

    def render(self, crm: Crm) -> Record:
        owner_ids = []
        for user in crm.users:
            owner = owner_object(user, self.ids["owners"](), int(self.ids["users"]()))
            self.owners.append(owner)
            owner_ids.append(owner["id"])
        product_ids = [
            self._add("products", product_object(index, stamps, self.ids["products"]()))
            for index, stamps in enumerate(crm.product_stamps)
        ]
        for customer in crm.customers:
            self._customer(customer, owner_ids, product_ids)
        return {
            "portal_id": PORTAL_ID,
            "objects": self.objects,
            "owners": self.owners,
            "associations": self.associations,
            "pipelines": {"deals": deal_pipelines()},
        }

    def _add(self, name: str, record: Record) -> str:
        self.objects[name].append(record)
        return str(record["id"])

    def _customer(self, customer: Customer, owner_ids: list[str], product_ids: list[str]) -> None:
        company = company_object(customer, self.ids["companies"](), owner_ids[customer.owner])
        company_id = self._add("companies", company)
        if customer.anomaly:
            self.anomalies.append(
                {"vendor": "hubspot", "object": "companies", "id": company_id, "problem": customer.anomaly}
            )
        for person in customer.contacts:
            contact_id = self._add("contacts", contact_object(person, customer, self.ids["contacts"]()))
            self.associations.append(association("contacts", contact_id, "companies", company_id, CONTACT_TO_COMPANY))
        for deal in customer.deals:
            deal_id = self._add("deals", deal_object(deal, self.ids["deals"](), owner_ids[deal.owner]))
            self.associations.append(association("deals", deal_id, "companies", company_id, DEAL_TO_COMPANY))
            for line in deal.lines:
                line_object = line_item_object(line, self.ids["line_items"](), product_ids[line.product_index])
                line_id = self._add("line_items", line_object)
                self.associations.append(association("deals", deal_id, "line_items", line_id, DEAL_TO_LINE_ITEM))


def render_hubspot(crm: Crm, seed: int) -> tuple[Record, list[Record]]:
    """The ``hubspot`` section of the dataset and its anomalies."""
    renderer = HubSpotRenderer(random.Random(f"passerelle:{seed}:hubspot:ids"))
    return renderer.render(crm), renderer.anomalies
