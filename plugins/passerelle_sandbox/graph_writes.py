"""Microsoft Graph Planner writes, mixed into the Graph emulator: plans, buckets, tasks and task details.

- ``POST /planner/plans`` (``title``; ``container {url | containerId, type: group}``, or the older
  ``owner`` group id), ``POST /planner/buckets`` (``name``, ``planId``, ``orderHint``) and ``POST
  /planner/tasks`` (``planId``, ``title``, ``bucketId`` of that plan, dates, ``assignments``) answer 201
  with the new object and its ``@odata.etag``. A missing or unknown property is a 400 ``BadRequest``; an
  unknown group 404 ``Request_ResourceNotFound``, an unknown plan or bucket 404 with Planner's empty code.
- ``PATCH /planner/tasks/{id}/details`` (``description``, ``references``, ``checklist``, ``previewType``)
  needs ``If-Match`` with the details' current ETag (400 without, 412 when stale), as Planner does; a
  reference key is the URL with ``%``, ``.``, ``:``, ``@`` and ``#`` percent-encoded, its value an
  ``plannerExternalReference`` (``alias``, ``type``) or ``null`` to remove it. 204, or 200 with the
  details under ``Prefer: return=representation``.
- Graph has no idempotency key: posting twice makes two objects.
"""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_planner import new_task, ts
from passerelle_sandbox.graph_model import graph_error
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
GROUP_URL = re.compile(r"^https://graph\.microsoft\.com/(?:v1\.0|beta)/groups/([0-9a-fA-F-]{36})/?$")
DETAIL_FIELDS = frozenset({"description", "references", "checklist", "previewType"})
NEW_TASK_FIELDS = frozenset({"planId", "bucketId", "title", "startDateTime", "dueDateTime", "assignments",
                             "priority", "percentComplete", "appliedCategories", "orderHint", "details"})
ENCODED = re.compile(r"[.:@#]")
"""Characters a reference key must carry percent-encoded (with ``%`` itself)."""


def _bad(message: str) -> Any:
    return graph_error(400, "BadRequest", message)


