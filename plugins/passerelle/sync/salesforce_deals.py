"""Salesforce opportunity fields written by the sync: custom fields made through the Tooling API, updates
through sObject Collections (200 records per call, ``allOrNone: false``).

Each field is ``Passerelle_<Words>__c`` on Opportunity. The first apply creates the missing ones
(``POST tooling/sobjects/CustomField``; a field that exists meanwhile is taken as done), then checks the
describe: a field the integration user cannot see or edit (no field-level security, or no right to
customize the org) is a set-up error naming every such field and what to grant. Collections answer one
result per record, in order, so a refused opportunity is recorded alone with Salesforce's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from passerelle.connectors.http import JsonApi
from passerelle.errors import PasserelleError
from passerelle.sync.deal_fields import BY_KEY, DEAL_FIELDS, TEXT_LENGTH, BatchOutcome, DealField, typed
from passerelle.sync.vendor_calls import Rejected, VendorWriter

BATCH = 200
SOBJECT = "Opportunity"
FIELD_METADATA = {
    "number": {"type": "Number", "precision": 18, "scale": 2},
    "amount": {"type": "Currency", "precision": 18, "scale": 2},
    "text": {"type": "Text", "length": TEXT_LENGTH},
    "date": {"type": "Date"},
}


class SalesforceFieldsMissing(PasserelleError):
    """Opportunity lacks fields the sync writes, or the integration user cannot edit them."""


def api_name(key: str) -> str:
    """``passerelle_percent_done`` → ``Passerelle_Percent_Done__c``."""
    return "_".join(word.capitalize() for word in key.split("_")) + "__c"


def salesforce_rest(session: Any) -> JsonApi:
    """A JSON API on the org's REST base (``/services/data/vXX.X``), from the extract's Salesforce session
    (same instance, token and retry settings)."""
    instance = getattr(session.tokens.token(), "instance_url", None) or session.config.base_url
    return JsonApi(source="salesforce", base_url=f"{instance.rstrip('/')}/services/data/v{session.api_version}",
                   tokens=session.tokens, retry=session.retry, verify=session.config.verify, timeout=session.timeout)


@dataclass
class SalesforceDeals:
    writer: VendorWriter

    def _editable(self) -> set[str]:
        body = self.writer.read(f"/sobjects/{SOBJECT}/describe", operation="read_fields") or {}
        return {f["name"].lower() for f in body.get("fields", []) if f.get("updateable")}

    def provision(self) -> list[str]:
        """Create the opportunity fields the org lacks; returns the API names created."""
        editable = self._editable()
        made, refused = [], []
        for spec in DEAL_FIELDS:
            if api_name(spec.key).lower() in editable:
                continue
            try:
                self.writer.write("POST", "/tooling/sobjects/CustomField", operation="create_field",
                                  json=_definition(spec), object_id=lambda body: body.get("id"))
            except Rejected as exc:
                if _code(exc.body) != "DUPLICATE_DEVELOPER_NAME":  # made meanwhile, or not visible to us
                    refused.append(f"{api_name(spec.key)}: {_error(exc.body) or exc}")
                continue
            made.append(api_name(spec.key))
        if made or refused:
            editable = self._editable()
        missing = [f"{api_name(f.key)} ({FIELD_METADATA[f.kind]['type']})" for f in DEAL_FIELDS
                   if api_name(f.key).lower() not in editable]
        if missing:
            raise SalesforceFieldsMissing(
                f"salesforce {SOBJECT} fields missing or not editable by the integration user: {', '.join(missing)}; "
                "create them and grant Edit field-level security to the integration user's permission set"
                + (f" (creation refused: {'; '.join(refused)})" if refused else ""))
        return made

    def update(self, changes: list[tuple[str, dict[str, str]]]) -> BatchOutcome:
        """Write ``(opportunity id, {key: text})`` pairs, 200 per call; returns written and refused ids."""
        outcome = BatchOutcome()
        for start in range(0, len(changes), BATCH):
            batch = changes[start:start + BATCH]
            records = [{"attributes": {"type": SOBJECT}, "id": deal_id,
                        **{api_name(k): typed(k, v) for k, v in values.items() if k in BY_KEY}}
                       for deal_id, values in batch]
            try:
                answer = self.writer.write("PATCH", "/composite/sobjects", operation="update_deals",
                                           json={"allOrNone": False, "records": records}, object_id=lambda _: None)
            except Rejected as exc:
                for deal_id, _ in batch:
                    outcome.refused[deal_id] = _error(exc.body) or str(exc)
                continue
            for (deal_id, _), result in zip(batch, answer if isinstance(answer, list) else []):
                if result.get("success"):
                    outcome.written.append(deal_id)
                else:
                    outcome.refused[deal_id] = _error(result.get("errors")) or "refused"
        return outcome


def _definition(spec: DealField) -> dict[str, Any]:
    return {"FullName": f"{SOBJECT}.{api_name(spec.key)}",
            "Metadata": {"label": spec.label, "description": "Écrit par Passerelle.", **FIELD_METADATA[spec.kind]}}


def _first(body: Any) -> dict[str, Any]:
    return body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}


def _code(body: Any) -> str | None:
    first = _first(body)
    return first.get("errorCode") or first.get("statusCode")


def _error(body: Any) -> str | None:
    first = _first(body)
    if not first:
        return None
    fields = ", ".join(first.get("fields") or [])
    text = f"{_code(body)}: {first.get('message')}"
    return f"{text} ({fields})" if fields else text
