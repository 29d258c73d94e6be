"""HubSpot v4 associations of one record: list, create (default or typed) and remove.

``GET /crm/v4/objects/{type}/{id}/associations/{toType}`` pages the record's links (500 a page);
``PUT …/associations/default/{toType}/{toId}`` links with the default type and answers both
directions; ``PUT …/associations/{toType}/{toId}`` with a list of association types answers the
labels between the pair; ``DELETE`` removes every link between the pair. A link change moves the
modification date of both records (HubSpot recalculates their ``num_associated_*`` properties), so
the next incremental read sees it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.hubspot_errors import hs_error
from passerelle_sandbox.hubspot_model import ASSOCIATION_TYPE_IDS, OBJECT_TYPE_IDS
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
LINK_PAGE = 500
CATEGORIES = frozenset({"HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"})


class RecordLinks:
    """v4 single-record association handlers mixed into the HubSpot emulator."""

    lock: threading.RLock
    records: dict[str, Collection]
    associations: dict[tuple[str, str], dict[str, dict[str, int]]]

    if TYPE_CHECKING:  # provided by HubSpotApp and VendorApp
        def now_text(self) -> str: ...
        def _type(self, name: str) -> str: ...
        def _changed(self, object_type: str) -> None: ...
        def _stamp_modified(self, obj: str, record: Record, now: str) -> None: ...
        def _associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None) -> None: ...
        def _limit(self, call: Call, default: int, maximum: int) -> int: ...
        def _next_link(self, call: Call, after: str) -> str: ...

    def on_links(self, call: Call, object_type: str, record_id: str, to_type: str) -> Response:
        object_type, to_type = self._type(object_type), self._type(to_type)
        limit = self._limit(call, LINK_PAGE, LINK_PAGE)
        after = call.request.args.get("after", "0")
        if not after.isdigit():
            raise hs_error(400, "VALIDATION_ERROR", f"Invalid after value '{after}'")
        with self.lock:
            targets = list(self.associations.get((object_type, to_type), {}).get(record_id, {}).items())
        page = offset_page(targets, int(after), limit)
        body: Record = {"results": [
            {"toObjectId": int(to_id),
             "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]}
            for to_id, type_id in page.items
        ]}
        if page.has_more:
            next_after = str(page.end)
            body["paging"] = {"next": {"after": next_after, "link": self._next_link(call, next_after)}}
        return json_response(body)

    def _pair(self, object_type: str, record_id: str, to_type: str, to_id: str) -> tuple[str, Record, str, Record]:
        object_type, to_type = self._type(object_type), self._type(to_type)
        ends = []
        for kind, key in ((object_type, record_id), (to_type, to_id)):
            record = self.records[kind].get(key)
            if record is None or record.get("archived"):
                raise hs_error(404, "OBJECT_NOT_FOUND", f"No {kind} with id {key} exists",
                               context={"id": [key]})
            ends.append(record)
        return object_type, ends[0], to_type, ends[1]

    def _touch(self, object_type: str, record: Record, to_type: str, target: Record) -> None:
        now = self.now_text()
        for kind, item in ((object_type, record), (to_type, target)):
            self._stamp_modified(kind, item, now)
            self._changed(kind)

    def on_link_default(self, call: Call, object_type: str, record_id: str, to_type: str, to_id: str) -> Response:
        with self.lock:
            started = self.now_text()
            object_type, record, to_type, target = self._pair(object_type, record_id, to_type, to_id)
            forward = ASSOCIATION_TYPE_IDS.get((object_type, to_type))
            backward = ASSOCIATION_TYPE_IDS.get((to_type, object_type))
            if forward is None or backward is None:
                raise hs_error(400, "VALIDATION_ERROR", f"No default association type from {object_type} to {to_type}")
            self._associate(object_type, record_id, to_type, to_id, forward)
            self._touch(object_type, record, to_type, target)
            results = [
                {"from": {"id": record_id}, "to": {"id": to_id},
                 "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": forward}},
                {"from": {"id": to_id}, "to": {"id": record_id},
                 "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": backward}},
            ]
            return json_response({"status": "COMPLETE", "results": results, "startedAt": started,
                                  "completedAt": self.now_text()})

    def on_link(self, call: Call, object_type: str, record_id: str, to_type: str, to_id: str) -> Response:
        specs = call.request.get_json(silent=True)
        if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
            raise hs_error(400, "VALIDATION_ERROR",
                           "Invalid input JSON: expected a non-empty list of {associationCategory, associationTypeId}")
        with self.lock:
            object_type, record, to_type, target = self._pair(object_type, record_id, to_type, to_id)
            allowed = ASSOCIATION_TYPE_IDS.get((object_type, to_type))
            for spec in specs:
                if spec.get("associationCategory") not in CATEGORIES or spec.get("associationTypeId") != allowed:
                    raise hs_error(400, "VALIDATION_ERROR",
                                   f"Invalid association type {spec.get('associationCategory')}/"
                                   f"{spec.get('associationTypeId')} from {object_type} to {to_type}",
                                   context={"associationTypeId": [str(spec.get("associationTypeId"))]})
            self._associate(object_type, record_id, to_type, to_id, allowed)
            self._touch(object_type, record, to_type, target)
        return json_response({"fromObjectTypeId": OBJECT_TYPE_IDS[object_type], "fromObjectId": int(record_id),
                              "toObjectTypeId": OBJECT_TYPE_IDS[to_type], "toObjectId": int(to_id), "labels": []}, 201)

    def on_unlink(self, call: Call, object_type: str, record_id: str, to_type: str, to_id: str) -> Response:
        with self.lock:
            object_type, record, to_type, target = self._pair(object_type, record_id, to_type, to_id)
            forward = self.associations.get((object_type, to_type), {}).get(record_id, {})
            backward = self.associations.get((to_type, object_type), {}).get(to_id, {})
            removed = [forward.pop(to_id, None), backward.pop(record_id, None)]
            if any(type_id is not None for type_id in removed):
                self._touch(object_type, record, to_type, target)
        return Response(status=204)
