"""The Zoho Projects portal served by the sandbox, derived deterministically from the Zoho CRM org.

Zoho users create a project from a won CRM deal (or from an account): most projects here carry the
deal and its account in ``crm`` (``{"account": {"id", "name"}, "deal": {"id", "name"}}``) and the
account as their client company; one carries only the account (created from the account record),
and one is internal work (no client, no CRM link). The deals are taken in turn from those billed
"en régie" (time and materials), "par jalons" (milestones) and at a fixed price, as their description
says, so the portal's hours, milestones and fixed-price lines all reach billing. Each project has two
task lists, milestones, main tasks with subtasks (one subtask has its own subtask: subtasks nest), and
time logs on tasks with a billing status (``Billable`` / ``Non Billable``) and an approval status
(``Pending``, ``Approved``, ``Rejected``). ``links`` lists the truth for identity-resolution and billing tests
(with the deal's ``deal_description`` and the ``billing`` it reads as).

Timestamps are canonical UTC (``2026-02-11T09:30:00.000Z``); the emulator renders them in the
portal's time zone, as Zoho does. Everything is drawn from one seeded ``random.Random`` in a fixed
order, so the same CRM dataset always yields the same portal.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from passerelle_sandbox.dataset_zoho import STAGES, ZOHO_CRM, build_zoho_dataset

Record = dict[str, Any]

PORTAL_ID = "20089412345"
ID_BASE = 2_298_000_000_000_100_000
HISTORY_DAYS = 45
PER_PORTAL = 6
TASK_TOPICS = ("Cadrage", "Ateliers utilisateurs", "Paramétrage", "Reprise des données", "Recette", "Formation",
               "Intégration API", "Documentation")
MILESTONES = ("Validation du cahier des charges", "Mise en production", "Clôture")
INTERNAL_PROJECT = "Interne — Outillage"
STATUSES = (("Open", False), ("In Progress", False), ("Closed", True))
BILLING_WORDS = (("time_and_materials", ("en régie", "au temps passé")), ("milestones", ("par jalons",)))
"""How a deal's description says it is billed (the words the billing rules read); anything else is fixed."""
BILLING_TURN = ("time_and_materials", "milestones", "fixed")
PRIORITIES = ("None", "Low", "Medium", "High")


class _Ids:
    """19-digit increasing ids, as Zoho's."""

    def __init__(self, rng: random.Random) -> None:
        self._number, self._rng = ID_BASE, rng

    def __call__(self) -> str:
        self._number += 1 + self._rng.randrange(25)
        return str(self._number)


