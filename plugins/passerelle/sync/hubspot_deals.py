"""HubSpot deal fields written by the sync: provisioned once, then updated 100 deals per call.

The fields are deal properties of a ``passerelle`` group's own names (``passerelle_*``), created by the first
apply if the portal lacks them (HubSpot answers 409 to a second create: taken as done). Updates go through
``batch/update`` (100 inputs per call); a 207 names the deals HubSpot could not find, which are refused alone;
a 400 refuses the whole batch for one bad value, so the batch is split in halves until the bad deal is alone
(the others are written).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from passerelle.sync.deal_fields import DEAL_FIELDS, BatchOutcome
from passerelle.sync.vendor_calls import Rejected, VendorWriter

BATCH = 100
GROUP = "dealinformation"
HUBSPOT_TYPES = {"number": ("number", "number"), "amount": ("number", "number"), "text": ("string", "text"),
                 "date": ("date", "date")}
FIELDS: dict[str, tuple[str, str, str, str]] = {
    # property name (the field's neutral key): (type, fieldType, label, marts.deal_delivery column)
    f.key: (*HUBSPOT_TYPES[f.kind], f.label, f.column) for f in DEAL_FIELDS}


@dataclass
class HubSpotDeals:
    writer: VendorWriter

    def provision(self) -> list[str]:
        """Create the deal properties the portal lacks; returns the names created."""
        body = self.writer.read("/crm/v3/properties/deals", operation="read_fields")
        have = {p.get("name") for p in (body or {}).get("results", [])}
        made = []
        for name, (kind, field_type, label, _) in FIELDS.items():
            if name in have:
                continue
            try:
                self.writer.write("POST", "/crm/v3/properties/deals", operation="create_field",
                                  json={"name": name, "label": label, "type": kind, "fieldType": field_type,
                                        "groupName": GROUP, "description": "Écrit par Passerelle."},
                                  object_id=lambda answer: answer.get("name"))
            except Rejected as exc:
                if exc.status != 409:  # 409: made meanwhile by another run
                    raise
                continue
            made.append(name)
        return made

    def update(self, changes: list[tuple[str, dict[str, str]]]) -> BatchOutcome:
        """Write ``(deal id, properties)`` pairs; returns the ids written and those refused with the reason."""
        outcome = BatchOutcome([], {})
        for start in range(0, len(changes), BATCH):
            self._send(changes[start:start + BATCH], outcome)
        return outcome

    def _send(self, batch: list[tuple[str, dict[str, str]]], outcome: BatchOutcome) -> None:
        inputs = [{"id": deal_id, "properties": properties} for deal_id, properties in batch]
        try:
            answer = self.writer.write("POST", "/crm/v3/objects/deals/batch/update", operation="update_deals",
                                       json={"inputs": inputs}, object_id=lambda _: None)
        except Rejected as exc:
            if exc.status != 400 or len(batch) == 1:
                for deal_id, _ in batch:
                    outcome.refused[deal_id] = _message(exc.body) or str(exc)
                return
            middle = len(batch) // 2
            self._send(batch[:middle], outcome)
            self._send(batch[middle:], outcome)
            return
        missing: set[str] = set()
        for error in (answer or {}).get("errors", []):
            for deal_id in (error.get("context") or {}).get("ids", []):
                missing.add(str(deal_id))
                outcome.refused[str(deal_id)] = error.get("message") or error.get("category") or "refused"
        outcome.written += [deal_id for deal_id, _ in batch if deal_id not in missing]


def _message(body: Any) -> str | None:
    return body.get("message") if isinstance(body, dict) else None
