"""Project for the web (Planner Premium) schedule API: project tasks are written through operation sets.

``two-way-sync.md`` §1.12: a direct create, update or delete of ``msdyn_projecttasks`` is refused; a client
opens an operation set for a project (``msdyn_CreateOperationSetV1``), queues ``msdyn_PssCreateV1``,
``msdyn_PssUpdateV1`` and ``msdyn_PssDeleteV1`` in it and runs it with ``msdyn_ExecuteOperationSetV1``.
Persistence is asynchronous: the set is applied ``schedule_delay_seconds`` (sandbox clock) after it ran,
and until then the tasks read unchanged. The set's ``msdyn_status`` (``msdyn_operationsets``) goes
Open → Pending → Completed, or Failed with the first error, in which case nothing of it is applied.
"""

from __future__ import annotations

import copy
import threading
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.dynamics_model import TABLES, Record, odata_error
from passerelle_sandbox.dynamics_query import GUID
from passerelle_sandbox.store import Collection

ACTIONS = frozenset({"msdyn_CreateOperationSetV1", "msdyn_PssCreateV1", "msdyn_PssUpdateV1", "msdyn_PssDeleteV1",
                     "msdyn_ExecuteOperationSetV1"})
SCHEDULED = frozenset({"msdyn_projecttasks"})
STATUS = {"open": 192350000, "pending": 192350001, "completed": 192350003, "failed": 192350004}


class ProjectSchedule:
    """Schedule API handlers mixed into the Dynamics emulator."""

    lock: threading.RLock
    rows: dict[str, Collection]
    config: dict[str, Any]
    operation_sets: dict[str, Record]

    if TYPE_CHECKING:
        from passerelle_sandbox.clock import VirtualClock
        clock: VirtualClock

        def _context(self, fragment: str) -> str: ...
        def _values(self, table: Any, body: Any) -> dict[str, Any]: ...
        def _insert(self, table: Any, record_id: str | None, values: dict[str, Any]) -> Record: ...
        def _write(self, table: Any, row: Record, values: dict[str, Any], now: str) -> None: ...
        def _now(self) -> str: ...
        def control_delete(self, obj: str, record_id: str) -> Record: ...

    def schedule_action(self, call: Call, action: str, body: Any) -> Response:
        if not isinstance(body, dict):
            raise odata_error(400, "0x80060888", "The request body must be a JSON object.")
        with self.lock:
            if action == "msdyn_CreateOperationSetV1":
                project = str(body.get("ProjectId", "")).lower()
                if project not in self.rows["msdyn_projects"]:
                    raise odata_error(404, "0x80040217", f"msdyn_project With Id = {project} Does Not Exist")
                set_id = str(uuid.uuid4())
                self.operation_sets[set_id] = {"msdyn_operationsetid": set_id, "project": project, "operations": [],
                                               "msdyn_description": body.get("Description"),
                                               "msdyn_status": STATUS["open"], "due": None, "error": None}
                return self._action_answer(action, {"OperationSetId": set_id})
            operation_set = self._open_set(body.get("OperationSetId"))
            if action == "msdyn_ExecuteOperationSetV1":
                operation_set["msdyn_status"] = STATUS["pending"]
                operation_set["due"] = self.clock.now() + timedelta(seconds=float(self.config["schedule_delay_seconds"]))
            else:
                operation_set["operations"].append((action, copy.deepcopy(body)))
        return self._action_answer(action, {"OperationSetResponse": "{}"})

    def _action_answer(self, action: str, values: Record) -> Response:
        return json_response({"@odata.context": self._context(f"Microsoft.Dynamics.CRM.{action}Response"), **values})

    def _open_set(self, set_id: Any) -> Record:
        operation_set = self.operation_sets.get(str(set_id or "").lower())
        if operation_set is None:
            raise odata_error(404, "0x80040217", f"msdyn_operationset With Id = {set_id} Does Not Exist")
        if operation_set["msdyn_status"] != STATUS["open"]:
            raise odata_error(400, "0x80040265", "The operation set has already been executed.")
        return operation_set

    def run_due_operation_sets(self, now: datetime) -> None:
        """Apply the operation sets whose time has come, each all or nothing."""
        for operation_set in self.operation_sets.values():
            if operation_set["msdyn_status"] != STATUS["pending"] or operation_set["due"] > now:
                continue
            saved = self.rows["msdyn_projecttasks"].snapshot()
            try:
                for action, body in operation_set["operations"]:
                    self._apply_operation(operation_set["project"], action, body)
            except VendorError as exc:
                self.rows["msdyn_projecttasks"].rollback(saved)
                operation_set["msdyn_status"], operation_set["error"] = STATUS["failed"], exc.body["error"]["message"]
            else:
                operation_set["msdyn_status"] = STATUS["completed"]

    def _apply_operation(self, project: str, action: str, body: Record) -> None:
        table = TABLES["msdyn_projecttasks"]
        if action == "msdyn_PssDeleteV1":
            record_id = str(body.get("RecordId", "")).lower()
            if record_id not in self.rows[table.entity_set]:
                raise odata_error(404, "0x80040217", f"msdyn_projecttask With Id = {record_id} Does Not Exist")
            self.control_delete(table.entity_set, record_id)
            return
        entity = dict(body.get("Entity") or {})
        if entity.get("@odata.type") != "Microsoft.Dynamics.CRM.msdyn_projecttask":
            raise odata_error(400, "0x80040203", "Entity must be a Microsoft.Dynamics.CRM.msdyn_projecttask.")
        values = self._values(table, entity)
        record_id = str(values.pop(table.pk, "") or "").lower()
        if action == "msdyn_PssCreateV1":
            if values.get("_msdyn_project_value") != project:
                raise odata_error(400, "0x80040203", "The task must belong to the operation set's project.")
            self._insert(table, record_id if GUID.match(record_id) else None, values)
            return
        row = self.rows[table.entity_set].get(record_id)
        if row is None:
            raise odata_error(404, "0x80040217", f"msdyn_projecttask With Id = {record_id} Does Not Exist")
        self._write(table, row, values, self._now())

    def read_operation_set(self, set_id: str) -> Response:
        operation_set = self.operation_sets.get(set_id.lower())
        if operation_set is None:
            raise odata_error(404, "0x80040217", f"msdyn_operationset With Id = {set_id} Does Not Exist")
        body = {k: operation_set[k] for k in ("msdyn_operationsetid", "msdyn_description", "msdyn_status")}
        body["_msdyn_project_value"] = operation_set["project"]
        body["msdyn_executionerror"] = operation_set["error"]
        return json_response({"@odata.context": self._context("msdyn_operationsets/$entity"), **body})
