"""Project for the web / Project Operations rows of the Dataverse org (``msdyn_project``, ``msdyn_projecttask``,
``msdyn_timeentry``), drawn for the org's won opportunities.

Each won opportunity (the first ``PROJECTS``, by id) gets a project for its account; the project's deal is the
org's custom lookup ``_pa_opportunityid_value`` (set on most projects, left empty on one so that it resolves by
name only) and one internal project has neither customer nor deal. Tasks carry ``msdyn_progress`` as a fraction
(1 = done) and ``msdyn_ismilestone``; time entries are minutes of work on a day (``msdyn_date``), owned by the
user who entered them, approved when older than two weeks.
"""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Any

from passerelle_sandbox.dataset_time import DAY_MS, iso_date, iso_ms

Record = dict[str, Any]
PROJECTS = 6
TASKS = ("Cadrage", "Conception", "Paramétrage", "Reprise des données", "Recette", "Formation", "Déploiement")
MILESTONES = ("Validation de la conception", "Mise en production")
WORK, APPROVED, SUBMITTED, DRAFT = 192350000, 192350002, 192350003, 192350000
HISTORY_DAYS = 60


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _day(ms: int) -> str:
    """A Dataverse date-only value as the Web API shows it (``2026-02-10T00:00:00Z``)."""
    return f"{iso_date(ms // DAY_MS)}T00:00:00Z"


def render_projects(tables: dict[str, list[Record]], seed: int, now_ms: int) -> list[Record]:
    """Add the project tables' rows to ``tables`` (see the module doc) and return the truth of each project's
    deal (``project_id``, ``crm``, ``deal_id``, ``kind``) for identity tests; draws from its own random stream."""
    rng = random.Random(f"passerelle:{seed}:dynamics:projects")
    accounts = {a["accountid"]: a for a in tables["accounts"]}
    users = [u["systemuserid"] for u in tables["systemusers"]]
    won = sorted((o for o in tables["opportunities"] if o["statecode"] == 1 and o["_customerid_value"] in accounts),
                 key=lambda o: o["opportunityid"])[:PROJECTS]
    plans = [(o["name"], o["_customerid_value"], o["opportunityid"], "name" if i == 2 else "explicit")
             for i, o in enumerate(won)]
    plans.append(("Interne — Amélioration continue", None, None, "missing"))
    links: list[Record] = []
    projects, tasks, entries = tables.setdefault("msdyn_projects", []), tables.setdefault("msdyn_projecttasks", []), \
        tables.setdefault("msdyn_timeentries", [])
    for name, account, opportunity, kind in plans:
        created = now_ms - rng.randint(HISTORY_DAYS + 5, HISTORY_DAYS + 90) * DAY_MS - rng.randint(0, DAY_MS)
        manager = rng.choice(users)
        title = f"{accounts[account]['name']} — déploiement" if kind == "name" else name
        project = {"msdyn_projectid": _guid(rng), "msdyn_subject": title,
                   "msdyn_description": f"Projet {title}", "_msdyn_customer_value": account,
                   "_pa_opportunityid_value": opportunity if kind == "explicit" else None,
                   "_msdyn_projectmanager_value": manager,
                   "msdyn_scheduledstart": _day(created), "msdyn_finish": _day(now_ms + rng.randint(20, 120) * DAY_MS),
                   "msdyn_progress": None, "msdyn_effort": None, "_ownerid_value": manager, "statecode": 0,
                   "statuscode": 1, "createdon": iso_ms(created), "modifiedon": iso_ms(created)}
        projects.append(project)
        links.append({"project_id": project["msdyn_projectid"], "crm": "dynamics" if opportunity else None,
                      "deal_id": opportunity, "kind": kind})
        done_effort, total_effort, latest = Decimal(0), Decimal(0), created
        wanted = [(t, False) for t in rng.sample(TASKS, rng.randint(3, 6))] + [(m, True) for m in MILESTONES]
        for order, (subject, milestone) in enumerate(wanted, start=1):
            start = created + rng.randint(1, 20) * DAY_MS
            modified = min(now_ms - rng.randint(1, HISTORY_DAYS - 2) * DAY_MS - rng.randint(0, DAY_MS),
                           now_ms - DAY_MS)
            modified = max(modified, start + 3600_000)
            progress = Decimal(1) if rng.random() < (0.5 if milestone else 0.45) else \
                Decimal(rng.choice(("0", "0.25", "0.5", "0.75")))
            effort = Decimal(0) if milestone else Decimal(8 * rng.randint(1, 10))
            owner = rng.choice(users)
            task = {"msdyn_projecttaskid": _guid(rng), "msdyn_subject": subject, "msdyn_description": None,
                    "_msdyn_project_value": project["msdyn_projectid"], "_msdyn_parenttask_value": None,
                    "msdyn_progress": progress.quantize(Decimal("0.01")), "msdyn_effort": effort.quantize(Decimal("0.01")),
                    "msdyn_effortcompleted": (effort * progress).quantize(Decimal("0.01")),
                    "msdyn_scheduledstart": _day(start), "msdyn_scheduledend": _day(start + rng.randint(5, 40) * DAY_MS),
                    "msdyn_finish": _day(start + rng.randint(5, 40) * DAY_MS), "msdyn_priority": rng.choice((1, 5, 9)),
                    "msdyn_ismilestone": milestone, "msdyn_outlinelevel": 1, "_ownerid_value": owner,
                    "statecode": 0, "statuscode": 1, "createdon": iso_ms(start), "modifiedon": iso_ms(modified)}
            tasks.append(task)
            done_effort, total_effort, latest = done_effort + effort * progress, total_effort + effort, max(latest, modified)
            if milestone:
                continue
            for _ in range(rng.randint(2, 6)):
                day = now_ms - rng.randint(1, HISTORY_DAYS) * DAY_MS
                entered = min(day + rng.randint(9, 40) * 3600_000, now_ms - 60_000)
                old = (now_ms - day) > 14 * DAY_MS
                entries.append({
                    "msdyn_timeentryid": _guid(rng), "msdyn_date": _day(day), "msdyn_duration": 15 * rng.randint(2, 32),
                    "msdyn_description": rng.choice(("Atelier client", "Analyse", "Développement", "Tests", None)),
                    "msdyn_externaldescription": None, "msdyn_type": WORK,
                    "msdyn_entrystatus": APPROVED if old else rng.choice((SUBMITTED, DRAFT)),
                    "_msdyn_project_value": project["msdyn_projectid"],
                    "_msdyn_projecttask_value": task["msdyn_projecttaskid"], "_ownerid_value": rng.choice(users),
                    "statecode": 0, "statuscode": 1, "createdon": iso_ms(entered), "modifiedon": iso_ms(entered)})
        project["msdyn_effort"] = total_effort.quantize(Decimal("0.01"))
        project["msdyn_progress"] = (done_effort / total_effort if total_effort else Decimal(0)).quantize(Decimal("0.01"))
        project["modifiedon"] = iso_ms(latest)
    return links
