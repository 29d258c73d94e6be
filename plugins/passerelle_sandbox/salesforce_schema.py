"""Salesforce field metadata inferred from the dataset's records, for describe and SOQL checks.

The dataset carries values, not metadata, so each field's type comes from its name and its first
non-null value, the way an org's standard fields are typed (``SystemModstamp`` is a datetime,
``AccountId`` a reference to Account, ``Amount`` a currency...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from passerelle_sandbox.clock import canonicalize, is_canonical, is_date_text, looks_like_datetime
from passerelle_sandbox.ids import normalize_salesforce_id
from passerelle_sandbox.soql import FieldDef, ObjectSchema

AUDIT_FIELDS = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
}
SYSTEM_MANAGED = frozenset(AUDIT_FIELDS)
PICKLISTS = frozenset(
    {"StageName", "Type", "Industry", "CurrencyIsoCode", "Family", "LeadSource", "ForecastCategoryName",
     "QuantityUnitOfMeasure", "Rating", "Ownership", "Salutation", "Customer_Type__c"}
)
REFERENCE_TARGETS = {"Owner": "User", "CreatedBy": "User", "LastModifiedBy": "User", "Parent": "Account"}
SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime",
    "address": "urn:address",
}


def label_for(name: str, obj: str) -> str:
    if name == "Id":
        return f"{obj} ID"
    base = name[:-3] if name.endswith("__c") else name
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base).replace("_", " ")
    return " ".join(words.split())


def infer_type(name: str, value: Any) -> str:
    if name in AUDIT_FIELDS:
        return AUDIT_FIELDS[name]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "percent" if name == "Probability" else "int"
    if isinstance(value, (float, Decimal)):  # exact numbers handed to the store are doubles too
        if any(word in name for word in ("Amount", "Price", "Revenue")):
            return "currency"
        if name in ("Probability", "Discount") or "Rate" in name:
            return "percent"
        return "double"
    if isinstance(value, dict):
        return "address"
    if isinstance(value, str):
        if is_canonical(value) or looks_like_datetime(value):
            return "datetime"
        if is_date_text(value):
            return "date"
        if name.endswith("Id") and normalize_salesforce_id(value) is not None:
            return "reference"
        if "Email" in name:
            return "email"
        if "Phone" in name or name in ("Fax", "MobilePhone"):
            return "phone"
        if name == "Website":
            return "url"
        if name in PICKLISTS:
            return "picklist"
        if name.endswith("Description"):
            return "textarea"
    return "string"


def field_def(obj: str, name: str, value: Any) -> FieldDef:
    ftype = infer_type(name, value)
    targets: tuple[str, ...] = ()
    if ftype == "reference":
        relation = name[:-2]
        targets = (REFERENCE_TARGETS.get(relation, relation),)
    return FieldDef(name, ftype, label_for(name, obj), targets)


def infer_schema(obj: str, records: Iterable[dict[str, Any]]) -> ObjectSchema:
    """Fields are the union of the records' keys (first-seen order, ``Id`` first)."""
    rows = records if isinstance(records, (list, tuple)) else list(records)
    order: dict[str, None] = {"Id": None}
    for record in rows:
        if not record.keys() <= order.keys():
            order.update(dict.fromkeys(record))
    samples: dict[str, Any] = {}
    pending = set(order)
    for record in rows:
        for key in list(pending):
            value = record.get(key)
            if value is not None:
                samples[key] = value
                pending.discard(key)
        if not pending:
            break
    return ObjectSchema(obj, {name: field_def(obj, name, samples.get(name)) for name in order})


def normalize_values(schema: ObjectSchema, records: Iterable[dict[str, Any]]) -> None:
    """Store datetimes in canonical form so they compare and sort as strings."""
    names = [d.name for d in schema.fields.values() if d.type == "datetime"]
    for record in records:
        for name in names:
            value = record.get(name)
            # inline form of clock.is_canonical: this runs millions of times on bulk datasets
            if value is None or (type(value) is str and len(value) == 24 and value[23] == "Z" and value[19] == "."):
                continue
            record[name] = canonicalize(str(value))


def describe_field(definition: FieldDef) -> dict[str, Any]:
    ftype = definition.type
    system = definition.name in SYSTEM_MANAGED
    length = {"id": 18, "reference": 18, "textarea": 32000, "email": 80, "phone": 40, "url": 255}.get(
        ftype, 255 if ftype in ("string", "picklist") else 0
    )
    return {
        "name": definition.name,
        "type": ftype,
        "label": definition.label,
        "soapType": SOAP_TYPES.get(ftype, "xsd:string"),
        "length": length,
        "precision": 18 if ftype in ("currency", "double", "percent") else 0,
        "scale": 2 if ftype in ("currency", "double", "percent") else 0,
        "custom": definition.name.endswith("__c"),
        "nillable": not system and definition.name != "Name",
        "filterable": definition.filterable,
        "sortable": definition.filterable,
        "groupable": ftype not in ("datetime", "double", "currency", "percent", "address", "textarea"),
        "createable": not system,
        "updateable": not system,
        "calculated": False,
        "externalId": False,
        "unique": False,
        "idLookup": ftype == "id",
        "referenceTo": list(definition.reference_to),
        "relationshipName": definition.name[:-2] if ftype == "reference" else None,
        "compoundFieldName": None,
        "picklistValues": [],
    }
