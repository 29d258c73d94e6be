"""The Jira Cloud site served by the Jira emulator, derived deterministically from the CRM dataset.

Projects are delivery projects for won CRM deals (Salesforce ``Closed Won`` opportunities, HubSpot
``closedwon`` deals). How a project points back to its deal varies on purpose, and ``links`` records
the truth for identity-resolution tests:

- ``explicit``: the project property ``passerelle.crm`` holds ``{"crm": "salesforce"|"hubspot",
  "dealId": ..., "customerId": ...}``;
- ``name``: no property, the project name starts with the customer's exact CRM name;
- ``missing``: no property and no customer name (plus an internal, non-billable project);
- ``ambiguous``: the name only carries a word shared by several customers' names.

Each project has versions (milestones), issues with status and resolution date, and worklogs over
the 60 days before the dataset clock; a worklog's billable flag is the worklog property
``passerelle.billing`` (``{"billable": bool}``), absent on a few on purpose. Timestamps are rendered
as Jira renders them: ``2026-02-10T09:15:23.000+0100`` in the account's time zone.
"""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

SITE_TIME_ZONE = "Europe/Paris"
BILLING_PROPERTY = "passerelle.billing"
CRM_PROPERTY = "passerelle.crm"
DAY_MS = 86_400_000
HISTORY_DAYS = 60
PROJECTS_PER_CRM = 10
STATUSES = (
    ("10000", "To Do", "new", "To Do"),
    ("3", "In Progress", "indeterminate", "In Progress"),
    ("10001", "In Review", "indeterminate", "In Progress"),
    ("10002", "Done", "done", "Done"),
)
TASKS = (
    "Atelier de cadrage", "Rédaction des spécifications", "Paramétrage du socle", "Reprise des données clients",
    "Connecteur e-facturation (PDP)", "Tests d'intégration", "Formation des utilisateurs", "Recette fonctionnelle",
    "Mise en production", "Support post-démarrage", "Migration des factures fournisseurs", "Revue de sécurité",
)
MILESTONES = ("Lot 1 - Cadrage", "Lot 2 - Réalisation", "Lot 3 - Recette et mise en production")
WORKLOG_COMMENTS = ("Atelier client", "Développement", "Réunion de suivi", "Tests", "Documentation", "Support")


def jira_time(ms: int, zone: str = SITE_TIME_ZONE) -> str:
    """``2026-02-10T09:15:23.000+0100``: how Jira renders a timestamp for an account in ``zone``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(ZoneInfo(zone))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + moment.strftime("%z")


def _clock_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _won_deals(crm: dict[str, Any]) -> list[dict[str, Any]]:
    """Won deals of both CRMs as ``{crm, deal_id, customer_id, customer, topic}``, in a stable order."""
    deals: list[dict[str, Any]] = []
    sf = crm.get("salesforce", {}).get("objects", {})
    accounts = {a["Id"]: a["Name"] for a in sf.get("Account", [])}
    for opp in sorted(sf.get("Opportunity", []), key=lambda o: o["Id"]):
        if opp.get("StageName") == "Closed Won" and opp.get("AccountId") in accounts:
            deals.append({"crm": "salesforce", "deal_id": opp["Id"], "customer_id": opp["AccountId"],
                          "customer": accounts[opp["AccountId"]], "topic": opp["Name"].split(" - ", 1)[-1]})
    hs = crm.get("hubspot", {})
    companies = {c["id"]: c["properties"]["name"] for c in hs.get("objects", {}).get("companies", [])}
    company_of = {
        link["from_id"]: link["to_id"] for link in hs.get("associations", [])
        if link["from_type"] == "deals" and link["to_type"] == "companies"
    }
    for deal in sorted(hs.get("objects", {}).get("deals", []), key=lambda d: int(d["id"])):
        company = company_of.get(deal["id"])
        if deal["properties"].get("dealstage") == "closedwon" and company in companies:
            deals.append({"crm": "hubspot", "deal_id": deal["id"], "customer_id": company,
                          "customer": companies[company],
                          "topic": deal["properties"]["dealname"].split(" - ", 1)[-1]})
    return deals


def _shared_words(names: list[str]) -> list[tuple[str, list[str]]]:
    """First words that begin several customers' names (``Transports``), most shared first."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split()[0], []).append(name)
    shared = [(word, sorted(set(group))) for word, group in groups.items() if len(set(group)) >= 2]
    return sorted(shared, key=lambda item: (-len(item[1]), item[0]))


