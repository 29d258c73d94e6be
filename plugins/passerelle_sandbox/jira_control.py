"""Jira emulator: the control API's record hooks (list, get, create, update, delete, bulk).

Control writes stand for people working in Jira: they change records without an API principal,
so they leave no changelog history (API writes, in :mod:`passerelle_sandbox.jira_writes`, do).
"""

from __future__ import annotations

import hashlib
from typing import Any

from passerelle_sandbox.clock import canonical_ms, epoch_ms, from_canonical
from passerelle_sandbox.core import ControlError
from passerelle_sandbox.dataset_jira import BILLING_PROPERTY, STATUSES
from passerelle_sandbox.jira_common import Record
from passerelle_sandbox.store import Collection

OBJECTS = ("projects", "versions", "issues", "worklogs", "users")
STATUS = {s[1]: s for s in STATUSES}


class JiraControlMixin:
    """The control hooks of :class:`passerelle_sandbox.jira.JiraApp` over its in-memory stores."""

    projects: dict[str, Record]
    versions: dict[str, Record]
    issues: Collection
    worklogs: Collection
    users: dict[str, Record]
    account: Record
    _last_ids: dict[str, int]
    _rng: Any
    _bulk_serial: Any
    parse_time: Any


    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _control_view(self, obj: str, record: Record) -> Record:
        if obj == "issues":
            view = self.render_issue(record, ["*all"])
            view["fields"]["customfields"] = {k: v for k, v in record.items() if k.startswith("customfield_")}
            return view
        if obj == "worklogs":
            return self.render_worklog(record, True)
        if obj == "projects":
            return {**self.render_project(record, {"description", "lead"}, list(record.get("properties", {}))),
                    "deleted": bool(record.get("deleted"))}
        if obj == "versions":
            return self.render_version(record)
        return {**self.user_ref(record["accountId"]), "locale": record.get("locale")}

    def _store(self, obj: str) -> Any:
        return {"projects": self.projects, "versions": self.versions, "issues": self.issues,
                "worklogs": self.worklogs, "users": self.users}[obj]

    def _get(self, obj: str, record_id: str) -> Record:
        store = self._store(obj)
        record = store.get(record_id)
        if record is None and obj == "issues":
            record = next((i for i in store.values() if i["key"] == record_id), None)
        if record is None and obj == "projects":
            record = next((p for p in store.values() if p["key"] == record_id), None)
        if record is None or record.get("deleted"):
            raise ControlError(404, f"no {obj} record {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        live = [self._control_view(obj, r) for r in self._store(obj).values() if not r.get("deleted")]
        if include_deleted:
            if obj == "worklogs":
                live += [{"id": t.id, "issueId": t.record["issueId"], "deleted": True,
                          "deletedAt": epoch_ms(from_canonical(t.deleted_at))} for t in self.worklogs.tombstones()]
            elif obj == "issues":
                live += [{"id": t.id, "key": t.record["key"], "deleted": True,
                          "deletedAt": epoch_ms(from_canonical(t.deleted_at))} for t in self.issues.tombstones()]
            elif obj == "projects":
                live += [self._control_view(obj, r) for r in self.projects.values() if r.get("deleted")]
        return live

    def control_get(self, obj: str, record_id: str) -> Record:
        record = self._get(obj, record_id)
        return {"id": record.get("id", record.get("accountId")), "record": self._control_view(obj, record)}

    def _next_id(self, obj: str) -> str:
        if obj not in self._last_ids:
            existing = [int(k) for k in self._store(obj) if str(k).isdigit()]
            if obj in ("issues", "worklogs"):
                existing += [int(t.id) for t in self._store(obj).tombstones()]
            self._last_ids[obj] = max(existing, default=10_000)
        self._last_ids[obj] += 1
        return str(self._last_ids[obj])

    def _touch_issue(self, issue_id: str, now: int) -> None:
        if issue_id in self.issues:
            self.issues.touch(issue_id, at=canonical_ms(now))

    def next_issue_key(self, project: Record) -> str:
        """The project's next key: one past every key it has used, deleted issues' included."""
        prefix = project["key"] + "-"
        used = [*self.issues.values(), *(t.record for t in self.issues.tombstones())]
        return prefix + str(1 + max((int(i["key"].rsplit("-", 1)[1]) for i in used if i["key"].startswith(prefix)),
                                    default=0))

    def _apply(self, obj: str, record: Record, fields: dict[str, Any], now: int) -> None:
        fields = dict(fields)
        if obj == "issues":
            status = fields.pop("status", None)
            if status is not None:
                if status not in STATUS:
                    raise ControlError(400, f"unknown status {status!r}; known: {sorted(STATUS)}")
                was_done = STATUS[record.get("status", "To Do")][2] == "done"
                record["status"] = status
                if STATUS[status][2] == "done" and not was_done:
                    record["resolutiondate"] = now
                elif STATUS[status][2] != "done":
                    record["resolutiondate"] = None
            for name in ("summary", "assignee", "labels", "duedate", "fixVersions", "issuetype",
                         "timeoriginalestimate", "priority"):
                if name in fields:
                    record[name] = fields.pop(name)
            for name in [k for k in fields if k.startswith("customfield_")]:
                record[name] = fields.pop(name)
        elif obj == "worklogs":
            if "billable" in fields:
                billable = fields.pop("billable")
                record["properties"] = [p for p in record.get("properties", []) if p["key"] != BILLING_PROPERTY]
                if billable is not None:
                    record["properties"].append({"key": BILLING_PROPERTY, "value": {"billable": bool(billable)}})
            if "started" in fields:
                try:
                    record["started"] = self.parse_time(  # type: ignore[attr-defined]
                        str(fields.pop("started")))
                except ValueError as exc:
                    raise ControlError(400, f"started: {exc}") from None
            for name in ("timeSpentSeconds", "comment", "author"):
                if name in fields:
                    record[name] = fields.pop(name)
            record["updateAuthor"] = record.get("author")
            self._touch_issue(record["issueId"], now)
        elif obj == "projects":
            for name in ("name", "description", "lead", "key"):
                if name in fields:
                    record[name] = fields.pop(name)
            if "crm" in fields:
                record.setdefault("properties", {})["passerelle.crm"] = fields.pop("crm")
            if "properties" in fields:
                record.setdefault("properties", {}).update(fields.pop("properties") or {})
        elif obj == "versions":
            for name in ("name", "description", "released", "releaseDate", "startDate", "archived"):
                if name in fields:
                    record[name] = fields.pop(name)
        else:
            for name in ("displayName", "emailAddress", "active", "timeZone", "locale"):
                if name in fields:
                    record[name] = fields.pop(name)
        if fields:
            raise ControlError(400, f"unknown {obj} fields {sorted(fields)}")

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now = self.now_ms()
        fields = dict(body.get("fields") or {})
        if obj == "issues":
            project = self._get("projects", str(fields.pop("project", "")) or next(iter(self.projects)))
            record: Record = {"id": self._next_id(obj), "key": self.next_issue_key(project), "projectId": project["id"],
                              "summary": "Nouvelle tâche", "issuetype": "Task", "status": "To Do",
                              "assignee": None, "reporter": self.account["accountId"], "labels": [],
                              "created": now, "updated": now, "resolutiondate": None, "duedate": None,
                              "fixVersions": [], "timeoriginalestimate": None}
        elif obj == "worklogs":
            issue = self._get("issues", str(fields.pop("issueId", fields.pop("issue", "")) or next(iter(self.issues))))
            record = {"id": self._next_id(obj), "issueId": issue["id"], "author": self.account["accountId"],
                      "comment": "", "started": now, "timeSpentSeconds": 3600, "created": now, "updated": now,
                      "properties": []}
        elif obj == "projects":
            record = {"id": self._next_id(obj), "key": fields.pop("key", None) or f"NEW{len(self.projects)}",
                      "name": "Nouveau projet", "projectTypeKey": "software", "simplified": False, "style": "classic",
                      "isPrivate": False, "lead": self.account["accountId"], "description": "", "properties": {}}
        elif obj == "versions":
            project = self._get("projects", str(fields.pop("project", fields.pop("projectId", ""))) or next(iter(self.projects)))
            record = {"id": self._next_id(obj), "projectId": int(project["id"]), "name": "Nouveau jalon",
                      "description": "", "archived": False, "released": False}
        else:
            account = "712020:" + hashlib.sha1(f"{self.now_ms()}:{len(self.users)}:{next(self._bulk_serial)}".encode()).hexdigest()[:32]
            record = {"accountId": account, "accountType": "atlassian", "displayName": "Nouvel utilisateur",
                      "emailAddress": None, "active": True, "timeZone": self.zone, "locale": "fr_FR"}
        self._apply(obj, record, fields, now)
        record_id = record.get("id", record.get("accountId"))
        if obj in ("issues", "worklogs"):
            self._store(obj).insert(record, at=canonical_ms(now))
        else:
            self._store(obj)[record_id] = record
        return {"id": record_id, "record": self._control_view(obj, record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._get(obj, record_id)
        now = self.now_ms()
        self._apply(obj, record, dict(body.get("fields") or {}), now)
        if obj in ("issues", "worklogs"):
            self._store(obj).touch(record["id"], at=canonical_ms(now))
        return {"id": record.get("id", record.get("accountId")), "record": self._control_view(obj, record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        record = self._get(obj, record_id)
        now = self.now_ms()
        if obj == "issues":
            self.issues.delete(record["id"], at=canonical_ms(now))
            for worklog in [w for w in self.worklogs.values() if w["issueId"] == record["id"]]:
                self._delete_worklog(worklog, now)
        elif obj == "worklogs":
            self._delete_worklog(record, now)
            self._touch_issue(record["issueId"], now)
        elif obj == "projects":
            record["deleted"] = True  # moved to the trash: its issues leave every search
        elif obj == "versions":
            del self.versions[record["id"]]
        else:
            del self.users[record["accountId"]]
        return {"id": record.get("id", record.get("accountId")), "deleted": True, "deletedAt": self.stamp(now)}

    def _delete_worklog(self, worklog: Record, now: int) -> None:
        self.worklogs.delete(worklog["id"], at=canonical_ms(now))

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        live = [k for k, r in self._store(obj).items() if not r.get("deleted")]
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = sorted(self._rng.sample(live, touch), key=str) if touch else []
        issues = sorted(self.issues)
        created = []
        for _ in range(create):
            serial = next(self._bulk_serial)
            seed: dict[str, Any] = {}
            if obj == "issues":
                seed = {"project": self.issues[self._rng.choice(issues)]["projectId"], "summary": f"Bulk task {serial:07d}"}
            elif obj == "worklogs":
                seed = {"issueId": self._rng.choice(issues), "timeSpentSeconds": 900 * self._rng.randint(1, 16),
                        "billable": True, "comment": f"Bulk worklog {serial:07d}"}
            created.append(self.control_create(obj, {"fields": seed})["id"])
        for record_id in touched:
            self.control_update(obj, record_id, {"fields": fields})
        result: dict[str, Any] = {"object": obj, "stamp": self.now_text(), "created": create, "touched": touch}
        if create + touch <= 10_000:
            result["created_ids"], result["touched_ids"] = created, touched
        return result
