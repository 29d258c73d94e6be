"""The Microsoft 365 tenant's Planner (basic plans) served by the Graph emulator, derived from the CRM dataset.

A company on Microsoft 365 runs its delivery in Planner and sells in Dynamics 365 (or, for some
teams, Salesforce). Each won deal gets a Microsoft 365 group (a Teams team) and a plan in it, titled
``<customer> — <topic>``. Planner has no custom fields, so the CRM link is what users actually do:
the plan's first task, ``Fiche affaire``, carries the deal record's URL as an external reference
(``plannerTaskDetails.references``, Graph's link attachments), e.g.
``https://<org>.crm4.dynamics.com/main.aspx?etn=opportunity&id=<guid>&pagetype=entityrecord`` or
``https://<instance>.lightning.force.com/lightning/r/Opportunity/<Id>/view``. Reference keys are the
URLs with ``%``, ``.``, ``:``, ``@`` and ``#`` percent-encoded, as Graph requires. Some plans are linked
only by the customer's name in their title, a few internal plans have none.

Buckets are ``À faire``, ``En cours``, ``Terminé`` and ``Jalons``: a task in ``Jalons`` is a milestone
(Planner basic has no milestone type; this mirrors the ``Jalons`` lists of Trello and monday.com).
No time is tracked in Planner. ``links`` records the truth for identity tests.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from passerelle_sandbox.dataset_dynamics import build_dynamics_dataset
from passerelle_sandbox.dataset_dynamics_projects import PROJECTS
from passerelle_sandbox.dataset_pm import won_deals

Record = dict[str, Any]
DYNAMICS_ORG = "https://passerelle-demo.crm4.dynamics.com"
SALESFORCE_ORG = "https://passerelle-demo.lightning.force.com"
BUCKETS = ("À faire", "En cours", "Terminé", "Jalons")
TOPICS = ("Cadrage", "Ateliers", "Paramétrage", "Reprise des données", "Recette", "Formation",
          "Intégration API", "Documentation", "Support au démarrage")
MILESTONES = ("Lancement", "Validation des spécifications", "Mise en production")
INTERNAL = ("Interne — Veille technique", "Interne — Onboarding")
LINK_TASK = "Fiche affaire"
PER_CRM = {"dynamics": 8, "salesforce": 3}
HISTORY_DAYS = 60


def graph_key(url: str) -> str:
    """A reference's key as Graph wants it: ``%``, ``.``, ``:``, ``@`` and ``#`` percent-encoded."""
    for char, code in (("%", "%25"), (".", "%2E"), (":", "%3A"), ("@", "%40"), ("#", "%23")):
        url = url.replace(char, code)
    return url


def deal_url(crm: str, deal_id: str) -> str:
    if crm == "dynamics":
        return f"{DYNAMICS_ORG}/main.aspx?etn=opportunity&id={deal_id}&pagetype=entityrecord"
    return f"{SALESFORCE_ORG}/lightning/r/Opportunity/{deal_id}/view"


def ts(moment: datetime) -> str:
    """Graph's timestamps: UTC with up to 7 fractional digits; Planner writes milliseconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _deals(dataset: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(crm, deal id, customer, deal name)``: won Dynamics opportunities (after those the org's Project for
    the web projects deliver), then a few Salesforce ones."""
    section = dataset["dynamics"] if "dynamics" in dataset else build_dynamics_dataset(dataset)
    accounts = {a["accountid"]: a["name"] for a in section["tables"]["accounts"]}
    won = sorted((o for o in section["tables"]["opportunities"] if o["statecode"] == 1), key=lambda o: o["opportunityid"])
    deals = [("dynamics", o["opportunityid"], accounts.get(o["_customerid_value"], ""), o["name"]) for o in won]
    deals = [d for d in deals if d[2]][PROJECTS:PROJECTS + PER_CRM["dynamics"]]  # the first have Dataverse projects
    sf = [d for d in won_deals(dataset, 12) if d["crm"] == "salesforce"][:PER_CRM["salesforce"]]
    return deals + [("salesforce", d["deal_id"], d["customer"], d["deal"]) for d in sf]


