"""HubSpot object types, property definitions and value comparison rules.

Every property value is a string on the wire, so comparisons need the property's type: dates are
compared as instants (filters may send epoch milliseconds or ISO text), numbers numerically,
everything else as case-insensitive text. Types come from the property's name and values, since
the dataset carries values only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from passerelle_sandbox.clock import (
    canonical,
    canonicalize,
    from_epoch_ms,
    is_date_text,
    looks_like_datetime,
    parse_instant,
)

OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5", "products": "0-7",
                   "line_items": "0-8", "notes": "0-46"}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "products": "product",
            "line_items": "line_item", "tickets": "ticket", "notes": "note"}
ALIASES = {
    **{type_id: name for name, type_id in OBJECT_TYPE_IDS.items()},
    **{singular: name for name, singular in SINGULAR.items()},
    "line_item": "line_items",
}
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"}
DEFAULT_MODIFIED = "hs_lastmodifieddate"
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"),
    "line_items": ("amount", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_product_id", "name", "price",
                   "quantity"),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    "tickets": ("content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline", "hs_pipeline_stage",
                "hs_ticket_category", "hs_ticket_priority", "subject"),
    "notes": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
ENGAGEMENT_PROPERTIES = {
    # object types every portal has even when the dataset holds none of them, with their standard properties
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority",
                "closed_date", "hubspot_owner_id"),
    "notes": ("hs_note_body", "hs_timestamp", "hubspot_owner_id"),
}
REQUIRED_ON_CREATE = {"tickets": ("hs_pipeline_stage",), "notes": ("hs_timestamp",)}
"""Properties HubSpot refuses a create without (a ticket needs its stage, a note its timestamp)."""
PIPELINE_PROPERTIES = {"deals": ("pipeline", "dealstage"), "tickets": ("hs_pipeline", "hs_pipeline_stage")}
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): 1, ("companies", "contacts"): 2,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("deals", "companies"): 5, ("companies", "deals"): 6,
    ("deals", "line_items"): 19, ("line_items", "deals"): 20,
    ("deals", "tickets"): 27, ("tickets", "deals"): 28,
    ("notes", "deals"): 214, ("deals", "notes"): 213,
    ("notes", "tickets"): 228, ("tickets", "notes"): 227,
}
DATETIME_PROPERTIES = frozenset(
    {"createdate", "hs_lastmodifieddate", "lastmodifieddate", "closedate", "hs_createdate", "hs_archived_date",
     "closed_date", "hs_timestamp"}
)
NUMBER_PROPERTIES = frozenset(
    {"hs_object_id", "amount", "price", "quantity", "hs_product_id", "hs_discount_percentage", "hs_tax_rate",
     "discount", "hs_acv", "hs_arr", "hs_mrr", "hs_tcv", "numberofemployees", "annualrevenue",
     "hs_deal_stage_probability"}
)
TEXT_LIKE = re.compile(r"phone|zip|postal|siren|siret|vat|code|sku|address|_id$|^id$|fax", re.IGNORECASE)
ENUMERATIONS = frozenset(
    {"dealstage", "pipeline", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "industry", "lifecyclestage", "deal_currency_code", "customer_type", "hs_lead_status",
     "country"}
)
_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?$")


def modified_property(object_type: str) -> str:
    return MODIFIED_PROPERTY.get(object_type, DEFAULT_MODIFIED)


def type_label(object_type: str, to_type: str) -> str:
    return f"{SINGULAR.get(object_type, object_type)}_to_{SINGULAR.get(to_type, to_type)}"


@dataclass(frozen=True)
class PropertyDef:
    name: str
    type: str  # datetime, date, number, bool, enumeration, string
    field_type: str
    label: str | None = None  # a property made through the API keeps its label and group
    group: str | None = None
    unique: bool = False  # ``hasUniqueValue``: no two live records hold the same value

    def as_json(self, object_type: str, order: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or " ".join(part.capitalize() for part in self.name.replace("hs_", "", 1).split("_")),
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": self.group or f"{SINGULAR.get(object_type, object_type)}information",
            "options": [],
            "displayOrder": order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique or self.name == "hs_object_id",
            "hidden": False,
            "hubspotDefined": self.group is None and not self.name.startswith(
                ("siren", "siret", "vat_", "einvoicing", "customer_type")),
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": True, "readOnlyValue": False},
            "formField": self.type in ("string", "enumeration"),
        }


def infer_property(name: str, samples: list[str]) -> PropertyDef:
    if name in DATETIME_PROPERTIES or (samples and all(looks_like_datetime(v) for v in samples)):
        return PropertyDef(name, "datetime", "date")
    if samples and all(is_date_text(v) for v in samples):
        return PropertyDef(name, "date", "date")
    if name in NUMBER_PROPERTIES or (
        samples and not TEXT_LIKE.search(name) and all(_NUMBER.match(v) for v in samples)
    ):
        return PropertyDef(name, "number", "number")
    if samples and all(v in ("true", "false") for v in samples):
        return PropertyDef(name, "bool", "booleancheckbox")
    if name in ENUMERATIONS:
        return PropertyDef(name, "enumeration", "select")
    if name in ("description", "notes", "content", "hs_note_body") or name.endswith("_description"):
        return PropertyDef(name, "string", "textarea")
    return PropertyDef(name, "string", "text")


def infer_properties(
    object_type: str, records: list[dict[str, Any]], sample_size: int = 50
) -> dict[str, PropertyDef]:
    """Definitions for the union of the records' property names (plus the ones every object has)."""
    names: dict[str, None] = dict.fromkeys(("hs_object_id", "createdate", modified_property(object_type)))
    samples: dict[str, list[str]] = {}
    for record in records:
        properties = record.get("properties", {})
        if not properties.keys() <= names.keys():
            names.update(dict.fromkeys(properties))
        for name, value in properties.items():
            if value not in (None, ""):
                bucket = samples.setdefault(name, [])
                if len(bucket) < sample_size:
                    bucket.append(str(value))
    return {name: infer_property(name, samples.get(name, [])) for name in names}


def to_property_string(value: Any) -> str | None:
    """A value as HubSpot would store it: always a string (booleans lower-case), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FilterValueError(ValueError):
    """A filter value that cannot be compared with the property's type."""


def comparable(definition: PropertyDef | None, value: Any) -> Any:
    """A stored or filter value in a form that orders correctly for the property's type.

    Raises :class:`FilterValueError` for filter values that do not fit (a date that is neither
    epoch milliseconds nor ISO text, a non-numeric number).
    """
    if value is None or value == "":
        return None
    kind = definition.type if definition else "string"
    text = str(value).strip()
    if kind == "datetime":
        if re.fullmatch(r"-?\d+", text):
            return canonical(from_epoch_ms(int(text)))
        try:
            return canonicalize(text)
        except ValueError as exc:
            raise FilterValueError(f"'{text}' is not a valid date-time (use epoch milliseconds or ISO-8601)") from exc
    if kind == "date":
        if re.fullmatch(r"-?\d+", text):
            return canonical(from_epoch_ms(int(text)))[:10]
        try:
            return canonical(parse_instant(text))[:10]
        except ValueError as exc:
            raise FilterValueError(f"'{text}' is not a valid date") from exc
    if kind == "number":
        try:
            return float(text)
        except ValueError as exc:
            raise FilterValueError(f"'{text}' is not a number") from exc
    return text.casefold()
