"""HubSpot tickets as customer requests: read with their deals, closed with a note saying who closed the task.

A ticket is a request when the rule says so (its pipeline, its category). Whether it is open comes from its
pipeline's stage metadata (``ticketState`` ``OPEN``/``CLOSED``), never from a stage name a portal may have
renamed; closing moves it to the first ``CLOSED`` stage of its own pipeline. The note is a HubSpot note
associated with the ticket (type 228), timestamped when the task was closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from passerelle.sync.config import RequestRule
from passerelle.sync.crm_requests import Request
from passerelle.sync.vendor_calls import VendorWriter

PAGE = 100
PROPERTIES = "subject,content,hs_pipeline,hs_pipeline_stage,hs_ticket_category"
NOTE_TO_TICKET = 228
"""HubSpot-defined association type: note → ticket."""


@dataclass
class HubSpotTickets:
    writer: VendorWriter

    def _pipelines(self) -> dict[str, dict[str, str]]:
        """Per ticket pipeline, each stage's ``ticketState``."""
        body = self.writer.read("/crm/v3/pipelines/tickets", operation="read_pipelines")
        return {p["id"]: {s["id"]: (s.get("metadata") or {}).get("ticketState", "OPEN") for s in p.get("stages", [])}
                for p in (body or {}).get("results", [])}

    def _tickets(self) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, "properties": PROPERTIES, "associations": "deals"}
            if after:
                params["after"] = after
            body = self.writer.read("/crm/v3/objects/tickets", operation="read_requests", **params)
            yield from body.get("results", [])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def requests(self, rule: RequestRule) -> list[Request]:
        """Every ticket the rule marks as a request, open or closed, oldest first."""
        pipelines = self._pipelines()
        found = []
        for ticket in self._tickets():
            props = ticket.get("properties") or {}
            pipeline = props.get("hs_pipeline") or "0"
            if rule.pipeline is not None and pipeline != rule.pipeline:
                continue
            if rule.categories and props.get("hs_ticket_category") not in rule.categories:
                continue
            stages = pipelines.get(pipeline, {})
            deals = ((ticket.get("associations") or {}).get("deals") or {}).get("results") or []
            found.append(Request(
                crm="hubspot", crm_object="ticket", crm_id=str(ticket["id"]),
                title=props.get("subject") or f"Ticket {ticket['id']}", detail=props.get("content") or "",
                deal_ids=tuple(dict.fromkeys(str(d["id"]) for d in deals)),
                closed=stages.get(props.get("hs_pipeline_stage") or "") == "CLOSED",
                close_to=next((stage for stage, state in stages.items() if state == "CLOSED"), None)))
        return sorted(found, key=lambda r: int(r.crm_id) if r.crm_id.isdigit() else 0)

    def close(self, request_id: str, close_to: str, link_id: int) -> None:
        self.writer.write("PATCH", f"/crm/v3/objects/tickets/{request_id}", operation="close_request",
                          link_id=link_id, json={"properties": {"hs_pipeline_stage": close_to}})

    def note(self, request_id: str, text: str, when: str, link_id: int) -> str | None:
        """Attach a note to the ticket; returns the note's id."""
        answer = self.writer.write("POST", "/crm/v3/objects/notes", operation="note_request", link_id=link_id,
                                   json={"properties": {"hs_note_body": text, "hs_timestamp": when},
                                         "associations": [{"to": {"id": request_id},
                                                           "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                      "associationTypeId": NOTE_TO_TICKET}]}]})
        return str(answer.get("id")) if isinstance(answer, dict) and answer.get("id") else None
