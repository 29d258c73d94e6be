"""What the request → task flow needs from a CRM: its requests, and a way to close one with a note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from passerelle.sync.config import RequestRule


@dataclass(frozen=True)
class Request:
    """A CRM record marked as a request (a HubSpot ticket, a Salesforce Case), as the sync needs it."""

    crm: str
    crm_object: str
    crm_id: str
    title: str
    detail: str
    deal_ids: tuple[str, ...]
    closed: bool
    close_to: str | None
    """Where closing puts it (a HubSpot stage id, a Case status); None when nothing in the CRM can close it."""


class CrmRequests(Protocol):
    """A CRM's requests: read them, close one, note who closed its task and when."""

    def requests(self, rule: RequestRule) -> list[Request]: ...
    def close(self, request_id: str, close_to: str, link_id: int) -> None: ...
    def note(self, request_id: str, text: str, when: str, link_id: int) -> str | None: ...