def build_planner_dataset(dataset: dict[str, Any]) -> Record:
    """The ``planner`` part of a sandbox dataset (see the module docstring)."""
    rng = random.Random(f"{dataset.get('seed')}:planner")
    clock = datetime.fromisoformat(dataset["clock"].replace("Z", "+00:00"))

    def guid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    people = [(u["FirstName"], u["LastName"], u["Email"], u.get("Title"))
              for u in dataset.get("salesforce", {}).get("objects", {}).get("User", [])][:8]
    users = [{"id": guid(), "displayName": f"{first} {last}", "givenName": first, "surname": last,
              "mail": email, "userPrincipalName": email, "jobTitle": title, "accountEnabled": True}
             for first, last, email, title in people] or [
        {"id": guid(), "displayName": "Consultant", "givenName": "Consultant", "surname": None,
         "mail": "consultant@example.com", "userPrincipalName": "consultant@example.com", "jobTitle": None,
         "accountEnabled": True}]

    plans_wanted: list[tuple[str, str | None, str | None, str]] = []  # (title, crm, deal id, kind)
    for index, (crm, deal_id, customer, deal_name) in enumerate(_deals(dataset)):
        topic = deal_name.split(" - ", 1)[1] if " - " in deal_name else deal_name
        plans_wanted.append((f"{customer} — {topic}", crm, deal_id, "name" if index % 5 == 3 else "explicit"))
    plans_wanted += [(title, None, None, "missing") for title in INTERNAL]

    groups, plans, buckets, tasks, details, links = [], [], [], [], [], []
    history = clock - timedelta(days=HISTORY_DAYS)
    for title, crm, deal_id, kind in plans_wanted:
        created = history - timedelta(days=rng.randint(5, 90), seconds=rng.randint(0, 86_399))
        owner = rng.choice(users)
        group = {"id": guid(), "displayName": title, "description": f"Équipe projet {title}",
                 "mailNickname": f"projet{len(groups) + 1:03d}", "groupTypes": ["Unified"], "mailEnabled": True,
                 "securityEnabled": False, "visibility": "Private", "createdDateTime": ts(created)}
        groups.append(group)
        plan = {"id": planner_id(rng), "title": title, "createdDateTime": ts(created + timedelta(minutes=3)),
                "owner": group["id"],
                "container": {"containerId": group["id"], "type": "group",
                              "url": f"https://graph.microsoft.com/v1.0/groups/{group['id']}"},
                "createdBy": {"user": {"displayName": None, "id": owner["id"]}}}
        plans.append(plan)
        links.append({"project_id": plan["id"], "crm": crm if kind != "missing" else None,
                      "deal_id": deal_id if kind != "missing" else None, "kind": kind})
        plan_buckets = []
        for position, name in enumerate(BUCKETS):
            bucket = {"id": planner_id(rng), "name": name, "planId": plan["id"], "orderHint": f"8585{position:04d} !"}
            buckets.append(bucket)
            plan_buckets.append(bucket)
        wanted = [(LINK_TASK, "link")] if kind == "explicit" else []
        wanted += [(t, "task") for t in rng.sample(TOPICS, rng.randint(3, 6))]
        wanted += [(m, "milestone") for m in rng.sample(MILESTONES, rng.randint(1, 2))]
        for task_title, role in wanted:
            task_created = created + timedelta(hours=rng.randint(1, 24 * 15), seconds=rng.randint(0, 3599))
            done = role == "link" or rng.random() < (0.5 if role == "milestone" else 0.45)
            progress = 100 if done else rng.choice((0, 0, 50))
            bucket = plan_buckets[3] if role == "milestone" else plan_buckets[2 if done else (1 if progress else 0)]
            assignee = rng.choice(users)
            completed = min(task_created + timedelta(days=rng.randint(1, 40), seconds=rng.randint(0, 86_399)),
                            clock - timedelta(hours=rng.randint(2, 200))) if done else None
            task = new_task(plan["id"], bucket["id"], planner_id(rng), task_title, task_created, owner["id"])
            task.update({
                "percentComplete": progress, "priority": rng.choice((1, 3, 5, 5, 9)),
                "startDateTime": ts(task_created.replace(hour=8, minute=0, second=0, microsecond=0)),
                "dueDateTime": ts((task_created + timedelta(days=rng.randint(5, 60))).replace(
                    hour=17, minute=0, second=0, microsecond=0)),
                "completedDateTime": ts(completed) if completed else None,
                "completedBy": {"user": {"displayName": None, "id": assignee["id"]}} if completed else None,
                "assignments": {assignee["id"]: assignment(owner["id"], task_created + timedelta(minutes=5))},
            })
            detail = new_details(task["id"], "Lien vers l'affaire dans le CRM" if role == "link" else "")
            if role == "link":
                assert crm is not None and deal_id is not None
                detail["references"] = {graph_key(deal_url(crm, deal_id)): reference(
                    "Affaire CRM", owner["id"], task_created)}
                task["referenceCount"], task["previewType"] = 1, "reference"
            task["hasDescription"] = bool(detail["description"])
            tasks.append(task)
            details.append(detail)
    return {"tenant": {"displayName": "Passerelle Démo", "defaultDomain": "passerelle-demo.onmicrosoft.com"},
            "users": users, "groups": groups, "plans": plans, "buckets": buckets, "tasks": tasks,
            "details": details, "links": links}


PLANNER_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def planner_id(rng: random.Random) -> str:
    """Planner ids: 28 URL-safe characters (``xqQg5FS2LkCp935s-FIFm2QAFkHM``)."""
    return "".join(rng.choice(PLANNER_ALPHABET) for _ in range(28))


def new_task(plan_id: str, bucket_id: str, task_id: str, title: str, created: datetime, creator: str) -> Record:
    """A plannerTask with Graph's defaults."""
    return {"id": task_id, "planId": plan_id, "bucketId": bucket_id, "title": title,
            "orderHint": "8585269235419181165P<", "assigneePriority": "", "percentComplete": 0, "priority": 5,
            "startDateTime": None, "createdDateTime": ts(created), "dueDateTime": None, "hasDescription": False,
            "previewType": "automatic", "completedDateTime": None, "completedBy": None, "referenceCount": 0,
            "checklistItemCount": 0, "activeChecklistItemCount": 0, "conversationThreadId": None,
            "appliedCategories": {}, "assignments": {},
            "createdBy": {"user": {"displayName": None, "id": creator}}}


def new_details(task_id: str, description: str = "") -> Record:
    return {"id": task_id, "description": description, "previewType": "automatic", "references": {}, "checklist": {}}


def assignment(by: str, at: datetime) -> Record:
    return {"@odata.type": "#microsoft.graph.plannerAssignment", "assignedDateTime": ts(at), "orderHint": "8585 !",
            "assignedBy": {"user": {"displayName": None, "id": by}}}


def reference(alias: str, by: str, at: datetime) -> Record:
    return {"@odata.type": "#microsoft.graph.plannerExternalReference", "alias": alias, "type": "Other",
            "previewPriority": "8585 !", "lastModifiedDateTime": ts(at),
            "lastModifiedBy": {"user": {"displayName": None, "id": by}}}
