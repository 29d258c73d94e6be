"""Salesforce Cases as customer requests: read by SOQL with their account's opportunities, closed with a comment.

A Case is a request when its ``Type`` is one the rule names. A Case has no standard link to an opportunity,
only to its account, so its deals are the account's opportunities; the flow keeps those that have a project
(one: the task goes there; several: a person decides). Closing sets ``Status = 'Closed'`` (Salesforce then
sets ``IsClosed`` and ``ClosedDate`` itself); the note is a private ``CaseComment`` on the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit

from passerelle.sync.config import RequestRule
from passerelle.sync.crm_requests import Request
from passerelle.sync.vendor_calls import VendorWriter

CLOSED_STATUS = "Closed"
IN_LIST = 200
"""Ids per ``IN (...)`` list: keeps each query well under the SOQL length limit."""


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class SalesforceCases:
    writer: VendorWriter

    def _query(self, soql: str, operation: str) -> Iterator[dict[str, Any]]:
        base = urlsplit(self.writer.api.base_url).path
        body = self.writer.read("/query", operation=operation, q=soql)
        while True:
            yield from body.get("records", [])
            following = body.get("nextRecordsUrl")
            if body.get("done", True) or not following:
                return
            body = self.writer.read(following[len(base):] if following.startswith(base) else following,
                                    operation=operation)

    def requests(self, rule: RequestRule) -> list[Request]:
        """Every case whose type the rule names, open or closed, oldest first."""
        types = ", ".join(_quoted(t) for t in rule.categories)
        cases = list(self._query("SELECT Id, CaseNumber, Subject, Description, IsClosed, AccountId FROM Case "
                                 f"WHERE Type IN ({types}) ORDER BY CreatedDate, Id", "read_requests"))
        accounts = sorted({c["AccountId"] for c in cases if c.get("AccountId")})
        deals: dict[str, list[str]] = {}
        for start in range(0, len(accounts), IN_LIST):
            ids = ", ".join(_quoted(a) for a in accounts[start:start + IN_LIST])
            for opportunity in self._query(f"SELECT Id, AccountId FROM Opportunity WHERE AccountId IN ({ids}) "
                                           "ORDER BY Id", "read_deals"):
                deals.setdefault(opportunity["AccountId"], []).append(opportunity["Id"])
        return [Request(crm="salesforce", crm_object="case", crm_id=case["Id"],
                        title=case.get("Subject") or f"Case {case.get('CaseNumber')}",
                        detail=case.get("Description") or "", deal_ids=tuple(deals.get(case.get("AccountId"), ())),
                        closed=bool(case.get("IsClosed")), close_to=CLOSED_STATUS)
                for case in cases]

    def close(self, request_id: str, close_to: str, link_id: int) -> None:
        self.writer.write("PATCH", f"/sobjects/Case/{request_id}", operation="close_request", link_id=link_id,
                          json={"Status": close_to}, object_id=lambda _: request_id)

    def note(self, request_id: str, text: str, when: str, link_id: int) -> str | None:
        """A private comment on the case (its text says when the task was closed); returns its id."""
        answer = self.writer.write("POST", "/sobjects/CaseComment", operation="note_request", link_id=link_id,
                                   json={"ParentId": request_id, "CommentBody": text, "IsPublished": False})
        return str(answer.get("id")) if isinstance(answer, dict) and answer.get("id") else None
