"""Salesforce ``Case`` and ``CaseComment``: the support objects every org has, even when the dataset holds none.

``Case.Status`` is a restricted picklist (``New``, ``Working``, ``Escalated``, ``Closed``): another value is a
400 ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``. ``IsClosed``, ``ClosedDate`` and ``CaseNumber`` are set by
Salesforce (an auto-number, and the moment the case reached a closed status), never by the API. A
``CaseComment`` belongs to its case (``ParentId``, required) and touching it does not change the case.
"""

from __future__ import annotations

from typing import Any

from passerelle_sandbox.salesforce_schema import field_def
from passerelle_sandbox.soql import FieldDef, ObjectSchema

Record = dict[str, Any]
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
CLOSED_STATUSES = frozenset({"Closed"})
PREFIXES = {"Case": "500", "CaseComment": "00a"}
_SAMPLES: dict[str, Record] = {
    "Case": {"Id": "5005g00000A1b2cAAB", "CaseNumber": "00001001", "Subject": "s", "Description": "d",
             "Status": "New", "IsClosed": False, "ClosedDate": "2026-01-01T00:00:00.000Z", "Type": "Question",
             "Origin": "Web", "Priority": "Medium", "AccountId": "0015g00000A1b2cAAB",
             "OwnerId": "0055g00000A1b2cAAB", "IsDeleted": False, "CreatedDate": "2026-01-01T00:00:00.000Z",
             "LastModifiedDate": "2026-01-01T00:00:00.000Z", "SystemModstamp": "2026-01-01T00:00:00.000Z"},
    "CaseComment": {"Id": "00a5g00000A1b2cAAB", "CommentBody": "c", "IsPublished": False, "IsDeleted": False,
                    "CreatedDate": "2026-01-01T00:00:00.000Z", "LastModifiedDate": "2026-01-01T00:00:00.000Z",
                    "SystemModstamp": "2026-01-01T00:00:00.000Z"},
}
DERIVED = {"Case": frozenset({"IsClosed", "ClosedDate", "CaseNumber"})}
REQUIRED = {"Case": ("Status",), "CaseComment": ("ParentId",)}
PICKLIST_VALUES = {("Case", "Status"): CASE_STATUSES}


def support_schemas() -> dict[str, ObjectSchema]:
    """``Case`` and ``CaseComment`` metadata (``CaseComment.ParentId`` refers to a case)."""
    schemas = {}
    for name, sample in _SAMPLES.items():
        fields = {field: field_def(name, field, value) for field, value in sample.items()}
        if name == "Case":
            fields["Status"] = FieldDef("Status", "picklist", "Status")
        if name == "CaseComment":
            fields["ParentId"] = FieldDef("ParentId", "reference", "Parent ID", ("Case",))
        schemas[name] = ObjectSchema(name, fields)
    return schemas


def stamp_case(record: Record, creating: bool, now: str, number: int) -> None:
    """What Salesforce sets on a case it saves: its number, whether it is closed and since when."""
    if creating and not record.get("CaseNumber"):
        record["CaseNumber"] = f"{number:08d}"
    closed = record.get("Status") in CLOSED_STATUSES
    if closed and not record.get("IsClosed"):
        record["ClosedDate"] = now
    elif not closed:
        record["ClosedDate"] = None
    record["IsClosed"] = closed
