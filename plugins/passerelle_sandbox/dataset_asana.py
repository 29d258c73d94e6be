"""The Asana workspace served by the sandbox, derived deterministically from the CRM dataset.

Projects are opened for won deals of both CRMs. Most carry the deal id in the ``CRM deal`` text
custom field (a Salesforce Opportunity Id or a HubSpot deal id, as is); some are linked only by the
customer's name in the project name; a few internal projects have no customer, and a few are named
with a word two customers share (ambiguous). ``links`` records that truth for identity tests.

Everything is drawn from one ``random.Random`` seeded with the dataset seed, in a fixed order, and
timestamps are computed from the dataset clock, so the same CRM dataset always yields the same bytes.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

Record = dict[str, Any]

GID_BASE = 1_209_000_000_000_000
HISTORY_DAYS = 60
WORKSPACE_NAME = "Maury Solutions"
SECTION_NAMES = ("À faire", "En cours", "Terminé")
TOPICS = (
    "Cadrage", "Ateliers utilisateurs", "Paramétrage", "Reprise des données", "Recette", "Formation",
    "Migration", "Intégration API", "Documentation", "Support au démarrage", "Tests de charge", "Revue de code",
)
MILESTONES = ("Lancement", "Validation du cahier des charges", "Mise en production", "Clôture")
INTERNAL_PROJECTS = ("Interne — Outillage", "Avant-vente — Maquettes")
AMBIGUOUS_SUFFIXES = ("Audit flotte", "Support annuel")
PER_CRM = 12


class _Gids:
    """Asana-like 16-digit gids, one increasing sequence for the whole workspace."""

    def __init__(self) -> None:
        self._next = GID_BASE

    def __call__(self) -> str:
        self._next += 1
        return str(self._next)


def _ts(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _won_deals(crm: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(crm, deal id, customer name, deal name)`` for won deals, PER_CRM of each CRM, sorted by id."""
    sf = crm.get("salesforce", {}).get("objects", {})
    accounts = {a["Id"]: a["Name"] for a in sf.get("Account", [])}
    sf_won = sorted(
        (("salesforce", o["Id"], accounts.get(o.get("AccountId"), ""), o["Name"])
         for o in sf.get("Opportunity", []) if o.get("IsWon") and not o.get("IsDeleted")),
        key=lambda d: d[1],
    )
    hs = crm.get("hubspot", {})
    companies = {c["id"]: c["properties"].get("name") or "" for c in hs.get("objects", {}).get("companies", [])}
    deal_company = {
        str(link["from_id"]): companies.get(str(link["to_id"]), "")
        for link in hs.get("associations", []) if link["from_type"] == "deals" and link["to_type"] == "companies"
    }
    hs_won = sorted(
        (("hubspot", d["id"], deal_company.get(d["id"], ""), d["properties"].get("dealname") or "")
         for d in hs.get("objects", {}).get("deals", []) if d["properties"].get("dealstage") == "closedwon"),
        key=lambda d: d[1],
    )
    return [d for d in sf_won if d[2]][:PER_CRM] + [d for d in hs_won if d[2]][:PER_CRM]


def _shared_word(crm: dict[str, Any]) -> str:
    """A first word that at least two customers' names share (e.g. ``Transports``)."""
    names = [a["Name"] for a in crm.get("salesforce", {}).get("objects", {}).get("Account", [])]
    names += [c["properties"].get("name") or "" for c in crm.get("hubspot", {}).get("objects", {}).get("companies", [])]
    counts = Counter(n.split()[0] for n in names if n.split())
    shared = sorted((w for w, c in counts.items() if c > 1 and len(w) > 3), key=lambda w: (-counts[w], w))
    return shared[0] if shared else "Groupe"


