"""Render a :class:`~passerelle_sandbox.dataset_model.Crm` as one Pipedrive company's records.

Records are kept in the API v2 shape with exact values: amounts, prices, quantities and tax rates
are ``Decimal`` (the API sends JSON numbers) and timestamps are canonical UTC text, which the
emulator renders as RFC 3339 (v2) or ``YYYY-MM-DD HH:MM:SS`` (v1). Custom fields (SIREN, SIRET, VAT
number, e-invoicing address, customer type on organizations; a description on deals) are keyed by
40-hex-character hashes, as Pipedrive keys them; their names come from the ``fields`` definitions.
Ids are small per-company integers that increase with creation order.
"""

from __future__ import annotations

import hashlib
import random
from decimal import Decimal
from typing import Any

from passerelle_sandbox.dataset_ids import fr_vat, new_siren, new_siret
from passerelle_sandbox.dataset_model import Crm, Customer, Deal, Line, Person, build_crm
from passerelle_sandbox.dataset_refdata import CATALOGUE
from passerelle_sandbox.dataset_time import Clock, Stamps, iso_date, iso_ms

Record = dict[str, Any]
COMPANY_ID = 13_572_468
PIPELINE_ID = 1
# Stages of the default pipeline; won and lost are deal statuses, not stages.
STAGE_IDS = {"qualification": 1, "proposal": 2, "negotiation": 3}
STAGE_NAMES = {1: "Qualification", 2: "Proposition", 3: "Négociation"}
# (dataset stage key) -> (status, stage id)
STATUS_OF = {
    "won": ("won", 3), "lost": ("lost", 2), "negotiation": ("open", 3), "proposal": ("open", 2),
    "qualification": ("open", 1),
}
ORGANIZATION_FIELDS = ("SIREN", "SIRET", "VAT number", "E-invoicing address", "Customer type")
DEAL_FIELDS = ("Description",)
ENTITIES = ("organization", "person", "deal", "product")
REPAIRED_ANOMALIES = frozenset({"invalid_siren_checksum", "invalid_siret"})
"""Identifier checksum errors are quarantined by validation; the committed dataset's tests count exactly
the Salesforce and HubSpot ones, so Pipedrive organizations keep only the anomalies validation warns about."""
STANDARD_FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "organization": (("name", "Name", "varchar"), ("owner_id", "Owner", "user"), ("address", "Address", "address"),
                     ("add_time", "Organization created", "date"), ("update_time", "Update time", "date")),
    "person": (("name", "Name", "varchar"), ("org_id", "Organization", "org"), ("email", "Email", "varchar"),
               ("phone", "Phone", "phone"), ("job_title", "Job title", "varchar"),
               ("update_time", "Update time", "date")),
    "deal": (("title", "Title", "varchar"), ("value", "Value", "monetary"), ("status", "Status", "status"),
             ("org_id", "Organization", "org"), ("update_time", "Update time", "date")),
    "product": (("name", "Name", "varchar"), ("code", "Product code", "varchar"), ("unit", "Unit", "varchar"),
                ("tax", "Tax", "double"), ("prices", "Price", "price")),
}


def field_key(seed: int, entity: str, name: str) -> str:
    """The 40-hex-character key Pipedrive gives a custom field (stable for a seed)."""
    return hashlib.sha1(f"pipedrive:{seed}:{entity}:{name}".encode()).hexdigest()


def field_definitions(seed: int) -> dict[str, list[Record]]:
    """``/v1/<entity>Fields`` content: standard fields keyed by name, custom ones by hash."""
    custom = {"organization": ORGANIZATION_FIELDS, "deal": DEAL_FIELDS, "person": (), "product": ()}
    definitions: dict[str, list[Record]] = {}
    for entity in ENTITIES:
        rows: list[Record] = []
        for key, name, kind in STANDARD_FIELDS[entity]:
            rows.append({"key": key, "name": name, "field_type": kind, "edit_flag": False})
        for name in custom[entity]:
            kind = "text" if name == "Description" else "varchar"
            rows.append({"key": field_key(seed, entity, name), "name": name, "field_type": kind, "edit_flag": True})
        for order, row in enumerate(rows, start=1):
            row.update({"id": 9000 + len(definitions) * 100 + order, "order_nr": order, "active_flag": True,
                        "mandatory_flag": False, "bulk_edit_allowed": True, "add_visible_flag": True})
        definitions[entity] = rows
    return definitions


