"""Zoho CRM tasks ↔ Zoho Projects tasks: the six fields Zoho's native integration carries (title,
description, end date, priority, closed/reopened status, owner), kept in step both ways.

**Pairing.** A CRM task related to a deal pairs with the Zoho Projects project of that deal (the project's
own CRM deal, or staging's identity resolution); one related to an account with the single project
identity resolution gives that customer (ids, then SIREN/SIRET/VAT, then name: never the equal-name
mapping Zoho uses). Several candidate projects are held for a person. A CRM task with no paired task
gets one, exactly once: the link (kind ``task_task``, key ``zoho_crm:task:<id>:task``) is committed
before the call, the key is stamped on the new task's description and looked up before any create.

**Fields** (:mod:`passerelle.sync.field_rules`): per field its owner, last writer wins on the vendors'
modification times, the CRM on a tie, an empty value never overwriting a filled one, every case where
both sides changed recorded in ``sync.conflicts``; the ledger (``sync.link_fields``) makes a value read
back that equals what the sync wrote no change, so nothing echoes.

**Zoho's own failures, made outcomes.** An end date outside the plan of a strict project is not sent: it
is a conflict with the project's dates (rule ``strict_project_dates``), parked until the date changes,
so it is reported once and never retried in a loop; a date the portal refuses anyway is parked the
same way with its message. Reopening a subtask whose parent is closed reopens the parent first when
``reopen_closed_parents`` allows it, else it is a ``parent_closed`` conflict, parked likewise.

**Never two writers.** On a portal whose native integration is on, the six fields are Zoho's: each
difference is planned as a ``report`` and nothing is created or written.

**Plan, then apply.** :func:`plan` stores one item per CRM task in ``sync.plan_items``; a dry run stops
there. :func:`apply` makes the writes, each audited in ``sync.writes``; a refusal is kept with the
vendor's message and the other tasks go on.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from passerelle.sync import link_fields, links
from passerelle.sync.config import TASK_FIELDS, ZohoTasks
from passerelle.sync.field_rules import Decision, Side, decide, value_hash
from passerelle.sync.make_once import Tally, make_once
from passerelle.sync.vendor_calls import Rejected, UnknownOutcome, VendorWriter
from passerelle.sync.zoho_task_fields import Unmappable, from_crm, from_pm, key_of, to_crm, to_pm
from passerelle.sync.zoho_task_sides import CrmTasks, PmTasks, instant, modifier

log = logging.getLogger(__name__)

FLOW = "zoho_tasks"
KIND = "task_task"
CRM, PM = "zoho_crm", "zoho_projects"

_STAGED_PROJECTS = """
SELECT pr.source_id, d.source_id, c.source_id
  FROM staging.project_links AS pl
  JOIN staging.projects AS pr ON pr.project_key = pl.project_key AND pr.source_system = 'zoho_projects'
  LEFT JOIN staging.deals AS d ON d.deal_key = pl.deal_key AND d.source_system = 'zoho_crm'
  LEFT JOIN staging.customers AS c ON c.customer_key = pl.customer_key AND c.source_system = 'zoho_crm'