def _ts(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _crm_section(dataset: dict[str, Any]) -> Record:
    return dataset["zoho_crm"] if "zoho_crm" in dataset else build_zoho_dataset(dataset, ZOHO_CRM)


def build_zoho_projects_dataset(dataset: dict[str, Any]) -> Record:
    """The portal for ``dataset``: projects opened from the Zoho CRM org's won deals (same seed, same ids)."""
    seed = int(dataset.get("seed") or 1)
    now = datetime.fromisoformat(str(dataset["clock"]).replace("Z", "+00:00"))
    rng = random.Random(f"passerelle:{seed}:zoho_projects")
    ids = _Ids(rng)
    crm = _crm_section(dataset)["objects"]
    accounts = {a["id"]: a for a in crm["Accounts"]}
    won = sorted((d for d in crm["Deals"] if d.get("Stage") == STAGES["won"][0]
                  and (d.get("Account_Name") or {}).get("id") in accounts), key=lambda d: int(d["id"]))
    start = now - timedelta(days=HISTORY_DAYS)
    users = [_user(ids(), person, start) for person in crm["users"][:5]]
    out: Record = {"portal": {"id": PORTAL_ID, "name": "maurysolutions", "org_name": "Maury Solutions",
                              "time_zone": "Europe/Paris", "time_zone_offset": "+01:00", "default": True,
                              "plan": "Premium", "role": "admin"},
                   "objects": {"users": users, "projects": [], "tasklists": [], "tasks": [], "milestones": [],
                               "timelogs": []},
                   "links": []}
    won = billing_mix(won)
    plans: list[tuple[str, Record | None, Record | None]] = []
    for deal in won[:PER_PORTAL - 1]:
        account = accounts[deal["Account_Name"]["id"]]
        plans.append(("deal", deal, account))
    if len(won) > PER_PORTAL - 1:  # a project created from the account record: no deal
        plans.append(("account", None, accounts[won[PER_PORTAL - 1]["Account_Name"]["id"]]))
    plans.append(("internal", None, None))
    for number, (kind, deal, account) in enumerate(plans, start=1):
        _project(out, ids, rng, users, number, kind, deal, account, start, now)
    return out


def deal_billing(deal: Record) -> str:
    """``time_and_materials``, ``milestones`` or ``fixed``: how the deal's description says it is billed."""
    text = str(deal.get("Description") or "").casefold()
    return next((mode for mode, words in BILLING_WORDS if any(word in text for word in words)), "fixed")


def billing_mix(deals: list[Record]) -> list[Record]:
    """``deals`` taken in turn from each way of billing of :data:`BILLING_TURN` (each in its given order)."""
    queues = {mode: [d for d in deals if deal_billing(d) == mode] for mode in BILLING_TURN}
    mixed: list[Record] = []
    while any(queues.values()):
        for mode in BILLING_TURN:
            if queues[mode]:
                mixed.append(queues[mode].pop(0))
    return mixed


def _user(user_id: str, person: Record, start: datetime) -> Record:
    return {"id": user_id, "zpuid": user_id, "zuid": str(60_000_000 + int(user_id) % 1_000_000),
            "name": person["full_name"], "first_name": person["first_name"], "last_name": person["last_name"],
            "email": person["email"], "role": {"id": "2298000000000012", "name": "Employé"},
            "profile": {"id": "2298000000000021", "name": "Employee", "type": 3}, "status": "active",
            "created_time": _ts(start - timedelta(days=30))}


def _who(user: Record) -> Record:
    return {"zpuid": user["zpuid"], "name": user["name"], "email": user["email"]}


def _project(out: Record, ids: _Ids, rng: random.Random, users: list[Record], number: int, kind: str,
             deal: Record | None, account: Record | None, start: datetime, now: datetime) -> None:
    objects = out["objects"]
    created = start + timedelta(days=number, hours=9)
    name = deal["Deal_Name"] if deal else (f"{account['Account_Name']} — Support annuel" if account else INTERNAL_PROJECT)
    project_id = ids()
    billable = kind != "internal"
    project: Record = {
        "id": project_id, "key": f"MS{number}", "name": name,
        "description": f"Projet ouvert depuis Zoho CRM ({kind})." if account else "Outillage interne.",
        "status": {"id": "2298000000000031", "name": "Active", "is_closed": False},
        "owner": _who(users[number % len(users)]),
        "start_date": (created.date()).isoformat(), "end_date": (created + timedelta(days=90)).date().isoformat(),
        "billing_status": "Billable" if billable else "Non Billable",
        "billing_method": "Based on Project Hours" if billable else "None",
        "currency": "EUR",
        "client_company": {"id": account["id"], "name": account["Account_Name"]} if account else None,
        "crm": ({"account": {"id": account["id"], "name": account["Account_Name"]},
                 "deal": {"id": deal["id"], "name": deal["Deal_Name"]} if deal else None} if account else None),
        "is_strict": False, "created_time": _ts(created), "last_modified_time": _ts(created + timedelta(hours=2)),
    }
    objects["projects"].append(project)
    out["links"].append({"project_id": project_id, "kind": kind, "deal_id": deal["id"] if deal else None,
                         "account_id": account["id"] if account else None,
                         "deal_description": deal.get("Description") if deal else None,
                         "billing": deal_billing(deal) if deal else None})
    ref = {"id": project_id, "name": name}
    milestones = []
    for index, title in enumerate(MILESTONES):
        due = created + timedelta(days=20 * (index + 1))
        done = due < now - timedelta(days=2)
        milestones.append({
            "id": ids(), "name": title, "project": ref, "owner": _who(users[(number + index) % len(users)]),
            "start_date": (due - timedelta(days=14)).date().isoformat(), "end_date": due.date().isoformat(),
            "status": "completed" if done else "notcompleted", "flag": "external",
            "completed_time": _ts(due - timedelta(hours=6)) if done else None,
            "created_time": _ts(created + timedelta(minutes=5 + index)),
            "last_modified_time": _ts((due - timedelta(hours=6)) if done else created + timedelta(minutes=5 + index)),
        })
    objects["milestones"] += milestones
    tasklists = [{"id": ids(), "name": f"Phase {i + 1}", "project": ref,
                  "milestone": {"id": milestones[i]["id"], "name": milestones[i]["name"]}, "status": "active",
                  "sequence": i + 1, "created_time": _ts(created + timedelta(minutes=10 + i)),
                  "last_modified_time": _ts(created + timedelta(minutes=10 + i))} for i in range(2)]
    objects["tasklists"] += tasklists
    serial = 0
    for index in range(4):
        serial += 1
        task = _task(ids, rng, users, ref, number, serial, tasklists[index % 2], None, created, now, index)
        objects["tasks"].append(task)
        if index in (0, 2):
            for sub in range(2 if index == 0 else 1):
                serial += 1
                child = _task(ids, rng, users, ref, number, serial, tasklists[index % 2], task, created, now, sub)
                objects["tasks"].append(child)
                if index == 0 and sub == 0:  # subtasks nest: one level more
                    serial += 1
                    objects["tasks"].append(_task(ids, rng, users, ref, number, serial, tasklists[0], child,
                                                  created, now, 1))
    for task in [t for t in objects["tasks"] if t["project"]["id"] == project_id]:
        for _ in range(rng.randrange(2, 5)):
            day = now - timedelta(days=rng.randrange(1, HISTORY_DAYS - number), hours=rng.randrange(0, 9))
            if day < created:
                continue
            owner = users[rng.randrange(len(users))]
            minutes = rng.choice((30, 45, 60, 90, 120, 150, 210, 240, 420))
            approved = day < now - timedelta(days=7)
            objects["timelogs"].append({
                "id": ids(), "project": ref, "module": {"type": "task", "id": task["id"], "name": task["name"]},
                "owner": _who(owner), "date": day.date().isoformat(), "hours": f"{minutes // 60:02d}:{minutes % 60:02d}",
                "total_minutes": minutes,
                "bill_status": "Billable" if billable and rng.random() < 0.85 else "Non Billable",
                "approval_status": "Approved" if approved else "Pending",
                "notes": f"{task['name']} — travail du jour", "created_time": _ts(day + timedelta(hours=8)),
                "last_modified_time": _ts(day + timedelta(hours=8, minutes=5)),
            })


def _task(ids: _Ids, rng: random.Random, users: list[Record], project: Record, number: int, serial: int,
          tasklist: Record, parent: Record | None, created: datetime, now: datetime, index: int) -> Record:
    status, closed = STATUSES[(serial + index) % len(STATUSES)]
    begins = created + timedelta(days=2 + 3 * serial)
    ends = begins + timedelta(days=5)
    done_at = min(ends, now - timedelta(hours=3)) if closed else None
    modified = done_at or begins
    task: Record = {
        "id": ids(), "key": f"MS{number}-T{serial}",
        "name": f"{TASK_TOPICS[(number + serial) % len(TASK_TOPICS)]}" + (" — détail" if parent else ""),
        "description": None, "status": {"id": f"229800000000004{STATUSES.index((status, closed))}", "name": status,
                                        "is_closed": closed},
        "priority": PRIORITIES[(serial + number) % len(PRIORITIES)],
        "owners": [_who(users[(number + serial) % len(users)])],
        "start_date": begins.date().isoformat(), "end_date": ends.date().isoformat(),
        "percent_complete": 100 if closed else (50 if status == "In Progress" else 0),
        "completed_time": _ts(done_at) if done_at else None,
        "tasklist": {"id": tasklist["id"], "name": tasklist["name"]}, "project": project,
        "parent_task": {"id": parent["id"], "name": parent["name"]} if parent else None,
        "depth": (parent["depth"] + 1) if parent else 0, "has_subtasks": False,
        "billing_type": "Billable", "created_time": _ts(created + timedelta(hours=serial)),
        "last_modified_time": _ts(modified if modified > created else created + timedelta(hours=serial)),
    }
    if parent is not None:
        parent["has_subtasks"] = True
    rng.random()  # keeps the draw order stable when fields are added
    return task