def stamp(ms: int) -> str:
    """Canonical text of a whole-second stamp (Pipedrive keeps seconds)."""
    return iso_ms(ms - ms % 1000)


class Ids:
    """Increasing integer ids for one object type, with small gaps (other users' records)."""

    def __init__(self, start: int, rng: random.Random) -> None:
        self._number, self._rng = start, rng

    def __call__(self) -> int:
        self._number += 1 + int(self._rng.random() * 3)
        return self._number


class PipedriveRenderer:
    def __init__(self, seed: int, rng: random.Random) -> None:
        self.seed = seed
        self.ids = {name: Ids(start, rng) for name, start in (
            ("users", 11_200_000), ("organizations", 0), ("persons", 0), ("deals", 0), ("products", 0),
            ("deal_products", 0))}
        self.objects: dict[str, list[Record]] = {
            name: [] for name in ("users", "organizations", "persons", "products", "deals", "deal_products")
        }
        self.anomalies: list[Record] = []
        self.rng = rng

    def custom(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        return {field_key(self.seed, entity, name): value for name, value in values.items()}

    def render(self, crm: Crm) -> Record:
        user_ids = [self._user(person) for person in crm.users]
        product_ids = [self._product(index, stamps, user_ids[0]) for index, stamps in enumerate(crm.product_stamps)]
        for customer in crm.customers:
            self._customer(customer, user_ids, product_ids)
        return {
            "company_id": COMPANY_ID,
            "pipelines": [{"id": PIPELINE_ID, "name": "Ventes"}],
            "stages": [{"id": i, "name": n, "pipeline_id": PIPELINE_ID} for i, n in STAGE_NAMES.items()],
            "fields": field_definitions(self.seed),
            "objects": self.objects,
        }

    def _user(self, person: Person) -> int:
        user_id = self.ids["users"]()
        self.objects["users"].append({
            "id": user_id, "name": f"{person.first_name} {person.last_name}", "email": person.email,
            "phone": person.phone, "default_currency": "EUR", "locale": "fr_FR", "lang": 1, "activated": True,
            "active_flag": True, "is_admin": 0, "role_id": 1, "timezone_name": "Europe/Paris",
            "created": stamp(person.stamps.created), "modified": stamp(person.stamps.modified),
            "last_login": stamp(person.stamps.modified), "icon_url": None, "is_you": False,
        })
        return user_id

    def _product(self, index: int, stamps: Stamps, owner_id: int) -> int:
        product = CATALOGUE[index]
        product_id = self.ids["products"]()
        self.objects["products"].append({
            "id": product_id, "name": product.name, "code": product.code, "description": product.description,
            "unit": product.unit, "tax": product.vat_rate, "category": None, "owner_id": owner_id,
            "is_linkable": True, "is_deleted": False, "visible_to": 3,
            "add_time": stamp(stamps.created), "update_time": stamp(stamps.modified),
            "prices": [{"product_id": product_id, "price": product.price, "currency": "EUR", "cost": Decimal("0"),
                        "direct_cost": None, "notes": ""}],
            "billing_frequency": "one-time", "billing_frequency_cycles": None, "custom_fields": {},
        })
        return product_id

    def _customer(self, customer: Customer, user_ids: list[int], product_ids: list[int]) -> None:
        if customer.anomaly in REPAIRED_ANOMALIES:
            customer.siren = customer.einvoicing = new_siren(self.rng)
            customer.siret, customer.vat, customer.anomaly = new_siret(self.rng, customer.siren), fr_vat(customer.siren), None
        org_id = self.ids["organizations"]()
        address = customer.billing
        formatted = ", ".join(part for part in (address.street, f"{address.postcode or ''} {address.city or ''}".strip(),
                                                address.country) if part)
        self.objects["organizations"].append({
            "id": org_id, "name": customer.name, "owner_id": user_ids[customer.owner],
            "add_time": stamp(customer.stamps.created), "update_time": stamp(customer.stamps.modified),
            "is_deleted": False, "visible_to": 3, "label_ids": [],
            "address": {"value": formatted or None, "route": address.street, "locality": address.city,
                        "postal_code": address.postcode, "country": address.country,
                        "formatted_address": formatted or None},
            "custom_fields": self.custom("organization", {
                "SIREN": customer.siren, "SIRET": customer.siret, "VAT number": customer.vat,
                "E-invoicing address": customer.einvoicing, "Customer type": customer.kind,
            }),
        })
        if customer.anomaly:
            self.anomalies.append({"vendor": "pipedrive", "object": "organizations", "id": str(org_id),
                                   "problem": customer.anomaly})
        person_ids = [self._person(person, org_id, user_ids[customer.owner]) for person in customer.contacts]
        for deal in customer.deals:
            self._deal(deal, org_id, person_ids[0] if person_ids else None, user_ids, product_ids)

    def _person(self, person: Person, org_id: int, owner_id: int) -> int:
        person_id = self.ids["persons"]()
        self.objects["persons"].append({
            "id": person_id, "name": f"{person.first_name} {person.last_name}", "first_name": person.first_name,
            "last_name": person.last_name, "owner_id": owner_id, "org_id": org_id,
            "add_time": stamp(person.stamps.created), "update_time": stamp(person.stamps.modified),
            "is_deleted": False, "visible_to": 3, "label_ids": [], "job_title": person.title,
            "emails": [{"value": person.email, "primary": True, "label": "work"}],
            "phones": [{"value": person.phone, "primary": True, "label": "work"}] if person.phone else [],
            "custom_fields": {},
        })
        return person_id

    def _deal(self, deal: Deal, org_id: int, person_id: int | None, user_ids: list[int], product_ids: list[int]) -> None:
        deal_id = self.ids["deals"]()
        status, stage_id = STATUS_OF[deal.stage.key]
        closed_at = f"{iso_date(deal.close_day)}T10:00:00.000Z"
        self.objects["deals"].append({
            "id": deal_id, "title": deal.name, "owner_id": user_ids[deal.owner], "person_id": person_id,
            "org_id": org_id, "stage_id": stage_id, "pipeline_id": PIPELINE_ID, "value": deal.amount,
            "currency": deal.currency, "add_time": stamp(deal.stamps.created),
            "update_time": stamp(deal.stamps.modified), "stage_change_time": stamp(deal.stamps.modified),
            "is_deleted": False, "is_archived": False, "status": status, "probability": deal.stage.probability,
            "lost_reason": "Budget" if status == "lost" else None, "visible_to": 3,
            "close_time": closed_at if status != "open" else None,
            "won_time": closed_at if status == "won" else None,
            "lost_time": closed_at if status == "lost" else None,
            "expected_close_date": iso_date(deal.close_day), "label_ids": [],
            "custom_fields": self.custom("deal", {"Description": deal.description}),
        })
        for order, line in enumerate(deal.lines, start=1):
            self._deal_product(line, deal_id, deal.currency, product_ids[line.product_index], order)

    def _deal_product(self, line: Line, deal_id: int, currency: str, product_id: int, order: int) -> None:
        self.objects["deal_products"].append({
            "id": self.ids["deal_products"](), "deal_id": deal_id, "product_id": product_id,
            "product_variation_id": None, "name": line.product.name, "item_price": line.unit_price,
            "quantity": line.quantity, "discount": line.discount, "discount_type": "percentage",
            "sum": line.total, "currency": currency, "tax": line.vat_rate, "tax_method": "exclusive",
            "is_enabled": True, "add_time": stamp(line.stamps.created), "update_time": stamp(line.stamps.modified),
            "comments": line.description, "billing_frequency": "one-time", "billing_frequency_cycles": None,
            "billing_start_date": None, "order_nr": order,
        })


def render_pipedrive(crm: Crm, seed: int) -> tuple[Record, list[Record]]:
    """The ``pipedrive`` section of a dataset and its anomalies."""
    renderer = PipedriveRenderer(seed, random.Random(f"passerelle:{seed}:pipedrive:ids"))
    return renderer.render(crm), renderer.anomalies


def build_pipedrive_dataset(dataset: dict[str, Any], organizations: int = 30) -> Record:
    """The Pipedrive company served for ``dataset`` when it has no ``pipedrive`` section: drawn from
    the dataset's seed and clock, so it is the same on every start."""
    seed = int(dataset.get("seed") or 1)
    section, anomalies = render_pipedrive(build_crm(seed, "pipedrive", organizations, Clock.parse(dataset["clock"])), seed)
    section["anomalies"] = anomalies
    return section