"""


def idem_key(task_id: str) -> str:
    return f"{CRM}:task:{task_id}:task"


def pm_ref(project_id: str, task_id: str) -> str:
    """``sync.links.pm_id`` of a Zoho Projects task: ``<project>/<task>`` (a task is addressed under its project)."""
    return f"{project_id}/{task_id}"


Candidates = dict[str, set[str]]


def project_candidates(conn: Any, projects: dict[str, dict[str, Any]]) -> tuple[Candidates, Candidates]:
    """Live projects per CRM deal id and per CRM account id (identity resolution's links)."""
    by_deal: dict[str, set[str]] = {}
    by_account: dict[str, set[str]] = {}
    for project_id, project in projects.items():
        deal = ((project.get("crm") or {}).get("deal") or {}).get("id")
        if deal:
            by_deal.setdefault(str(deal), set()).add(project_id)
    with conn.cursor() as cur:
        cur.execute(_STAGED_PROJECTS)
        staged = cur.fetchall()
    conn.rollback()
    for project_id, deal, account in staged:
        if project_id not in projects:
            continue
        if deal:
            by_deal.setdefault(deal, set()).add(project_id)
        if account:
            by_account.setdefault(account, set()).add(project_id)
    return by_deal, by_account


def _links(conn: Any) -> dict[str, links.Link]:
    with conn.cursor() as cur:
        cur.execute("""SELECT crm_id, link_id, idem_key, state, pm_id, pending_ref FROM sync.links
                        WHERE link_kind = %s AND crm_system = %s AND crm_object = 'task'""", (KIND, CRM))
        rows = cur.fetchall()
    conn.rollback()
    return {r[0]: links.Link(*r[1:]) for r in rows}


def _outside(date: str | None, project: dict[str, Any]) -> bool:
    start, end = project.get("start_date"), project.get("end_date")
    return bool(date and project.get("is_strict") and start and end and not start <= date <= end)


@dataclass
class _Planner:
    """Decides each CRM task's item; reads a paired task (and a closed subtask's parent) at the portal."""

    config: ZohoTasks
    crm: CrmTasks
    pm: PmTasks
    projects: dict[str, dict[str, Any]]
    counts: Counter[str] = field(default_factory=Counter)

    def unpaired(self, task: dict[str, Any], crm_values: dict[str, Any], by_deal: dict[str, set[str]],
                 by_account: dict[str, set[str]], native: bool, pending: bool) -> dict[str, Any] | None:
        module, related = task.get("$se_module"), (task.get("What_Id") or {}).get("id")
        if module not in ("Deals", "Accounts") or not related:
            self.counts["unrelated"] += 1
            return None
        found = sorted((by_deal if module == "Deals" else by_account).get(str(related), ()))
        what = f"{'deal' if module == 'Deals' else 'account'} {related}"
        if not found:
            return {"operation": "skip", "reason": f"no Zoho Projects project delivers {what}"}
        if len(found) > 1:
            return {"operation": "skip", "reason": f"{len(found)} projects match {what} ({', '.join(found)}): a "
                                                    "person links the task's project"}
        if native:
            return {"operation": "report", "reason": "the portal's native integration is on: Zoho adds its tasks, "
                                                     "Passerelle makes none"}
        return {"operation": "create", "payload": {"project_id": found[0], "values": crm_values},
                "reason": ("task creation pending since an earlier run: look up, then create" if pending else
                           f"no paired task in project {found[0]} ({what})")}

    def paired(self, task: dict[str, Any], crm_values: dict[str, Any], link: links.Link,
               ledgers: dict[tuple[int, str], Any], native: bool) -> dict[str, Any] | None:
        project_id, task_id = str(link.pm_id).split("/", 1)
        pm_task = self.pm.task(project_id, task_id)
        if pm_task is None:
            return {"operation": "skip", "reason": f"Zoho Projects task {task_id} is gone: never recreated"}
        pm_values = from_pm(pm_task)
        crm_side = dict(modified_at=instant(task.get("Modified_Time")), modified_by=modifier(task.get("Modified_By")))
        pm_side = dict(modified_at=instant(pm_task.get("last_modified_time")),
                       modified_by=modifier(pm_task.get("last_modified_by")))
        decisions = [decide(name, self.config.owner(name), Side(crm_values[name], **crm_side),  # type: ignore[arg-type]
                            Side(pm_values[name], **pm_side), ledgers.get((link.link_id, name)),
                            name in self.config.clear) for name in TASK_FIELDS]
        if native:
            differ = [d.field for d in decisions if d.action not in ("none", "record")]
            if not differ:
                self.counts["unchanged"] += 1
                return None
            return {"operation": "report", "reason": "native integration on: Zoho syncs "
                                                     + ", ".join(differ) + "; Passerelle only reports",
                    "payload": {"crm": {f: crm_values[f] for f in differ}, "pm": {f: pm_values[f] for f in differ}}}
        payload: dict[str, Any] = {
            "link_id": link.link_id, "project_id": project_id, "task_id": task_id, "crm": {}, "pm": {}, "record": {},
            "park": [], "conflicts": [], "reopen_parent": None, "crm_modified_time": task.get("Modified_Time"),
            "keyed": key_of(pm_task.get("description")) == link.idem_key,
            "stamps": {"crm_at": _text_time(crm_side["modified_at"]), "crm_by": crm_side["modified_by"],
                       "pm_at": _text_time(pm_side["modified_at"]), "pm_by": pm_side["modified_by"]}}
        reasons: list[str] = []
        for decision in decisions:
            both = {"crm_value": crm_values[decision.field], "pm_value": pm_values[decision.field]}
            if decision.conflict:
                payload["conflicts"].append({"field": decision.field, **both, "rule": decision.rule,
                                             "winner": decision.winner})
            decision = self._checked(decision, pm_task, project_id, payload, both)
            if decision.action == "record":
                payload["record"][decision.field] = decision.value
            elif decision.target is not None:
                payload[decision.target][decision.field] = decision.value
                reasons.append(f"{decision.field} → {decision.target}: {decision.reason}")
            elif decision.action in ("kept", "parked"):
                self.counts[decision.action] += 1
        if payload["park"]:
            reasons += [f"{p['field']}: {p['reason']}" for p in payload["park"]]
        if payload["crm"] or payload["pm"]:
            operation = "update"
        elif payload["park"]:
            operation = "conflict"
        elif payload["record"]:
            operation = "record"
        else:
            self.counts["unchanged"] += 1
            return None
        return {"operation": operation, "payload": payload,
                "reason": "; ".join(reasons) or "both sides agree: the ledger is brought up to date"}

    def _checked(self, decision: Decision, pm_task: dict[str, Any], project_id: str, payload: dict[str, Any],
                 both: dict[str, Any]) -> Decision:
        """Zoho's rules and the users both products know, applied before anything is sent."""
        try:
            if decision.field == "owner" and decision.target is not None and decision.value is not None:
                users = self.crm.ids_by_email() if decision.target == "crm" else self.pm.ids_by_email()
                if decision.value not in users:
                    raise Unmappable(f"no {'Zoho CRM' if decision.target == 'crm' else 'Zoho Projects'} user has "
                                     f"the address {decision.value}")
        except Unmappable as exc:
            return self._park(decision, payload, both, "owner_unknown", str(exc))
        if decision.target != "pm":
            return decision
        project = self.projects.get(project_id, {})
        if decision.field == "end_date" and _outside(decision.value, project):
            return self._park(decision, payload, both, "strict_project_dates",
                              f"end date {decision.value} is outside the plan of strict project {project.get('name')} "
                              f"({project.get('start_date')} – {project.get('end_date')})")
        parent_id = (pm_task.get("parent_task") or {}).get("id")
        if decision.field == "status" and decision.value == "open" and parent_id:
            parent = self.pm.task(project_id, str(parent_id))
            if parent is not None and (parent.get("status") or {}).get("is_closed"):
                if not self.config.reopen_closed_parents:
                    return self._park(decision, payload, both, "parent_closed",
                                      f"the parent task {parent.get('name')} is closed and may not be reopened")
                payload["reopen_parent"] = str(parent_id)
        return decision

    @staticmethod
    def _park(decision: Decision, payload: dict[str, Any], both: dict[str, Any], rule: str, reason: str) -> Decision:
        payload["park"].append({"field": decision.field, "value": decision.value, "rule": rule, "reason": reason,
                                **both})
        return Decision(decision.field, "parked", decision.value, rule, reason)


def _text_time(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def plan(conn: Any, config: ZohoTasks, run_id: str, crm: CrmTasks, pm: PmTasks) -> Counter[str]:
    """Store one plan item per CRM task that needs something; returns counts per operation."""
    native = config.native(pm.portal())
    projects = pm.projects()
    by_deal, by_account = project_candidates(conn, projects)
    existing = _links(conn)
    ledgers = link_fields.load(conn, [link.link_id for link in existing.values()])
    planner = _Planner(config, crm, pm, projects)
    emails = crm.emails()
    items: list[dict[str, Any]] = []
    for task in crm.tasks():
        crm_values = from_crm(task, emails)
        link = existing.get(str(task["id"]))
        if link is not None and link.state == "active":
            item = planner.paired(task, crm_values, link, ledgers, native)
        elif link is not None and link.state != "pending_create":
            item = {"operation": "skip", "reason": f"the link is {link.state}: a person settles it in sync.links"}
        else:
            item = planner.unpaired(task, crm_values, by_deal, by_account, native, link is not None)
        if item is not None:
            items.append({"crm_system": CRM, "crm_id": str(task["id"]), "pm_system": PM,
                          "idem_key": idem_key(str(task["id"])), **item})
    return links.store_counted_plan(conn, run_id, FLOW, items, planner.counts, "Zoho tasks")


@dataclass
class ApplyOutcome(Tally):
    crm_writes: int = 0
    pm_writes: int = 0
    parents_reopened: int = 0
    conflicts: int = 0
    parked: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def apply(conn: Any, run_id: str, crm: CrmTasks, pm: PmTasks) -> ApplyOutcome:
    """Make the run's planned creates and writes (see the module's docstring)."""
    outcome = ApplyOutcome()
    for item in links.planned(conn, run_id, FLOW, "create"):
        _create(conn, run_id, pm, item, outcome)
    for operation in ("update", "conflict", "record"):
        for item in links.planned(conn, run_id, FLOW, operation):
            _update(conn, run_id, crm, pm, item, outcome)
    log.info("Zoho tasks: %d created, %d adopted, %d CRM writes, %d Projects writes, %d parents reopened, "
             "%d conflicts, %d parked, %d stale, %d unknown", outcome.created, outcome.adopted, outcome.crm_writes,
             outcome.pm_writes, outcome.parents_reopened, outcome.conflicts, len(outcome.parked),
             len(outcome.stale), len(outcome.unknown))
    return outcome


def _create(conn: Any, run_id: str, pm: PmTasks, item: dict[str, Any], outcome: ApplyOutcome) -> None:
    project_id, values = item["payload"]["project_id"], item["payload"]["values"]
    link = links.reserve(conn, kind=KIND, crm_system=CRM, crm_object="task", crm_id=item["crm_id"], pm_system=PM,
                         pm_object="task", idem_key=item["idem_key"], template_ref=None)

    def create() -> dict[str, Any]:
        sent = {k: v for k, v in values.items() if v is not None and (k != "owner" or v in pm.ids_by_email())}
        sent.setdefault("title", values.get("title") or "Tâche")
        return pm.create(project_id, to_pm(sent, pm.ids_by_email(), link.idem_key), link.link_id)

    def record(task: dict[str, Any]) -> None:
        held = from_pm(task)
        link_fields.record(conn, run_id, link.link_id,
                           {k: v for k, v in values.items() if value_hash(v) == value_hash(held[k])},
                           crm_at=None, crm_by=None, pm_at=instant(task.get("last_modified_time")),
                           pm_by=modifier(task.get("last_modified_by")))

    make_once(conn, item, link, label=f"Zoho CRM task {item['crm_id']}", noun="task", tally=outcome,
              refused=outcome.parked, warn=False,
              find=lambda: [t for t in pm.main_tasks(project_id) if key_of(t.get("description")) == link.idem_key],
              create=create, address=lambda task: (pm_ref(project_id, str(task["id"])), None), settled=record)


def _refused(conn: Any, run_id: str, link_id: int, values: dict[str, Any], reason: str, side: str,
             outcome: ApplyOutcome, label: str) -> None:
    for name, value in values.items():
        link_fields.park(conn, run_id, link_id, name, value, reason)
        link_fields.conflict(conn, run_id, link_id, name, value if side == "pm" else None,
                             value if side == "crm" else None, f"refused_by_{side}", None)
        outcome.parked.append(f"{label} {name}: {reason}")
        outcome.conflicts += 1


def _write_each(write: Any, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Rejected], Any]:
    """Write ``values`` at once; when refused, field by field so one bad value holds only itself (a stale
    record, 412, is refused whole: the next run plans it again)."""
    try:
        return values, {}, write(values)
    except Rejected as exc:
        if len(values) == 1 or exc.status == 412:
            return {}, {name: exc for name in values}, None
    written: dict[str, Any] = {}
    refused: dict[str, Rejected] = {}
    answer = None
    for name, value in values.items():
        try:
            answer = write({name: value})
            written[name] = value
        except Rejected as exc:
            refused[name] = exc
    return written, refused, answer


def _update(conn: Any, run_id: str, crm: CrmTasks, pm: PmTasks, item: dict[str, Any], outcome: ApplyOutcome) -> None:
    p = item["payload"]
    link_id, project_id, task_id = p["link_id"], p["project_id"], p["task_id"]
    label = f"Zoho CRM task {item['crm_id']}"
    stamps = {"crm_at": instant(p["stamps"]["crm_at"]), "crm_by": p["stamps"]["crm_by"],
              "pm_at": instant(p["stamps"]["pm_at"]), "pm_by": p["stamps"]["pm_by"]}
    recorded = dict(p["record"])
    to_pm_values, to_crm_values = dict(p["pm"]), dict(p["crm"])
    result = "done"
    try:
        if p["reopen_parent"] and "status" in to_pm_values:
            try:
                pm.update(project_id, p["reopen_parent"], {"status": {"name": "Open"}}, link_id,
                          operation="reopen_parent")
                outcome.parents_reopened += 1
            except Rejected as exc:
                _refused(conn, run_id, link_id, {"status": to_pm_values.pop("status")}, str(exc), "pm", outcome, label)
        if to_pm_values:
            users = pm.ids_by_email()
            written, refused, saved = _write_each(
                lambda v: pm.update(project_id, task_id, to_pm(v, users, item["idem_key"] if p["keyed"] else None),
                                    link_id), to_pm_values)
            for name, exc in refused.items():
                _refused(conn, run_id, link_id, {name: to_pm_values[name]}, str(exc), "pm", outcome, label)
            if written:
                outcome.pm_writes += 1
                recorded.update(written)
                stamps["pm_at"], stamps["pm_by"] = (instant(saved.get("last_modified_time")),
                                                    modifier(saved.get("last_modified_by")))
        if to_crm_values:
            users = crm.ids_by_email()
            written, refused, details = _write_each(
                lambda v: crm.update(item["crm_id"], to_crm(v, users), p["crm_modified_time"], link_id),
                to_crm_values)
            stale = {name for name, exc in refused.items() if exc.status == 412}
            if stale:
                outcome.stale.append(f"{label}: changed in the CRM since planned; the next run plans again")
                result = "stale"
            for name, exc in refused.items():
                if name not in stale:
                    _refused(conn, run_id, link_id, {name: to_crm_values[name]}, str(exc), "crm", outcome, label)
            if written:
                outcome.crm_writes += 1
                recorded.update(written)
                stamps["crm_at"], stamps["crm_by"] = (instant(details.get("Modified_Time")),
                                                      modifier(details.get("Modified_By")))
    except UnknownOutcome as exc:
        outcome.unknown.append(f"{label}: {exc}")
        result = "unknown"
    for c in p["conflicts"]:
        link_fields.conflict(conn, run_id, link_id, c["field"], c["crm_value"], c["pm_value"], c["rule"], c["winner"])
        outcome.conflicts += 1
    for parked in p["park"]:
        link_fields.park(conn, run_id, link_id, parked["field"], parked["value"], parked["reason"])
        link_fields.conflict(conn, run_id, link_id, parked["field"], parked["crm_value"], parked["pm_value"],
                             parked["rule"], None)
        outcome.conflicts += 1
        outcome.parked.append(f"{label} {parked['field']}: {parked['reason']}")
    if recorded:
        link_fields.record(conn, run_id, link_id, recorded, **stamps)
    links.mark_outcome(conn, item["plan_item_id"], result)


def sides(conn: Any, run_id: str, crm_api: Any, pm_api: Any) -> tuple[CrmTasks, PmTasks]:
    """The two products on their connectors' API objects, writing through audited writers."""
    return (CrmTasks(crm_api, VendorWriter(crm_api, conn, run_id, CRM)),
            PmTasks(pm_api, VendorWriter(pm_api, conn, run_id, PM)))
