"""The delivery figures written to a deal, in one vendor-neutral list.

Each CRM writer maps a field's key to its own field name (a HubSpot property, a Salesforce ``__c`` field, a
Zoho API name, a Pipedrive hash key, a Dataverse column). The keys are what ``sync.field_state`` records, so
they never change once written: they are HubSpot's property names, the first CRM the figures went to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Kind = Literal["number", "amount", "text", "date"]


@dataclass(frozen=True)
class DealField:
    key: str
    label: str
    kind: Kind
    column: str
    """The ``marts.deal_delivery`` column the value comes from."""


DEAL_FIELDS: tuple[DealField, ...] = (
    DealField("passerelle_percent_done", "Avancement du projet (%)", "number", "percent_done"),
    DealField("passerelle_hours_billable", "Heures facturables", "number", "hours_billable"),
    DealField("passerelle_hours_non_billable", "Heures non facturables", "number", "hours_non_billable"),
    DealField("passerelle_amount_to_invoice", "Montant à facturer (HT)", "amount", "amount_to_invoice"),
    DealField("passerelle_amount_invoiced", "Montant facturé (HT)", "amount", "amount_invoiced"),
    DealField("passerelle_amount_paid", "Montant encaissé (HT)", "amount", "amount_paid"),
    DealField("passerelle_next_milestone", "Prochain jalon", "text", "next_milestone"),
    DealField("passerelle_next_milestone_date", "Date du prochain jalon", "date", "next_milestone_date"),
    DealField("passerelle_project_url", "Projet", "text", "project_url"),
)
BY_KEY = {f.key: f for f in DEAL_FIELDS}
TEXT_LENGTH = 255


@dataclass
class BatchOutcome:
    """What a CRM writer did with the updates it was given: the deal ids written, those refused (vendor's message)."""

    written: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def typed(key: str, text: str) -> Any:
    """A planned value (text as the CRM stores it) as a JSON value for CRMs with typed fields: numbers as
    JSON numbers (two decimals, exact), an empty text as null (clears the field)."""
    if text == "":
        return None
    if BY_KEY[key].kind in ("number", "amount"):
        return Decimal(text)
    return text