class PlannerWrites:
    """``on_*`` write handlers; the host app provides ``store``, ``lock``, ``_get``, ``_bump``, ``_render``..."""

    store: dict[str, Collection]
    lock: Any
    credentials_: Any
    _rng: Any

    def _body(self, call: Call) -> Record:
        try:
            body = json.loads(call.request.get_data() or b"{}")
        except ValueError:
            raise _bad("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        return body

    def _created_by(self) -> Record:
        return {"user": {"displayName": None, "id": None},
                "application": {"displayName": None, "id": self.credentials_.client_id}}

    def _created(self, name: str, row: Record) -> Response:
        self.store[name].insert(row)
        return json_response({"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#planner/{name}/$entity",
                              **self._render(name, row)}, status=201)  # type: ignore[attr-defined]

    def _text(self, body: Record, name: str) -> str:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise _bad(f"The property '{name}' is required and must be a non-empty string.")
        if len(value) > 255:
            raise _bad(f"The property '{name}' exceeds the maximum length of 255.")
        return value

    def on_create_plan(self, call: Call) -> Response:
        body = self._body(call)
        title = self._text(body, "title")
        container = body.get("container")
        if isinstance(container, dict):
            match = GROUP_URL.match(str(container.get("url") or ""))
            group_id = match.group(1) if match else (container.get("containerId") if container.get("type") == "group"
                                                     else None)
        else:
            group_id = body.get("owner")
        if not group_id:
            raise _bad("The plan needs a container: a group url (https://graph.microsoft.com/v1.0/groups/{id}).")
        with self.lock:
            group = self._get("groups", str(group_id))  # type: ignore[attr-defined]
            now = ts(self.clock.now())  # type: ignore[attr-defined]
            row = {"id": self._new_id("plans"), "title": title, "createdDateTime": now,  # type: ignore[attr-defined]
                   "owner": group["id"],
                   "container": {"containerId": group["id"], "type": "group",
                                 "url": f"https://graph.microsoft.com/v1.0/groups/{group['id']}"},
                   "createdBy": self._created_by()}
            return self._created("plans", row)

    def on_create_bucket(self, call: Call) -> Response:
        body = self._body(call)
        name = self._text(body, "name")
        plan_id = self._text(body, "planId")
        with self.lock:
            self._get("plans", plan_id)  # type: ignore[attr-defined]
            siblings = sum(1 for b in self.store["buckets"].values() if b["planId"] == plan_id)
            row = {"id": self._new_id("buckets"), "name": name, "planId": plan_id,  # type: ignore[attr-defined]
                   "orderHint": str(body.get("orderHint") or f"8585{siblings:04d} !")}
            return self._created("buckets", row)

    def on_create_task(self, call: Call) -> Response:
        body = self._body(call)
        unknown = sorted(set(body) - NEW_TASK_FIELDS)
        if unknown:
            raise _bad(f"The property '{unknown[0]}' does not exist on type 'microsoft.graph.plannerTask'.")
        title = self._text(body, "title")
        plan_id = self._text(body, "planId")
        with self.lock:
            self._get("plans", plan_id)  # type: ignore[attr-defined]
            buckets = [b for b in self.store["buckets"].values() if b["planId"] == plan_id]
            bucket_id = body.get("bucketId")
            if bucket_id is not None and not any(b["id"] == bucket_id for b in buckets):
                raise graph_error(404, "", "The requested item is not found.")
            task_id = self._new_id("tasks")  # type: ignore[attr-defined]
            row = new_task(plan_id, bucket_id or "", task_id, title, self.clock.now(), "")  # type: ignore[attr-defined]
            row["createdBy"] = self._created_by()
            for name in ("startDateTime", "dueDateTime", "priority", "percentComplete", "appliedCategories",
                         "orderHint", "assignments"):
                if name in body:
                    row[name] = body[name]
            response = self._created("tasks", row)
            self._new_details(row["id"])  # type: ignore[attr-defined]
            return response

    def patch_details(self, call: Call, task_id: str) -> Response:
        """``PATCH /planner/tasks/{id}/details`` (the caller holds the lock and checked the task exists)."""
        row = self.store["details"].get(task_id) or self._new_details(task_id)  # type: ignore[attr-defined]
        sent = call.request.headers.get("If-Match")
        if not sent:
            raise graph_error(400, "", "The If-Match header must be specified for this kind of request.")
        if sent != self._etag("details", task_id):  # type: ignore[attr-defined]
            raise graph_error(412, "", "The request is invalid because the If-Match header value does not "
                              "match the current version of the resource (412 Precondition Failed).")
        changes = self._body(call)
        unknown = sorted(set(changes) - DETAIL_FIELDS)
        if unknown:
            raise _bad(f"The property '{unknown[0]}' cannot be updated.")
        references = changes.get("references")
        if references is not None:
            if not isinstance(references, dict):
                raise _bad("references must be an object keyed by encoded URLs.")
            for key, value in references.items():
                if ENCODED.search(key) or not key.startswith("http"):
                    raise _bad(f"The reference key '{key}' must be a URL with '%', '.', ':', '@' and '#' encoded.")
                if value is None:
                    row["references"].pop(key, None)
                elif not isinstance(value, dict):
                    raise _bad("A reference must be a plannerExternalReference object or null.")
                else:
                    now = ts(self.clock.now())  # type: ignore[attr-defined]
                    row["references"][key] = {"@odata.type": "#microsoft.graph.plannerExternalReference",
                                              "alias": value.get("alias"), "type": value.get("type") or "Other",
                                              "previewPriority": "8585 !", "lastModifiedDateTime": now,
                                              "lastModifiedBy": self._created_by()}
        for name in ("description", "checklist", "previewType"):
            if name in changes:
                row[name] = changes[name]
        self._bump("details", task_id)  # type: ignore[attr-defined]
        task = self.store["tasks"][task_id]
        task["hasDescription"] = bool(row.get("description"))
        task["referenceCount"] = len(row["references"])
        self._bump("tasks", task_id)  # type: ignore[attr-defined]
        if call.request.headers.get("Prefer", "").lower() == "return=representation":
            return json_response(self._render("details", row))  # type: ignore[attr-defined]
        return Response(b"", status=204)
