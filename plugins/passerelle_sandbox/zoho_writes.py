"""Zoho CRM / Bigin record writes (``two-way-sync.md`` §1.3): insert, update, upsert and delete.

- ``POST {base}/{module}`` inserts, ``PUT {base}/{module}`` (id in each record) and
  ``PUT {base}/{module}/{id}`` update, ``POST {base}/{module}/upsert`` matches on
  ``duplicate_check_fields`` (in that order; by default the module's system key and the fields created
  ``unique``), ``DELETE {base}/{module}?ids=…`` and ``DELETE {base}/{module}/{id}`` move records to the
  recycle bin. At most 100 records (or ids) per call.
- Each record gets its own ``data[]`` entry, in input order: 201 (insert) or 200 when all succeed, 207
  for mixed outcomes, 400 when all fail, 412 when all are ``ALREADY_MODIFIED`` (the record changed after
  the ``If-Unmodified-Since`` header; ``details`` carry its current ``Modified_Time``/``Modified_By``).
- A write stamps ``Modified_By`` with the API user (the token's user: config ``api_user_id``, by
  default the org's first user) and moves ``Modified_Time`` forward, so the next ``If-Modified-Since``
  read sees it; the success ``details`` carry both, as Zoho's do.
- A record listed in config ``locked_record_ids`` (under approval, or locked by a blueprint or a user)
  refuses updates with ``RECORD_LOCKED`` (the exact message is not confirmed).
- ``trigger`` (``workflow``, ``approval``, ``blueprint``, ``pathfinder``, ``orchestration``; omitted =
  all run, ``[]`` = none) is recorded per write in :attr:`write_log` (control ``info()["writes"]``).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle import exact_json
from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_time import SECOND_MS, iso_ms, parse_iso
from passerelle_sandbox.store import Collection, Stamps, Tombstone
from passerelle_sandbox.zoho_fields import FieldProblem, invalid
from passerelle_sandbox.zoho_model import Record, org_time, zoho_error

MAX_RECORDS = 100
TRIGGERS = ("workflow", "approval", "blueprint", "pathfinder", "orchestration")
ALL_TRIGGERS = list(TRIGGERS)
SYSTEM_KEYS = {"Contacts": ("Email",), "Accounts": ("Account_Name",), "Deals": ("Deal_Name",),
               "Pipelines": ("Deal_Name",), "Products": ("Product_Name",), "Quotes": ("Subject",),
               "Cases": ("Subject",), "Tasks": ("Subject",)}
"""Upsert's default duplicate check per module (custom modules: ``Name``)."""
NAME_KEYS = ("Account_Name", "Deal_Name", "Full_Name", "Product_Name", "Subject")
RECORD_STAMPS = Stamps(modified="Modified_Time", modified_by="Modified_By", precision_ms=SECOND_MS)
"""Zoho keeps seconds; ``Created_Time``/``Created_By`` are set by the writes themselves."""
USER_STAMPS = Stamps(modified="Modified_Time", precision_ms=SECOND_MS)


def deleted_entry(tombstone: Tombstone) -> Record:
    """One row of ``{module}/deleted`` from a recycle-bin tombstone."""
    info = tombstone.info
    return {"id": tombstone.record["id"], "display_name": info["display_name"], "type": info["type"],
            "deleted_by": tombstone.deleted_by, "created_by": info["created_by"], "deleted_time": tombstone.deleted_at}


