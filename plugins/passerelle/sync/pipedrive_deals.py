"""Pipedrive deal fields written by the sync: custom fields created once, then one ``PATCH`` per deal.

Pipedrive keys a custom field by a 40-hex hash it makes at creation (``POST /api/v1/dealFields``; the name
is what a person sees), so the fields are found by their name and written under that key. Pipedrive has no
batch update for deals: each changed deal is one ``PATCH /api/v2/deals/{id}`` with its ``custom_fields``;
a refused deal (404 gone, 400 bad value) is recorded alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from passerelle.errors import PasserelleError
from passerelle.sync.deal_fields import DEAL_FIELDS, BatchOutcome, typed
from passerelle.sync.vendor_calls import Rejected, VendorWriter

PIPEDRIVE_TYPES = {"number": "double", "amount": "double", "text": "varchar", "date": "date"}


class PipedriveFieldsMissing(PasserelleError):
    """A deal field could not be created (the message names it and Pipedrive's reason)."""


@dataclass
class PipedriveDeals:
    writer: VendorWriter
    keys: dict[str, str] = field(default_factory=dict)
    """Neutral key → Pipedrive's hash key."""

    def _read_fields(self) -> None:
        by_name: dict[str, str] = {}
        cursor: str | None = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            body = self.writer.read("/api/v2/dealFields", operation="read_fields", **params) or {}
            for row in body.get("data") or []:
                if isinstance(row, dict) and row.get("is_custom_field") and row.get("field_code"):
                    by_name.setdefault(str(row.get("field_name", "")).casefold(), str(row["field_code"]))
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                break
        self.keys = {f.key: by_name[f.label.casefold()] for f in DEAL_FIELDS if f.label.casefold() in by_name}

    def provision(self) -> list[str]:
        """Create the deal fields Pipedrive lacks; returns the names created."""
        self._read_fields()
        made = []
        for spec in DEAL_FIELDS:
            if spec.key in self.keys:
                continue
            try:
                answer = self.writer.write("POST", "/api/v1/dealFields", operation="create_field",
                                           json={"name": spec.label, "field_type": PIPEDRIVE_TYPES[spec.kind]},
                                           object_id=lambda body: (body.get("data") or {}).get("key"))
            except Rejected as exc:
                raise PipedriveFieldsMissing(f"pipedrive deal field {spec.label!r} could not be created: "
                                             f"{_message(exc.body) or exc}") from exc
            self.keys[spec.key] = answer["data"]["key"]
            made.append(spec.label)
        return made

    def update(self, changes: list[tuple[str, dict[str, str]]]) -> BatchOutcome:
        """Write ``(deal id, {key: text})`` pairs, one call per deal; returns written and refused ids."""
        if not self.keys:
            self._read_fields()
        outcome = BatchOutcome()
        for deal_id, values in changes:
            custom = {self.keys[k]: typed(k, v) for k, v in values.items()}
            try:
                self.writer.write("PATCH", f"/api/v2/deals/{deal_id}", operation="update_deals",
                                  json={"custom_fields": custom}, object_id=lambda _, d=deal_id: d)
            except Rejected as exc:
                outcome.refused[deal_id] = _message(exc.body) or str(exc)
                continue
            outcome.written.append(deal_id)
        return outcome


def _message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    return " — ".join(str(p) for p in (body.get("error"), body.get("error_info")) if p) or None