class _Keys:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, name: str) -> str:
        letters = re.sub(r"[^A-Z]", "", _ascii(name).upper())
        words = [w for w in re.split(r"[^A-Za-z]+", _ascii(name)) if w]
        base = ("".join(w[0] for w in words).upper()[:4] or letters[:3] or "PRJ")
        if len(base) < 2:
            base = (letters[:3] or "PRJ")
        key, n = base, 1
        while key in self.used:
            n += 1
            key = f"{base[:3]}{n}"
        self.used.add(key)
        return key


def build_jira_dataset(crm: dict[str, Any]) -> dict[str, Any]:
    """The Jira site for a CRM dataset: same input, same bytes."""
    seed = crm.get("seed", 0)
    rng = random.Random(f"{seed}:jira")
    now = _clock_ms(crm["clock"])
    start = now - HISTORY_DAYS * DAY_MS

    def account_id() -> str:
        return "712020:" + str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def moment(low: int, high: int) -> int:
        return rng.randint(low // 1000, max(low, high) // 1000) * 1000

    api_user = {
        "accountId": account_id(), "accountType": "app", "emailAddress": "passerelle-sync@example.com",
        "displayName": "Passerelle Sync", "active": True, "timeZone": SITE_TIME_ZONE, "locale": "fr_FR",
    }
    people = (("Claire", "Morel"), ("Julien", "Faure"), ("Sophie", "Garnier"), ("Thomas", "Roussel"),
              ("Inès", "Benali"), ("Hugo", "Lambert"), ("Léa", "Perrin"), ("Nicolas", "Chevalier"))
    users = [api_user]
    for first, last in people:
        users.append({
            "accountId": account_id(), "accountType": "atlassian",
            "emailAddress": f"{_ascii(first).lower()}.{_ascii(last).lower()}@passerelle-conseil.fr",
            "displayName": f"{first} {last}", "active": True, "timeZone": SITE_TIME_ZONE, "locale": "fr_FR",
        })
    users.append({"accountId": account_id(), "accountType": "atlassian", "emailAddress": None,
                  "displayName": "Ancien consultant", "active": False, "timeZone": SITE_TIME_ZONE, "locale": "fr_FR"})
    staff = [u["accountId"] for u in users[1:] if u["active"]]

    deals = _won_deals(crm)
    chosen = [d for d in deals if d["crm"] == "salesforce"][:PROJECTS_PER_CRM]
    chosen += [d for d in deals if d["crm"] == "hubspot"][:PROJECTS_PER_CRM]
    plans: list[dict[str, Any]] = []
    for index, deal in enumerate(chosen):
        slot = index % PROJECTS_PER_CRM
        kind = "explicit" if slot < 7 else "name" if slot < 9 else "missing"
        name = f"{deal['customer']} - {deal['topic']}" if kind != "missing" else f"Projet {deal['topic']}"
        plans.append({"deal": deal, "kind": kind, "name": name, "billable": True})
    customer_names = sorted({d["customer"] for d in deals})
    for word, group in _shared_words(customer_names)[:2]:
        plans.append({"deal": None, "kind": "ambiguous", "name": f"{word} - Accompagnement facturation électronique",
                      "billable": True, "candidates": group})
    plans.append({"deal": None, "kind": "missing", "name": "Interne - Avant-vente et veille", "billable": False})

    keys = _Keys()
    projects, versions, issues, worklogs, links, deleted = [], [], [], [], [], []
    issue_seq, version_seq, worklog_seq = 10001, 10100, 100000
    for number, plan in enumerate(plans):
        project_id = str(10000 + number)
        key = keys(plan["name"] if plan["deal"] is None else plan["deal"]["customer"])
        deal = plan["deal"]
        properties: dict[str, Any] = {}
        if plan["kind"] == "explicit":
            properties[CRM_PROPERTY] = {"crm": deal["crm"], "dealId": deal["deal_id"], "customerId": deal["customer_id"]}
        lead = rng.choice(staff)
        projects.append({
            "id": project_id, "key": key, "name": plan["name"], "projectTypeKey": "software", "simplified": False,
            "style": "classic", "isPrivate": False, "lead": lead,
            "description": f"Projet de livraison {deal['topic']}" if deal else plan["name"],
            "properties": properties,
        })
        link: dict[str, Any] = {
            "project_id": project_id, "project_key": key,
            "crm": deal["crm"] if deal and plan["kind"] in ("explicit", "name") else None,
            "deal_id": deal["deal_id"] if deal and plan["kind"] in ("explicit", "name") else None,
            "kind": plan["kind"],
        }
        if plan.get("candidates"):
            link["candidates"] = plan["candidates"]
        links.append(link)
        project_start = start - rng.randint(10, 40) * DAY_MS
        project_versions = []
        for v_index, milestone in enumerate(MILESTONES):
            release_ms = project_start + (v_index + 1) * rng.randint(18, 30) * DAY_MS
            released = release_ms < now - 3 * DAY_MS
            version = {
                "id": str(version_seq), "projectId": int(project_id), "name": milestone,
                "description": f"{milestone} - {plan['name']}", "archived": False, "released": released,
                "startDate": jira_time(project_start + v_index * 20 * DAY_MS)[:10],
                "releaseDate": jira_time(release_ms)[:10],
            }
            version_seq += 1
            versions.append(version)
            project_versions.append(version)
        for i_number in range(1, rng.randint(5, 9) + 1):
            created = moment(project_start, now - 5 * DAY_MS)
            status = rng.choices(STATUSES, weights=(2, 3, 1, 4))[0]
            assignee = rng.choice(staff)
            issue_id = str(issue_seq)
            issue_seq += 1
            issue_worklogs = []
            if status[2] != "new":
                for _ in range(rng.randint(1, 6)):
                    started = moment(max(created, start), now - DAY_MS)
                    started -= started % (15 * 60 * 1000)
                    logged = min(now - 3_600_000, started + rng.randint(1, 36) * 3_600_000)
                    updated = logged if rng.random() < 0.85 else moment(logged, now - 3_600_000)
                    entry: dict[str, Any] = {
                        "id": str(worklog_seq), "issueId": issue_id,
                        "author": rng.choice([assignee, *staff]), "comment": rng.choice(WORKLOG_COMMENTS),
                        "started": jira_time(started), "timeSpentSeconds": rng.choice((1800, 3600, 5400, 7200, 10800, 14400, 25200)),
                        "created": jira_time(logged), "updated": jira_time(updated),
                    }
                    worklog_seq += 1
                    if rng.random() < 0.92:
                        billable = plan["billable"] and rng.random() < 0.9
                        entry["properties"] = [{"key": BILLING_PROPERTY, "value": {"billable": billable}}]
                    else:
                        entry["properties"] = []
                    issue_worklogs.append((updated, entry))
            last_touch = max([created + rng.randint(0, 3) * DAY_MS] + [u for u, _ in issue_worklogs])
            updated = min(now - 60_000, max(last_touch, moment(created, now - 60_000) if rng.random() < 0.5 else last_touch))
            resolution = moment(created, updated) if status[2] == "done" else None
            if resolution is not None:
                updated = max(updated, resolution)
            fix = [v["id"] for v in rng.sample(project_versions, 1)]
            labels = ["non-billable"] if not plan["billable"] else rng.choice(([], [], ["client"], ["regie"]))
            issues.append({
                "id": issue_id, "key": f"{key}-{i_number}", "projectId": project_id,
                "summary": f"{rng.choice(TASKS)} ({plan['name'][:40]})",
                "issuetype": rng.choice(("Task", "Task", "Story", "Bug")), "status": status[1],
                "assignee": assignee, "reporter": lead, "labels": labels,
                "created": jira_time(created), "updated": jira_time(updated),
                "resolutiondate": jira_time(resolution) if resolution is not None else None,
                "duedate": jira_time(created + rng.randint(10, 60) * DAY_MS)[:10],
                "fixVersions": fix, "timeoriginalestimate": rng.choice((None, 14400, 28800, 57600)),
            })
            worklogs.extend(entry for _, entry in issue_worklogs)
    for _ in range(4):
        deleted.append({"worklogId": worklog_seq, "updatedTime": moment(start, now - 3_600_000)})
        worklog_seq += 1
    return {
        "site": "passerelle-demo",
        "account": api_user,
        "users": users,
        "projects": projects,
        "versions": versions,
        "issues": issues,
        "worklogs": worklogs,
        "deleted_worklogs": deleted,
        "links": links,
        "statuses": [{"id": s[0], "name": s[1], "category": s[2], "categoryName": s[3]} for s in STATUSES],
    }
