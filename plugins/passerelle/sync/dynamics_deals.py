"""Dynamics 365 (Dataverse) opportunity columns written by the sync, through ``$batch`` change sets.

The columns are ``<prefix>_<words>`` on ``opportunity`` (``psl_percentdone``; the prefix is the publisher's,
``psl`` unless the Connection names another: Dataverse allows 2 to 8 characters): the first apply
creates the missing ones through the metadata API (``EntityDefinitions(LogicalName='opportunity')/Attributes``);
a column Dataverse refuses to create (no System Customizer role, another publisher's prefix) is a set-up error
naming it. Updates are ``PATCH opportunities(<id>)`` with ``If-Match: *`` (an update, never the upsert
Dataverse makes of a PATCH on a missing row), grouped in one change set per ``$batch`` of at most 1,000
requests. A change set is all or nothing: when Dataverse refuses one request, its answer names that request's
``Content-ID``; the opportunity is recorded as refused and the rest of the set is sent again.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from passerelle import exact_json
from passerelle.errors import PasserelleError
from passerelle.sync.deal_fields import DEAL_FIELDS, TEXT_LENGTH, BatchOutcome, DealField, typed
from passerelle.sync.vendor_calls import Rejected, VendorWriter

API = "/api/data/v9.2"
PREFIX = "psl"
"""Default customization prefix of the publisher the columns belong to (2 to 8 letters or digits in Dataverse;
a Connection's extra ``publisher_prefix`` names the org's own)."""
ENTITY, ENTITY_SET = "opportunity", "opportunities"
ODATA = {"OData-Version": "4.0", "OData-MaxVersion": "4.0"}
BOUNDS = {"MinValue": -100_000_000_000, "MaxValue": 100_000_000_000, "Precision": 2}
ATTRIBUTES: dict[str, dict[str, Any]] = {
    "number": {"@odata.type": "Microsoft.Dynamics.CRM.DecimalAttributeMetadata", **BOUNDS},
    "amount": {"@odata.type": "Microsoft.Dynamics.CRM.MoneyAttributeMetadata", **BOUNDS, "PrecisionSource": 0},
    "text": {"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "MaxLength": TEXT_LENGTH,
             "FormatName": {"Value": "Text"}},
    "date": {"@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata", "Format": "DateOnly",
             "DateTimeBehavior": {"Value": "DateOnly"}},
}
BATCH = 1000
_PART = re.compile(r"Content-ID:\s*(\S+)\s+HTTP/1\.1 (\d{3})[^\n]*\n(.*?)\r?\n\r?\n(.*?)(?=\r?\n--|\Z)", re.S | re.I)
_STATUS = re.compile(r"HTTP/1\.1 (\d{3})[^\n]*\n(?:.*?)\r?\n\r?\n(.*?)(?=\r?\n--|\Z)", re.S)


class DynamicsColumnsMissing(PasserelleError):
    """``opportunity`` lacks columns the sync writes (the message names them)."""


def column(key: str, prefix: str = PREFIX) -> str:
    """``passerelle_percent_done`` → ``psl_percentdone`` (Dataverse's logical name of the column)."""
    return schema_name(key, prefix).lower()


@dataclass
class DynamicsDeals:
    writer: VendorWriter
    prefix: str = PREFIX

    def _columns(self) -> set[str]:
        body = self.writer.read(f"{API}/EntityDefinitions(LogicalName='{ENTITY}')/Attributes", operation="read_fields",
                                **{"$select": "LogicalName"}) or {}
        return {str(row.get("LogicalName")) for row in body.get("value", []) if isinstance(row, dict)}

    def provision(self) -> list[str]:
        """Create the opportunity columns Dataverse lacks (metadata API); returns the columns created."""
        have = self._columns()
        made, refused = [], []
        for spec in DEAL_FIELDS:
            if column(spec.key, self.prefix) in have:
                continue
            try:
                self.writer.write("POST", f"{API}/EntityDefinitions(LogicalName='{ENTITY}')/Attributes",
                                  operation="create_field", json=_attribute(spec, self.prefix), headers=ODATA,
                                  object_id=lambda _, name=column(spec.key, self.prefix): name)
            except Rejected as exc:
                refused.append(f"{column(spec.key, self.prefix)}: {_odata_message(exc.body) or exc}")
                continue
            made.append(column(spec.key, self.prefix))
        if refused:
            have = self._columns()
            missing = [f"{column(f.key, self.prefix)} ({ATTRIBUTES[f.kind]['@odata.type'].rsplit('.', 1)[-1]}, « {f.label} »)"
                       for f in DEAL_FIELDS if column(f.key, self.prefix) not in have]
            if missing:
                raise DynamicsColumnsMissing(f"dynamics opportunity lacks the columns {', '.join(missing)}: add them "
                                             f"in the set-up (refused: {'; '.join(refused)})")
        return made

    def update(self, changes: list[tuple[str, dict[str, str]]]) -> BatchOutcome:
        """Write ``(opportunity id, {key: text})`` pairs, 1,000 per ``$batch``; returns written and refused ids."""
        outcome = BatchOutcome()
        for start in range(0, len(changes), BATCH):
            pending = {str(n): change for n, change in enumerate(changes[start:start + BATCH], start=1)}
            while pending:
                failed, message = self._send(pending)
                if failed is None:
                    outcome.written += [deal_id for deal_id, _ in pending.values()]
                    break
                if failed not in pending:  # the refusal names no request: the whole set is refused
                    outcome.refused.update({deal_id: message for deal_id, _ in pending.values()})
                    break
                outcome.refused[pending.pop(failed)[0]] = message
        return outcome

    def _send(self, pending: dict[str, tuple[str, dict[str, str]]]) -> tuple[str | None, str]:
        """One ``$batch`` with one change set; returns (the refused request's Content-ID, its message) or (None, "")."""
        batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
        base = self.writer.api.base_url
        lines = [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
        for content_id, (deal_id, values) in pending.items():
            body = exact_json.dumps({column(k, self.prefix): typed(k, v) for k, v in values.items()})
            lines += [f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                      f"Content-ID: {content_id}", "", f"PATCH {base}{API}/{ENTITY_SET}({deal_id}) HTTP/1.1",
                      "Content-Type: application/json", "If-Match: *", "", body]
        lines += [f"--{changeset}--", f"--{batch}--", ""]
        try:
            answer = self.writer.write("POST", f"{API}/$batch", operation="update_deals", data="\r\n".join(lines),
                                       headers={"Content-Type": f"multipart/mixed; boundary={batch}",
                                                "OData-Version": "4.0", "OData-MaxVersion": "4.0"},
                                       object_id=lambda _: None)
        except Rejected as exc:
            return "", _odata_message(exc.body) or str(exc)
        text = answer if isinstance(answer, str) else ""
        for content_id, status, _, body in _PART.findall(text):
            if int(status) >= 400:
                return content_id, _odata_message(body) or f"HTTP {status}"
        statuses = _STATUS.findall(text)
        bad = next(((s, b) for s, b in statuses if int(s) >= 400), None)
        if bad or not statuses:
            return "", _odata_message(bad[1]) if bad else "no answer per request in the $batch response"
        return None, ""


def schema_name(key: str, prefix: str = PREFIX) -> str:
    """``passerelle_percent_done`` → ``psl_PercentDone``: the publisher's prefix, then the key's words."""
    rest = key.removeprefix("passerelle_")
    return f"{prefix}_{''.join(word.capitalize() for word in rest.split('_'))}"


def _attribute(spec: DealField, prefix: str) -> dict[str, Any]:
    label = {"@odata.type": "Microsoft.Dynamics.CRM.Label", "LocalizedLabels": [
        {"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": spec.label, "LanguageCode": 1036}]}
    return {**ATTRIBUTES[spec.kind], "SchemaName": schema_name(spec.key, prefix), "DisplayName": label,
            "Description": {**label, "LocalizedLabels": [{**label["LocalizedLabels"][0], "Label": "Écrit par Passerelle."}]},
            "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                              "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}}


def _odata_message(body: Any) -> str | None:
    if isinstance(body, str):
        try:
            body = exact_json.loads(body.strip())
        except ValueError:
            return body.strip()[:300] or None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    return " ".join(str(p) for p in (error.get("code"), error.get("message")) if p) or None