def build_asana_dataset(crm: dict[str, Any]) -> dict[str, Any]:
    """The ``asana`` part of a sandbox dataset (see the module docstring)."""
    rng = random.Random(f"{crm.get('seed')}:asana")
    clock = _parse(crm["clock"])
    today = clock.date()
    gid = _Gids()
    workspace = {"gid": gid(), "resource_type": "workspace", "name": WORKSPACE_NAME, "is_organization": True}
    team = {"gid": gid(), "resource_type": "team", "name": "Delivery"}

    people = [(f"{u['FirstName']} {u['LastName']}", u["Email"])
              for u in crm.get("salesforce", {}).get("objects", {}).get("User", [])]
    people += [(f"{o['firstName']} {o['lastName']}", o["email"]) for o in crm.get("hubspot", {}).get("owners", [])]
    users = [{"gid": gid(), "resource_type": "user", "name": name, "email": email,
              "workspaces": [{"gid": workspace["gid"], "resource_type": "workspace", "name": WORKSPACE_NAME}]}
             for name, email in people] or [{"gid": gid(), "resource_type": "user", "name": "Consultant",
                                             "email": "consultant@example.com", "workspaces": []}]

    deal_field = {"gid": gid(), "resource_type": "custom_field", "name": "CRM deal", "resource_subtype": "text",
                  "type": "text"}
    yes, no = ({"gid": gid(), "resource_type": "enum_option", "name": n, "enabled": True, "color": c}
               for n, c in (("Oui", "green"), ("Non", "red")))
    billable_field = {"gid": gid(), "resource_type": "custom_field", "name": "Billable", "resource_subtype": "enum",
                      "type": "enum", "enum_options": [yes, no]}

    plans: list[tuple[str, str | None, str | None, str]] = []  # (project name, crm, deal id, kind)
    for index, (system, deal_id, customer, deal_name) in enumerate(_won_deals(crm)):
        topic = deal_name.split(" - ", 1)[1] if " - " in deal_name else deal_name
        kind = "name" if index % 6 == 4 else "explicit"
        plans.append((f"{customer} — {topic}", system, deal_id, kind))
    for name in INTERNAL_PROJECTS:
        plans.append((name, None, None, "missing"))
    word = _shared_word(crm)
    for suffix in AMBIGUOUS_SUFFIXES:
        plans.append((f"{word} — {suffix}", None, None, "ambiguous"))
    order = list(range(len(plans)))
    rng.shuffle(order)

    projects: list[Record] = []
    sections: list[Record] = []
    tasks: list[Record] = []
    entries: list[Record] = []
    links: list[Record] = []
    history_start = clock - timedelta(days=HISTORY_DAYS)
    for position in order:
        name, system, deal_id, kind = plans[position]
        created = history_start - timedelta(days=rng.randint(5, 120), seconds=rng.randint(0, 86_399))
        billable = kind != "missing" and rng.random() < 0.85
        project_gid = gid()
        owner = rng.choice(users)
        project: Record = {
            "gid": project_gid, "resource_type": "project", "name": name, "archived": False,
            "completed": False, "completed_at": None, "color": rng.choice(("dark-green", "light-blue", "dark-orange")),
            "created_at": _ts(created), "modified_at": None,
            "start_on": created.date().isoformat(), "due_on": (today + timedelta(days=rng.randint(10, 120))).isoformat(),
            "owner": _compact(owner), "team": dict(team),
            "workspace": {"gid": workspace["gid"], "resource_type": "workspace", "name": WORKSPACE_NAME},
            "custom_fields": [
                {**deal_field, "text_value": deal_id if kind == "explicit" else None,
                 "display_value": deal_id if kind == "explicit" else None},
                {**billable_field, "enum_value": dict(yes if billable else no),
                 "display_value": (yes if billable else no)["name"]},
            ],
        }
        links.append({"project_id": project_gid, "crm": system if kind in ("explicit", "name") else None,
                      "deal_id": deal_id if kind in ("explicit", "name") else None, "kind": kind})
        project_sections = []
        for offset, section_name in enumerate(SECTION_NAMES):
            section = {"gid": gid(), "resource_type": "section", "name": section_name,
                       "created_at": _ts(created + timedelta(minutes=offset + 1)),
                       "project": {"gid": project_gid, "resource_type": "project", "name": name}}
            sections.append(section)
            project_sections.append(section)
        latest = created
        task_names = rng.sample(TOPICS, rng.randint(4, 7))
        milestone_names = rng.sample(MILESTONES, rng.randint(1, 2))
        for task_name, subtype in [(t, "default_task") for t in task_names] + [(m, "milestone") for m in milestone_names]:
            task_created = created + timedelta(hours=rng.randint(1, 24 * 20), seconds=rng.randint(0, 3599))
            modified = clock - timedelta(days=rng.uniform(0.5, HISTORY_DAYS - 1))
            modified = max(modified, task_created + timedelta(minutes=5))
            completed = rng.random() < (0.5 if subtype == "milestone" else 0.45)
            section = project_sections[2] if completed else project_sections[rng.randint(0, 1)]
            assignee = rng.choice(users)
            task: Record = {
                "gid": gid(), "resource_type": "task", "resource_subtype": subtype, "name": task_name,
                "completed": completed, "completed_at": _ts(modified) if completed else None,
                "completed_by": _compact(assignee) if completed else None,
                "assignee": _compact(assignee),
                "start_on": None if subtype == "milestone" else task_created.date().isoformat(),
                "due_on": (modified.date() + timedelta(days=rng.randint(-3, 20))).isoformat(),
                "due_at": None, "created_at": _ts(task_created), "modified_at": _ts(modified),
                "notes": "", "parent": None, "num_subtasks": 0,
                "memberships": [{"project": {"gid": project_gid, "resource_type": "project", "name": name},
                                 "section": {"gid": section["gid"], "resource_type": "section",
                                             "name": section["name"]}}],
                "workspace": {"gid": workspace["gid"], "resource_type": "workspace", "name": WORKSPACE_NAME},
            }
            tasks.append(task)
            latest = max(latest, modified)
            if subtype == "milestone":
                continue
            for _ in range(rng.randint(2, 7)):
                day = today - timedelta(days=rng.randint(1, HISTORY_DAYS))
                entered = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
                author = rng.choice(users)
                age = (today - day).days
                status = ("APPROVED" if age > 14 else rng.choice(("DRAFT", "SUBMITTED", "SUBMITTED")))
                if rng.random() < 0.05:
                    status = "REJECTED"
                entries.append({
                    "gid": "", "resource_type": "time_tracking_entry",
                    "duration_minutes": 15 * rng.randint(1, 32),
                    "entered_on": day.isoformat(),
                    "created_at": _ts(min(entered + timedelta(hours=rng.randint(9, 40), minutes=rng.randint(0, 59)),
                                          clock - timedelta(minutes=1))),
                    "created_by": _compact(author),
                    "task": {"gid": task["gid"], "resource_type": "task", "name": task_name,
                             "resource_subtype": "default_task"},
                    "attributable_to": {"gid": project_gid, "resource_type": "project", "name": name},
                    "billable_status": ("billable" if rng.random() < 0.9 else "nonBillable") if billable
                    else rng.choice(("nonBillable", "notApplicable")),
                    "approval_status": status,
                    "description": rng.choice(("", "", "Réunion client", "Analyse", "Développement", "Correctifs")),
                    "categories": [],
                })
        project["modified_at"] = _ts(latest)
        projects.append(project)
    entries.sort(key=lambda e: (e["created_at"], e["task"]["gid"]))
    for entry in entries:
        entry["gid"] = gid()
    return {
        "workspace": workspace,
        "teams": [team],
        "users": users,
        "custom_fields": [deal_field, billable_field],
        "projects": projects,
        "sections": sections,
        "tasks": tasks,
        "time_entries": entries,
        "links": links,
    }


def _compact(user: Record) -> Record:
    return {"gid": user["gid"], "resource_type": "user", "name": user["name"]}