class RecordWrites:
    """Write handlers mixed into :class:`~passerelle_sandbox.zoho.ZohoApp`."""

    lock: threading.RLock
    config: dict[str, Any]
    offset: str
    records: dict[str, Collection]
    field_meta: dict[str, list[Record]]

    if TYPE_CHECKING:
        def _module(self, module: str) -> str: ...
        def _now(self) -> str: ...
        def _new_id(self) -> str: ...
        def record_values(self, module: str, data: Record, index: int) -> Record: ...
        def _fields_of(self, module: str) -> dict[str, Record]: ...

    # ----------------------------------------------------------------------------- stamps

    @property
    def write_log(self) -> deque[Record]:
        return self.__dict__.setdefault("_write_log", deque(maxlen=500))

    def _user_stamp(self, user_id: str) -> Record | None:
        user = self.records["users"].get(user_id)
        if user is None or user.get("status") != "active":
            return None
        return {"name": user["full_name"], "id": user["id"]}

    def api_user(self) -> Record:
        """``{name, id}`` of the user the OAuth token acts for."""
        chosen = self.config.get("api_user_id")
        users = sorted(self.records["users"].values(), key=lambda u: int(u["id"]))
        user = self.records["users"].get(str(chosen)) if chosen else users[0]
        if user is None:
            raise zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        return {"name": user["full_name"], "id": user["id"]}

    def _later(self, previous: str | None) -> str:
        """Now, or one second after ``previous`` when the clock has not moved past it (monotonic per record)."""
        now = self._now()
        if previous and parse_iso(previous) >= parse_iso(now):
            return iso_ms(parse_iso(previous) + SECOND_MS)
        return now

    def _success(self, record: Record, message: str, **extra: Any) -> Record:
        details = {"Modified_Time": org_time(record["Modified_Time"], self.offset),
                   "Modified_By": record["Modified_By"], "Created_Time": org_time(record["Created_Time"], self.offset), "id": record["id"],
                   "Created_By": record.get("Created_By")}
        return {"code": "SUCCESS", "details": details, "message": message, "status": "success", **extra}

    # ---------------------------------------------------------------------------- request

    def _payload(self, call: Call) -> tuple[list[Any], list[str], Record]:
        try:
            body = exact_json.loads(call.request.get_data() or b"null")
        except ValueError:
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject"}) from None
        if not isinstance(body, dict) or "data" not in body:
            raise zoho_error(400, "MANDATORY_NOT_FOUND", "required field not found",
                             {"api_name": "data", "json_path": "$.data"})
        data = body["data"]
        if not isinstance(data, list) or not data:
            raise zoho_error(400, "INVALID_DATA", "invalid data",
                             {"expected_data_type": "jsonarray", "api_name": "data", "json_path": "$.data"})
        if len(data) > MAX_RECORDS:
            raise zoho_error(400, "LIMIT_EXCEEDED", "Limit exceeded",
                             {"limit": MAX_RECORDS, "api_name": "data", "json_path": "$.data"})
        trigger = body.get("trigger", ALL_TRIGGERS)
        if not isinstance(trigger, list) or any(t not in TRIGGERS for t in trigger):
            raise zoho_error(400, "INVALID_DATA", "invalid data",
                             {"api_name": "trigger", "json_path": "$.trigger", "supported_values": ALL_TRIGGERS})
        return data, trigger, body

    def _unmodified_since(self, call: Call) -> str | None:
        text = call.request.headers.get("If-Unmodified-Since")
        if not text:
            return None
        try:
            return canonical(parse_instant(text))
        except ValueError:
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "If-Unmodified-Since"}) from None

    def _answer(self, module: str, operation: str, trigger: list[str] | None, entries: list[Record],
                ok_status: int) -> Response:
        self.write_log.append({"module": module, "operation": operation, "trigger": trigger,
                               "ids": [e["details"].get("id") for e in entries if e["status"] == "success"]})
        failures = [e for e in entries if e["status"] == "error"]
        if not failures:
            status = ok_status
        elif len(failures) < len(entries):
            status = 207
        else:
            status = 412 if all(e["code"] == "ALREADY_MODIFIED" for e in failures) else 400
        return json_response({"data": entries}, status)

    # ---------------------------------------------------------------------------- checks

    def _unique_fields(self, module: str) -> list[str]:
        return [f["api_name"] for f in self._fields_of(module).values() if f.get("unique")]

    def _duplicate(self, module: str, values: Record, names: list[str], index: int, own_id: str | None) -> None:
        for name in names:
            value = values.get(name)
            if value in (None, ""):
                continue
            twin = self._match(module, name, value, own_id)
            if twin is not None:
                raise FieldProblem("DUPLICATE_DATA", "duplicate data", {
                    "api_name": name, "json_path": f"$.data[{index}].{name}",
                    "duplicate_record": {"module": {"api_name": module}, "id": twin["id"], "Owner": twin.get("Owner")}})

    def _match(self, module: str, name: str, value: Any, own_id: str | None = None) -> Record | None:
        folded = value.lower() if isinstance(value, str) else value
        hits = [r for r in self.records[module].values() if r["id"] != own_id
                and (r.get(name).lower() if isinstance(r.get(name), str) else r.get(name)) == folded]
        return min(hits, key=lambda r: int(r["id"])) if hits else None

    def _mandatory(self, module: str, record: Record, index: int) -> None:
        for field in self._fields_of(module).values():
            if field.get("system_mandatory") and record.get(field["api_name"]) in (None, ""):
                raise FieldProblem("MANDATORY_NOT_FOUND", "required field not found",
                                   {"api_name": field["api_name"], "json_path": f"$.data[{index}].{field['api_name']}"})

    def _stale(self, record: Record, since: str | None) -> None:
        if since is not None and parse_iso(record["Modified_Time"]) > parse_iso(since):
            raise FieldProblem("ALREADY_MODIFIED", "record modified after the given time", {
                "id": record["id"], "Modified_Time": org_time(record["Modified_Time"], self.offset),
                "Modified_By": record.get("Modified_By")}, status=412)

    # ----------------------------------------------------------------------- operations

    def _insert(self, module: str, data: Any, index: int) -> Record:
        if not isinstance(data, dict):
            raise invalid("data", f"$.data[{index}]", expected_data_type="jsonobject")
        values = self.record_values(module, data, index)
        self._mandatory(module, values, index)
        self._duplicate(module, values, self._unique_fields(module), index, None)
        now, who = self._now(), self.api_user()
        record: Record = {"id": self._new_id(), **values, "Created_Time": now, "Modified_Time": now,
                          "Created_By": who, "Modified_By": who}
        if record.get("Owner") is None:
            owner = self.records["users"][who["id"]]
            record["Owner"] = {**who, "email": owner.get("email")}
        if module == "Contacts" and ("First_Name" in values or "Last_Name" in values):
            record["Full_Name"] = " ".join(str(v) for v in (values.get("First_Name"), values.get("Last_Name")) if v)
        self.records[module].insert(record, by=who, at=now)
        return record

    def _update(self, module: str, record: Record, data: Record, index: int, since: str | None) -> Record:
        if record["id"] in (self.config.get("locked_record_ids") or ()):
            raise FieldProblem("RECORD_LOCKED", "the record is locked", {"id": record["id"]})
        self._stale(record, since)
        values = self.record_values(module, data, index)
        merged = {**record, **values}
        self._mandatory(module, merged, index)
        self._duplicate(module, values, self._unique_fields(module), index, record["id"])
        record.update(values)
        if module == "Contacts" and ("First_Name" in values or "Last_Name" in values):
            record["Full_Name"] = " ".join(str(v) for v in (record.get("First_Name"), record.get("Last_Name")) if v)
        stamp = self._later(record["Modified_Time"])
        return self.records[module].update(record["id"], by=self.api_user(), at=stamp)

    def on_insert(self, call: Call, module: str) -> Response:
        module = self._module(module)
        data, trigger, _ = self._payload(call)
        entries: list[Record] = []
        with self.lock:
            for index, item in enumerate(data):
                try:
                    entries.append(self._success(self._insert(module, item, index), "record added"))
                except FieldProblem as problem:
                    entries.append(problem.entry())
        return self._answer(module, "insert", trigger, entries, 201)

    def _update_entries(self, module: str, items: list[tuple[int, Any, str | None]], since: str | None) -> list[Record]:
        entries: list[Record] = []
        with self.lock:
            for index, item, record_id in items:
                try:
                    if not isinstance(item, dict):
                        raise invalid("data", f"$.data[{index}]", expected_data_type="jsonobject")
                    if record_id in (None, ""):
                        raise FieldProblem("MANDATORY_NOT_FOUND", "required field not found",
                                           {"api_name": "id", "json_path": f"$.data[{index}].id"})
                    record = self.records[module].get(str(record_id))
                    if record is None:
                        raise FieldProblem("INVALID_DATA", "the id given seems to be invalid",
                                           {"api_name": "id", "json_path": f"$.data[{index}].id"})
                    entries.append(self._success(self._update(module, record, item, index, since), "record updated"))
                except FieldProblem as problem:
                    entries.append(problem.entry())
        return entries

    def on_update_many(self, call: Call, module: str) -> Response:
        module = self._module(module)
        data, trigger, _ = self._payload(call)
        items = [(i, item, item.get("id") if isinstance(item, dict) else None) for i, item in enumerate(data)]
        entries = self._update_entries(module, items, self._unmodified_since(call))
        return self._answer(module, "update", trigger, entries, 200)

    def on_update_one(self, call: Call, module: str, record_id: str) -> Response:
        module = self._module(module)
        data, trigger, _ = self._payload(call)
        items = [(i, item, record_id) for i, item in enumerate(data[:1])]
        entries = self._update_entries(module, items, self._unmodified_since(call))
        return self._answer(module, "update", trigger, entries, 200)

    def on_upsert(self, call: Call, module: str) -> Response:
        module = self._module(module)
        data, trigger, body = self._payload(call)
        since = self._unmodified_since(call)
        fields = self._fields_of(module)
        keys = body.get("duplicate_check_fields")
        if keys is None:
            keys = [k for k in SYSTEM_KEYS.get(module, ("Name",)) if k in fields] + self._unique_fields(module)
        elif not isinstance(keys, list) or not all(isinstance(k, str) and k in fields for k in keys):
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "duplicate_check_fields",
                                                                  "json_path": "$.duplicate_check_fields"})
        entries: list[Record] = []
        with self.lock:
            for index, item in enumerate(data):
                try:
                    if not isinstance(item, dict):
                        raise invalid("data", f"$.data[{index}]", expected_data_type="jsonobject")
                    found = next(((k, hit) for k in keys if item.get(k) not in (None, "")
                                  for hit in [self._match(module, k, item[k])] if hit is not None), None)
                    if found is None:
                        entries.append(self._success(self._insert(module, item, index), "record added",
                                                     action="insert", duplicate_field=None))
                    else:
                        name, record = found
                        entries.append(self._success(self._update(module, record, item, index, since),
                                                     "record updated", action="update", duplicate_field=name))
                except FieldProblem as problem:
                    entries.append(problem.entry())
        return self._answer(module, "upsert", trigger, entries, 200)

    # --------------------------------------------------------------------------- deletes

    def trash(self, module: str, record: Record, who: Record) -> None:
        """Move ``record`` to the recycle bin, deleted by ``who`` now."""
        name = next((record[k] for k in NAME_KEYS if isinstance(record.get(k), str)), None)
        self.records[module].delete(record["id"], by=who, at=self._now(), display_name=name, type="recycle",
                                    created_by=record.get("Created_By", who))

    def _delete_entries(self, module: str, ids: list[str]) -> list[Record]:
        entries: list[Record] = []
        with self.lock:
            who = self.api_user()
            for record_id in ids:
                record = self.records[module].get(record_id)
                if record is None:
                    entries.append({"code": "INVALID_DATA", "details": {"id": record_id},
                                    "message": "the id given seems to be invalid", "status": "error"})
                    continue
                self.trash(module, record, who)
                entries.append({"code": "SUCCESS", "details": {"id": record_id}, "message": "record deleted",
                                "status": "success"})
        return entries

    def on_delete_many(self, call: Call, module: str) -> Response:
        module = self._module(module)
        ids = [i for i in call.request.args.get("ids", "").split(",") if i]
        if not ids:
            raise zoho_error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                             {"param": "ids"})
        if len(ids) > MAX_RECORDS:
            raise zoho_error(400, "LIMIT_EXCEEDED", "Limit exceeded", {"limit": MAX_RECORDS, "api_name": "ids"})
        return self._answer(module, "delete", _wf_trigger(call), self._delete_entries(module, ids), 200)

    def on_delete_one(self, call: Call, module: str, record_id: str) -> Response:
        module = self._module(module)
        return self._answer(module, "delete", _wf_trigger(call), self._delete_entries(module, [record_id]), 200)


def _wf_trigger(call: Call) -> list[str] | None:
    """Deletes take ``wf_trigger=true|false`` (workflows run unless false)."""
    return [] if call.request.args.get("wf_trigger", "true").lower() == "false" else ["workflow"]


def record_count(payload: bytes) -> int:
    """How many records a write carries, for its credit cost (0 when the body is unreadable)."""
    try:
        body = exact_json.loads(payload or b"null")
    except ValueError:
        return 0
    data = body.get("data") if isinstance(body, dict) else None
    return len(data) if isinstance(data, list) else 0

