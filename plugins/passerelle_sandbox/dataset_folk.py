"""Render a :class:`~passerelle_sandbox.dataset_model.Crm` as one folk workspace's records.

folk keeps no modification time and no deal pipeline of its own: companies and people belong to
groups, and custom fields are defined per group, their values grouped by group id
(``customFieldValues: {grp_…: {"SIREN": "…"}}``), keyed by the field's display name. The invoicing
identifiers (SIREN, SIRET, VAT number, e-invoicing address, customer type) live in the "Clients"
group, with one numeric field ("Annual revenue", a JSON number kept exact as ``Decimal``). Ids are
prefixed UUIDs (``com_``, ``per_``, ``usr_``, ``grp_``) drawn from the seed. Addresses are one-line
strings (``street, postcode city, country``), as folk shows them.
"""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Any

from passerelle_sandbox.dataset_ids import fr_vat, new_siren, new_siret
from passerelle_sandbox.dataset_model import Crm, Customer, Person, build_crm
from passerelle_sandbox.dataset_time import Clock, iso_ms

Record = dict[str, Any]
OBJECTS = ("companies", "people", "users")
PREFIX = {"companies": "com", "people": "per", "users": "usr", "groups": "grp"}
CLIENTS_GROUP = "Clients"
COMPANY_FIELDS: tuple[tuple[str, str], ...] = (
    ("SIREN", "textField"), ("SIRET", "textField"), ("VAT number", "textField"),
    ("E-invoicing address", "textField"), ("Customer type", "singleSelect"), ("Annual revenue", "numericField"),
)
PERSON_FIELDS: tuple[tuple[str, str], ...] = (("Role", "textField"),)
REPAIRED_ANOMALIES = frozenset({"invalid_siren_checksum", "invalid_siret"})
"""As for Pipedrive: the committed dataset's tests count exactly the Salesforce and HubSpot checksum errors."""


def new_id(rng: random.Random, obj: str) -> str:
    return f"{PREFIX[obj]}_{uuid.UUID(int=rng.getrandbits(128), version=4)}"


class FolkRenderer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.group = {"id": new_id(rng, "groups"), "name": CLIENTS_GROUP}
        self.objects: dict[str, list[Record]] = {name: [] for name in OBJECTS}
        self.anomalies: list[Record] = []

    def render(self, crm: Crm) -> Record:
        users = [self._user(person) for person in crm.users]
        for customer in crm.customers:
            self._customer(customer, users)
        return {
            "groups": [dict(self.group)],
            "custom_fields": {self.group["id"]: {
                "company": [{"name": n, "type": t} for n, t in COMPANY_FIELDS],
                "person": [{"name": n, "type": t} for n, t in PERSON_FIELDS],
            }},
            "objects": self.objects,
        }

    def _user(self, person: Person) -> Record:
        user = {"id": new_id(self.rng, "users"), "fullName": f"{person.first_name} {person.last_name}",
                "email": person.email}
        self.objects["users"].append(user)
        return user

    def _customer(self, customer: Customer, users: list[Record]) -> None:
        if customer.anomaly in REPAIRED_ANOMALIES:
            customer.siren = customer.einvoicing = new_siren(self.rng)
            customer.siret, customer.vat, customer.anomaly = new_siret(self.rng, customer.siren), fr_vat(customer.siren), None
        owner = users[customer.owner]
        company_id = new_id(self.rng, "companies")
        address = customer.billing
        line = ", ".join(part for part in (address.street, f"{address.postcode or ''} {address.city or ''}".strip(),
                                           address.country) if part)
        revenue = Decimal(self.rng.randrange(10_000_000, 5_000_000_000)) / 100
        self.objects["companies"].append({
            "id": company_id, "name": customer.name, "description": "", "industry": None,
            "emails": [], "phones": [customer.phone] if customer.phone else [],
            "urls": [f"https://www.{customer.domain}"] if customer.domain else [],
            "addresses": [line] if line else [],
            "groups": [dict(self.group)],
            "customFieldValues": {self.group["id"]: {
                "SIREN": customer.siren, "SIRET": customer.siret, "VAT number": customer.vat,
                "E-invoicing address": customer.einvoicing, "Customer type": customer.kind,
                "Annual revenue": revenue,
            }},
            "createdAt": iso_ms(customer.stamps.created), "createdBy": dict(owner),
        })
        if customer.anomaly:
            self.anomalies.append({"vendor": "folk", "object": "companies", "id": company_id,
                                   "problem": customer.anomaly})
        for person in customer.contacts:
            self._person(person, company_id, customer.name, owner)

    def _person(self, person: Person, company_id: str, company_name: str, owner: Record) -> None:
        self.objects["people"].append({
            "id": new_id(self.rng, "people"), "firstName": person.first_name, "lastName": person.last_name,
            "fullName": f"{person.first_name} {person.last_name}", "description": "", "birthday": None,
            "jobTitle": person.title, "emails": [person.email], "phones": [person.phone] if person.phone else [],
            "urls": [], "addresses": [], "companies": [{"id": company_id, "name": company_name}],
            "groups": [dict(self.group)], "customFieldValues": {self.group["id"]: {"Role": person.title}},
            "createdAt": iso_ms(person.stamps.created), "createdBy": dict(owner),
        })


def render_folk(crm: Crm, seed: int) -> tuple[Record, list[Record]]:
    """The ``folk`` section of a dataset and its anomalies."""
    renderer = FolkRenderer(random.Random(f"passerelle:{seed}:folk:ids"))
    return renderer.render(crm), renderer.anomalies


def build_folk_dataset(dataset: dict[str, Any], companies: int = 25) -> Record:
    """The folk workspace served for ``dataset`` when it has no ``folk`` section: drawn from the
    dataset's seed and clock, so it is the same on every start."""
    seed = int(dataset.get("seed") or 1)
    section, anomalies = render_folk(build_crm(seed, "folk", companies, Clock.parse(dataset["clock"])), seed)
    section["anomalies"] = anomalies
    return section
