"""QuickBooks Online writes: create, full or sparse update, delete, void and ``batch`` (Accounting API v3).

Rules follow Intuit's documented write contract:

- ``POST /{entity}`` creates (``SyncToken`` "0"); with an ``Id`` in the body (``?operation=update``
  optional) it updates, the whole object unless the body says ``"sparse": true``. The body's
  ``SyncToken`` must be the current one, else ``400`` ValidationFault 5010 ``Stale Object Error``, so two
  writers never overwrite each other;
- ``?operation=delete`` removes a transaction (answer ``{"status": "Deleted"}``); Customer and Item are
  never deleted, only made inactive by an update; ``?operation=void`` (Invoice) and
  ``?operation=update&include=void`` (Payment) zero the amounts and keep the object;
- ``POST /batch``: at most 30 ``BatchItemRequest`` (create, update, delete or ``Query``), answered in HTTP
  200 with a ``Fault`` per failed item; at most 40 batch requests a minute for the company;
- a write stamps ``MetaData.LastUpdatedTime`` (seen by the next ``Metadata.LastUpdatedTime`` query and
  by CDC), bumps ``SyncToken`` and records the API's user in ``MetaData.LastModifiedByRef``.

Refused writes answer HTTP 400 with a ValidationFault (queries keep answering theirs in HTTP 200).
"""

from __future__ import annotations

import copy
import json
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, ControlError, VendorError, json_response
from passerelle_sandbox.quickbooks_model import BY_LOWER, ENTITIES, Record, render, throttle_fault
from passerelle_sandbox.quickbooks_query import QueryError, parse_query, run_query
from passerelle_sandbox.rate_limits import SlidingWindow
from passerelle_sandbox.store import Collection, Stamps

if TYPE_CHECKING:
    from datetime import timedelta

BATCH_ITEMS = 30
API_USER = "9130357992222136"
"""The QuickBooks user the app's OAuth grant acts as: ``MetaData.LastModifiedByRef`` of its writes."""
STAMPS = Stamps(modified="MetaData.LastUpdatedTime", modified_by="MetaData.LastModifiedByRef", version="SyncToken",
                first_version=0, render_version=str)
"""``SyncToken`` is the version counter: "0" when created, one more per write, stale ones refused."""
IGNORED = frozenset({"Id", "SyncToken", "MetaData", "Balance", "RemainingCredit", "UnappliedAmt", "LinkedTxn",
                     "TxnTaxDetail", "domain", "sparse", "TotalAmt", "FullyQualifiedName", "BalanceWithJobs"})
"""What QuickBooks computes or keeps itself: ignored in a write body."""
REQUIRED = {"Customer": ("DisplayName",), "Item": ("Name",), "Invoice": ("CustomerRef", "Line"),
            "CreditMemo": ("CustomerRef", "Line"), "Payment": ("CustomerRef", "TotalAmt"),
            "TimeActivity": ("EmployeeRef", "CustomerRef")}


class WriteFault(VendorError):
    """A refused write: its Fault, sent in HTTP 400 alone or inside HTTP 200 for a batch item."""


