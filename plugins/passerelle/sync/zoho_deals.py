"""Zoho CRM and Bigin deal fields written by the sync: created through the fields API, updated 100 deals per call.

Zoho names a created field's API name after its label, so the fields are found by their label (unique in a
module) and written under the API name the module's metadata gives. Updates are ``PUT /{module}`` (Zoho CRM
``Deals``, Bigin ``Pipelines``) with at most 100 records; the answer has one ``data[]`` entry per record, in
input order (207 when some failed, 400 when all did), so a refused deal is recorded alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from passerelle.errors import PasserelleError
from passerelle.sync.deal_fields import DEAL_FIELDS, TEXT_LENGTH, BatchOutcome, typed
from passerelle.sync.vendor_calls import Rejected, VendorWriter

BATCH = 100
ZOHO_TYPES = {"number": "double", "amount": "currency", "text": "text", "date": "date"}


class ZohoFieldsMissing(PasserelleError):
    """The module lacks deal fields the sync could not create (the message names them)."""


@dataclass
class ZohoDeals:
    writer: VendorWriter
    module: str
    names: dict[str, str] = field(default_factory=dict)
    """Neutral key → the module's API name."""

    def _read_fields(self) -> None:
        body = self.writer.read("/settings/fields", operation="read_fields", module=self.module)
        by_label = {str(f.get("field_label", "")).casefold(): f.get("api_name")
                    for f in (body or {}).get("fields", []) if isinstance(f, dict)}
        self.names = {f.key: by_label[f.label.casefold()] for f in DEAL_FIELDS if by_label.get(f.label.casefold())}

    def provision(self) -> list[str]:
        """Create the fields the module lacks (one call); returns the labels created."""
        self._read_fields()
        missing = [f for f in DEAL_FIELDS if f.key not in self.names]
        if not missing:
            return []
        rows = [{"field_label": f.label, "data_type": ZOHO_TYPES[f.kind],
                 **({"length": TEXT_LENGTH} if f.kind == "text" else {})} for f in missing]
        try:
            answer = self.writer.write("POST", "/settings/fields", operation="create_field", params={"module": self.module},
                                       json={"fields": rows}, object_id=lambda _: None)
        except Rejected as exc:
            answer = exc.body
            if not (isinstance(answer, dict) and isinstance(answer.get("fields"), list)):
                answer = {"fields": [{"code": f"HTTP {exc.status}", "message": _message(answer) or str(exc)}] * len(rows)}
        made, refused = [], []
        for spec, entry in zip(missing, answer.get("fields", []) if isinstance(answer, dict) else []):
            if entry.get("status") == "success":
                made.append(spec.label)
            elif entry.get("code") != "DUPLICATE_DATA":  # made meanwhile by another run
                refused.append(f"{spec.label} ({entry.get('code')}: {entry.get('message')})")
        self._read_fields()
        still = [f"{f.label} ({ZOHO_TYPES[f.kind]})" for f in DEAL_FIELDS if f.key not in self.names]
        if still:
            raise ZohoFieldsMissing(f"{self.writer.vendor} module {self.module} lacks the fields "
                                    f"{', '.join(still)}; create them in the set-up"
                                    + (f" (refused: {'; '.join(refused)})" if refused else ""))
        return made

    def update(self, changes: list[tuple[str, dict[str, str]]]) -> BatchOutcome:
        """Write ``(deal id, {key: text})`` pairs; returns the ids written and those refused with Zoho's message."""
        if not self.names:
            self._read_fields()
        outcome = BatchOutcome()
        for start in range(0, len(changes), BATCH):
            batch = changes[start:start + BATCH]
            data = [{"id": deal_id, **{self.names[k]: typed(k, v) for k, v in values.items()}}
                    for deal_id, values in batch]
            try:
                answer = self.writer.write("PUT", f"/{self.module}", operation="update_deals", json={"data": data},
                                           object_id=lambda _: None)
            except Rejected as exc:
                answer = exc.body
                if not (isinstance(answer, dict) and isinstance(answer.get("data"), list)):
                    for deal_id, _ in batch:  # the whole call refused (no per-record answer)
                        outcome.refused[deal_id] = _message(answer) or str(exc)
                    continue
            entries = answer.get("data", []) if isinstance(answer, dict) else []
            for (deal_id, _), entry in zip(batch, entries):
                if entry.get("status") == "success":
                    outcome.written.append(deal_id)
                else:
                    outcome.refused[deal_id] = _message(entry) or "refused"
        return outcome


def _message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    details = body.get("details") or {}
    where = details.get("api_name") if isinstance(details, dict) else None
    text = " ".join(str(p) for p in (body.get("code"), body.get("message")) if p)
    return f"{text} ({where})" if text and where else text or None