class QuickBooksWrites:
    """Write handlers mixed into the QuickBooks emulator (which provides the store and helpers used here)."""

    lock: threading.RLock
    config: dict[str, Any]
    store: dict[str, Collection]
    company: Record
    offset: timedelta
    _last_id: dict[str, int]

    if TYPE_CHECKING:
        def _time(self) -> str: ...
        def _now(self) -> str: ...
        def _settle(self, now: str, written: tuple[str, str] | None = None) -> None: ...
        def _set(self, obj: str, record: Record, fields: dict[str, Any]) -> None: ...
        def _defaults(self, obj: str, now: str) -> Record: ...
        def _queryable(self, entity: str) -> set[str]: ...
        def _unsupported(self, call: Call) -> Response: ...

    _batches: SlidingWindow

    # ------------------------------------------------------------------------ faults

    def _write_fault(self, code: str, message: str, detail: str, element: str | None = None) -> WriteFault:
        error: Record = {"Message": message, "Detail": detail, "code": code}
        if element:
            error["element"] = element
        return WriteFault(400, {"Fault": {"Error": [error], "type": "ValidationFault"}, "time": self._time()})

    def _from_control(self, exc: ControlError) -> WriteFault:
        text = exc.message
        if "Duplicate Name" in text:
            return self._write_fault("6240", "Duplicate Name Exists Error", "The name supplied already exists. : "
                                     "Another customer, vendor or employee is already using this name. Please use "
                                     "a different name.")
        if "Ref" in text.split(":")[0] or "no employee" in text or "links no existing" in text:
            return self._write_fault("2500", "Invalid Reference Id", "Invalid Reference Id : Something you're "
                                     "trying to use has been made inactive or deleted. Check the fields with "
                                     "accounts, customers, items, vendors or employees.")
        return self._write_fault("2010", "Request has invalid or unsupported property",
                                 f"Property Name:{text} specified is unsupported or invalid")

    # ---------------------------------------------------------------------- one write

    def on_write(self, call: Call, realm: str, entity: str) -> Response:
        name = BY_LOWER.get(entity.lower())
        if name not in ENTITIES:
            return self._unsupported(call)
        args = call.request.args
        operation = args.get("operation", "create")
        if operation == "update" and args.get("include") == "void":
            operation = "void"
        try:
            body = json.loads(call.request.get_data(as_text=True) or "null", parse_float=Decimal)
        except ValueError:
            raise self._write_fault("2310", "Invalid Request", "Request has invalid JSON syntax") from None
        with self.lock:
            record = self._apply(name, operation, body)
        return json_response({name: record, "time": self._time()})

    def _apply(self, name: str, operation: str, body: Any) -> Record:
        """One write under the lock: the answered object, or a :class:`WriteFault`."""
        if not isinstance(body, dict):
            raise self._write_fault("2310", "Invalid Request", f"Request has no {name} object")
        body = body.get(name, body) if isinstance(body.get(name), dict) else body
        if operation == "create" and body.get("Id") not in (None, ""):
            operation = "update"  # one endpoint for both: an Id in the body makes it an update
        if operation == "create":
            return self._create(name, body)
        record = self._current(name, body)
        if operation == "update":
            return self._update(name, record, body)
        if operation == "delete":
            return self._delete(name, record)
        if operation == "void" and name in ("Invoice", "Payment"):
            return self._void(name, record)
        raise self._write_fault("500", "Unsupported Operation", f"Operation {operation} is not supported.")

    def _commit(self, name: str, record: Record, now: str) -> None:
        """Stamp the written object once (balances it moved are re-derived, their objects stamped too)."""
        self._settle(now, written=(name, record["Id"]))
        self.store[name].update(record["Id"], by={"value": API_USER}, at=now)

    def _body_fields(self, body: Record) -> dict[str, Any]:
        fields = {k: v for k, v in body.items() if k not in IGNORED and v is not None}
        if "Line" in fields:
            fields["Line"] = [self._line(line) for line in fields["Line"]
                              if line.get("DetailType") != "SubTotalLineDetail"]
        return fields

    @staticmethod
    def _line(line: Record) -> Record:
        """A sales line as the API sends it → what the store's line pricing takes."""
        detail = line.get("SalesItemLineDetail")
        if not isinstance(detail, dict):
            return line
        want = {"ItemRef": detail.get("ItemRef"), "Qty": detail.get("Qty", 1)}
        want.update({k: v for k, v in (("UnitPrice", detail.get("UnitPrice")),
                                        ("Description", line.get("Description"))) if v is not None})
        return want

    def _write_fields(self, name: str, record: Record, fields: dict[str, Any]) -> None:
        try:
            self._set(name, record, fields)
        except ControlError as exc:
            raise self._from_control(exc) from None

    def _create(self, name: str, body: Record) -> Record:
        fields = self._body_fields(body)
        if name == "Payment" and "TotalAmt" in body:
            fields["TotalAmt"] = body["TotalAmt"]
        missing = [f for f in REQUIRED[name] if f not in fields]
        if missing:
            raise self._write_fault("2020", "Required param missing, need to supply the required value for the API",
                                    f"Required parameter {missing[0]} is missing in the request")
        now, saved = self._now(), copy.deepcopy(self._last_id)
        record = self._defaults(name, now)
        try:
            self._write_fields(name, record, fields)
        except WriteFault:
            self._last_id = saved
            raise
        self.store[name].insert(record, by={"value": API_USER}, at=now)
        self._settle(now, written=(name, record["Id"]))
        return render(record, self.offset)

    def _current(self, name: str, body: Record) -> Record:
        """The object a write names, at the ``SyncToken`` the writer read."""
        if body.get("Id") is None:
            raise self._write_fault("2020", "Required param missing, need to supply the required value for the API",
                                    "Required parameter Id is missing in the request")
        record = self.store[name].get(str(body["Id"]))
        if record is None:
            raise self._write_fault("610", "Object Not Found", "Object Not Found : Something you're trying to use "
                                    "has been made inactive. Check the fields with accounts, customers, items, "
                                    "vendors or employees.")
        if body.get("SyncToken") is None:
            raise self._write_fault("2020", "Required param missing, need to supply the required value for the API",
                                    "Required parameter SyncToken is missing in the request")
        if str(body["SyncToken"]) != record["SyncToken"]:
            raise self._write_fault("5010", "Stale Object Error", f"Stale Object Error : You and another user were "
                                    f"working on the same thing, {name}/Id={record['Id']}. The object you're saving "
                                    "has been changed since you read it: read it again and retry.")
        return record

    def _update(self, name: str, record: Record, body: Record) -> Record:
        fields, now = self._body_fields(body), self._now()
        draft = copy.deepcopy(record)
        if not body.get("sparse"):  # a full update replaces the object: what the body leaves out is cleared
            saved = copy.deepcopy(self._last_id)
            template = self._defaults(name, now)
            self._last_id = saved
            kept = set(IGNORED) | set(template)
            draft = {k: v for k, v in draft.items() if k in kept or k in fields}
            missing = [f for f in REQUIRED[name] if f not in fields and f not in ("Line", "TotalAmt")]
            if missing:
                raise self._write_fault("2020", "Required param missing, need to supply the required value for "
                                        "the API", f"Required parameter {missing[0]} is missing in the request")
        self._write_fields(name, draft, fields)
        if name == "Customer" and draft.get("Active") is False and not draft["DisplayName"].endswith(" (deleted)"):
            draft["DisplayName"] = draft["FullyQualifiedName"] = f"{draft['DisplayName']} (deleted)"
        record.clear()
        record.update(draft)
        self._commit(name, record, now)
        return render(record, self.offset)

    def _delete(self, name: str, record: Record) -> Record:
        if not ENTITIES[name].deletable:
            raise self._write_fault("500", "Unsupported Operation", f"Operation Delete is not supported for {name}: "
                                    "make it inactive (Active false) instead.")
        now = self._now()
        self.store[name].delete(record["Id"], at=now)
        self._settle(now)
        return {"domain": "QBO", "status": "Deleted", "Id": record["Id"]}

    def _void(self, name: str, record: Record) -> Record:
        """A voided transaction stays, with every amount zero and the note QuickBooks writes."""
        now = self._now()
        for line in record.get("Line", []):
            line["Amount"] = Decimal("0.00")
            detail = line.get("SalesItemLineDetail")
            if detail:
                detail["Qty"] = Decimal("0")
        record["TotalAmt"] = Decimal("0.00")
        if "TxnTaxDetail" in record:
            record["TxnTaxDetail"] = {"TotalTax": Decimal("0.00"), "TaxLine": []}
        record["PrivateNote"] = "Voided"
        self._commit(name, record, now)
        return render(record, self.offset)

    # --------------------------------------------------------------------------- batch

    def _count_batch(self) -> None:
        if self.config["enforce_rate_limits"] and not self._batches.take():
            raise throttle_fault()

    def on_batch(self, call: Call, realm: str) -> Response:
        self._count_batch()
        try:
            body = json.loads(call.request.get_data(as_text=True) or "null", parse_float=Decimal)
        except ValueError:
            raise self._write_fault("2310", "Invalid Request", "Request has invalid JSON syntax") from None
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise self._write_fault("2020", "Required param missing, need to supply the required value for the API",
                                    "Required parameter BatchItemRequest is missing in the request")
        if len(items) > BATCH_ITEMS:
            raise self._write_fault("4000", "Invalid Request", f"The batch holds {len(items)} BatchItemRequest "
                                    f"items; the maximum is {BATCH_ITEMS}.")
        with self.lock:
            answers = [self._batch_item(item) for item in items]
        return json_response({"BatchItemResponse": answers, "time": self._time()})

    def _batch_item(self, item: Record) -> Record:
        bid = item.get("bId")
        try:
            if "Query" in item:
                return {"bId": bid, **self._batch_query(str(item["Query"]))}
            names = [key for key in item if BY_LOWER.get(key.lower()) in ENTITIES]
            if not names:
                raise self._write_fault("2010", "Request has invalid or unsupported property",
                                        "Property Name: BatchItemRequest names no object")
            name = BY_LOWER[names[0].lower()]
            return {"bId": bid, name: self._apply(name, str(item.get("operation", "create")), item[names[0]])}
        except WriteFault as exc:
            return {"bId": bid, "Fault": exc.body["Fault"]}

    def _batch_query(self, text: str) -> Record:
        try:
            query = parse_query(text, self._queryable)
        except QueryError as exc:
            raise WriteFault(400, {"Fault": {"Error": [{"Message": exc.message, "Detail": exc.detail,
                                                        "code": exc.code}], "type": "ValidationFault"}}) from None
        records = list(self.store[query.entity].values()) if query.entity in self.store else [self.company]
        if query.entity in ENTITIES and ENTITIES[query.entity].name_list and not query.mentions("Active"):
            records = [r for r in records if r["Active"]]
        rows = run_query(query, records)
        page = rows[query.start - 1:query.start - 1 + query.max_results]
        answer: Record = {query.entity: [render(r, self.offset) for r in page], "startPosition": query.start,
                          "maxResults": len(page)} if page else {}
        return {"QueryResponse": answer}

