"""Won deal → project, exactly once: the plan from the staging model, then the writes.

**Plan** (:func:`plan`): every deal of a routed CRM that is won on or after ``won_after`` and has no active
link is planned ``create`` in its route's project tool, with what the project will hold (name, customer,
owner, amount, won date, one task per deal line); a deal a project tool already delivers (one project staging
links to it explicitly) is planned ``link`` to that project instead, so no second project is made next to the
one people use; several such projects, or a link the vendor answered ambiguously (``unknown``), are planned
``skip`` for a person. Deals already linked
are counted, not listed. The plan is stored in ``sync.plan_items``; in ``plan`` mode nothing else happens.

**Apply** (:func:`apply`): for each planned item, in order, the link is reserved (``pending_create``, committed),
then the key is looked up at the vendor, and only when nothing carries it is the project created; the link
becomes ``active`` with the vendor's id. A rerun, a retried task, a deal reopened and won again, or a process
killed between the vendor's create and the link's update therefore never makes a second project: the next
apply finds the key on the first one and adopts it. A refusal is recorded with the vendor's message and the
next item goes on; an unknown outcome leaves the link pending for the next run's lookup.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Callable, Protocol

from passerelle.crash_points import crash_point
from passerelle.reports.formats import Formats
from passerelle.sync import links
from passerelle.sync.config import DealToProject, ProjectRoute
from passerelle.sync.links import Link
from passerelle.sync.make_once import Tally, make_once
from passerelle.sync.vendor_calls import VendorWriter

log = logging.getLogger(__name__)

FLOW = "deal_to_project"
KIND = "deal_project"
PM_OBJECT = {"trello": "board", "asana": "project", "jira": "epic", "monday": "board", "zoho_projects": "project",
             "planner": "plan"}
"""What a project is called in each project tool (``sync.links.pm_object``)."""
CRASH_POINTS = ("sync.project_created", "sync.project_furnished")

_WON_DEALS = """
SELECT d.source_system, d.source_id, d.deal_key, d.customer_key, d.name, d.amount, d.currency, d.won_date,
       d.close_date, c.legal_name, p.full_name, lower(p.email) AS owner_email,
       l.state, l.pm_system,
       (SELECT jsonb_agg(jsonb_build_object('pm_system', pr.source_system, 'pm_id', pr.source_id, 'name', pr.name)
                         ORDER BY pr.source_system, pr.source_id)
          FROM staging.project_links AS pl JOIN staging.projects AS pr ON pr.project_key = pl.project_key
         WHERE pl.deal_key = d.deal_key AND pl.method IN ('explicit_link', 'override')) AS delivered_in
  FROM staging.deals AS d
  LEFT JOIN staging.customers AS c ON c.customer_key = d.customer_key
  LEFT JOIN staging.people AS p ON p.person_key = d.owner_person_key
  LEFT JOIN sync.links AS l ON l.crm_system = d.source_system AND l.crm_object = 'deal' AND l.crm_id = d.source_id
                           AND l.link_kind = 'deal_project'
 WHERE d.is_won AND d.won_date >= %(won_after)s AND d.source_system = ANY(%(crms)s)
 ORDER BY d.won_date, d.source_system, d.source_id
"""

_LINES = """
SELECT deal_key, name, quantity, unit_price, line_amount
  FROM staging.deal_lines WHERE deal_key = ANY(%(deals)s)
 ORDER BY deal_key, source_id
"""


def idem_key(crm: str, deal_id: str) -> str:
    """The link's key, stamped on the project: one per deal, whatever happens to the deal later."""
    return f"{crm}:deal:{deal_id}:project"


FRENCH = Formats("fr")  # the amounts a project summary shows, written as the French report writes them


def _money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return "montant non renseigné"
    return f"{FRENCH.money(amount, currency=None)} {currency or ''}".strip()


def _owner(row: dict[str, Any]) -> dict[str, str] | None:
    """The deal's sales owner, matched by email to a user of the project tool when the project is made."""
    if not row["full_name"] and not row["owner_email"]:
        return None
    return {"name": row["full_name"] or row["owner_email"], "email": row["owner_email"]}


def _project(row: dict[str, Any], lines: list[dict[str, Any]], route: ProjectRoute) -> dict[str, Any]:
    customer = row["legal_name"] or "client inconnu"
    owner = _owner(row)
    named = owner and (f"{owner['name']} <{owner['email']}>" if owner["email"] and owner["email"] != owner["name"]
                       else owner["name"])
    due = row["won_date"] + timedelta(days=route.duration_days) if route.duration_days else None
    summary = "\n".join([
        f"Affaire {row['source_system']} {row['source_id']} : {row['name']}",
        f"Client : {customer}",
        f"Responsable commercial : {named or 'non renseigné'}",
        f"Montant HT : {_money(row['amount'], row['currency'])}",
        f"Gagnée le : {row['won_date'].strftime('%d/%m/%Y')}",
    ])
    return {
        "idem_key": idem_key(row["source_system"], row["source_id"]),
        "name": f"{customer} – {row['name']}" if row["legal_name"] else row["name"],
        "summary": summary, "deal_link": f"{row['source_system']}:{row['source_id']}", "template": route.template,
        "owner": owner, "start_date": row["won_date"].isoformat(), "due_date": due and due.isoformat(),
        "lines": [{"title": f"{n}. {line['name'] or 'Ligne'}",
                   "detail": f"Quantité : {line['quantity']} · prix unitaire HT : {line['unit_price']} · "
                             f"montant HT : {line['line_amount']}"}
                  for n, line in enumerate(lines, 1)],
    }


def _dates_note(route: ProjectRoute) -> str:
    if route.duration_days:
        return f"; starts on the won date, due {route.duration_days} days later"
    return "; starts on the won date, no due date (the route sets no duration_days)"


def plan(conn: Any, config: DealToProject, run_id: str) -> Counter[str]:
    """Store the run's plan; returns counts per operation (``linked`` = already done, not stored)."""
    crms = sorted({route.crm for route in config.routes})
    with conn.cursor() as cur:
        cur.execute(_WON_DEALS, {"won_after": config.won_after, "crms": crms})
        names = [d[0] for d in cur.description]
        deals = [dict(zip(names, row)) for row in cur.fetchall()]
        cur.execute(_LINES, {"deals": [d["deal_key"] for d in deals]})
        lines: dict[str, list[dict[str, Any]]] = {}
        for deal_key, name, quantity, unit_price, amount in cur.fetchall():
            lines.setdefault(deal_key, []).append({"name": name, "quantity": quantity, "unit_price": unit_price,
                                                   "line_amount": amount})
    conn.rollback()
    items: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for deal in deals:
        route = config.route_for(deal["source_system"], deal["customer_key"])
        base = {"crm_system": deal["source_system"], "crm_id": deal["source_id"],
                "idem_key": idem_key(deal["source_system"], deal["source_id"])}
        if route is None:
            continue  # a route for this CRM names other customers only
        if deal["state"] == "active":
            counts["linked"] += 1
            continue
        if deal["state"] == "unknown":
            items.append({**base, "operation": "skip", "pm_system": deal["pm_system"],
                          "reason": "several projects carry this deal's key: a person keeps one and fixes sync.links"})
        elif deal["delivered_in"] and deal["state"] is None:
            projects = deal["delivered_in"]
            named = ", ".join(f"{p['pm_system']} {p['pm_id']} ({p['name']})" for p in projects)
            if len(projects) == 1:
                items.append({**base, "operation": "link", "pm_system": projects[0]["pm_system"],
                              "reason": f"already delivered in {named}: linked, no second project is made",
                              "payload": projects[0]})
            else:
                items.append({**base, "operation": "skip", "pm_system": None,
                              "reason": f"delivered in several projects ({named}): a person links one in sync.links"})
        else:
            items.append({**base, "operation": "create", "pm_system": route.pm,
                          "reason": ("won on " + deal["won_date"].isoformat() + ", no project yet" if deal["state"] is None
                                     else "project creation pending since an earlier run: look up, then create")
                                    + _dates_note(route),
                          "payload": {**_project(deal, lines.get(deal["deal_key"], []), route),
                                      "container": route.container,
                                      "deal_url": route.deal_url and route.deal_url.replace("{deal_id}", deal["source_id"])}})
    return links.store_counted_plan(conn, run_id, FLOW, items, counts, "deal → project")


@dataclass
class ApplyOutcome(Tally):
    linked: int = 0
    rejected: list[str] = field(default_factory=list)
    cards: int = 0


class ProjectMaker(Protocol):
    """What a project tool offers the flow: find by key, create (stamping the key), furnish, link."""

    def find(self, idem_key: str, link_id: int) -> list[dict[str, Any]]: ...
    def create(self, project: dict[str, Any], link: Link) -> dict[str, Any]: ...
    def furnish(self, made: dict[str, Any], project: dict[str, Any], link_id: int) -> int: ...
    def url(self, made: dict[str, Any]) -> str | None: ...


Makers = Callable[[str], ProjectMaker]
"""Given a project tool's name, the object that finds, creates and furnishes its projects."""


def link_existing(conn: Any, run_id: str) -> int:
    """Record the planned links to projects that already deliver their deal (no vendor call); returns how many."""
    linked = 0
    for item in links.planned(conn, run_id, FLOW, "link"):
        project = item["payload"]
        link = links.reserve(conn, kind=KIND, crm_system=item["crm_system"], crm_object="deal", crm_id=item["crm_id"],
                             pm_system=project["pm_system"], pm_object="project", idem_key=item["idem_key"],
                             template_ref=None)
        if link.state == "pending_create":
            links.settle(conn, link.link_id, state="active", pm_id=project["pm_id"])
            linked += 1
        links.mark_outcome(conn, item["plan_item_id"], "done")
    return linked


def apply(conn: Any, run_id: str, makers: Makers, tool: str | None = None) -> ApplyOutcome:
    """Make the run's planned projects (only ``tool``'s when given), each exactly once (see the module's docstring)."""
    outcome = ApplyOutcome()
    if tool is None:
        outcome.linked = link_existing(conn, run_id)
    for item in links.planned(conn, run_id, FLOW, "create", pm_system=tool):
        project = item["payload"]
        label = f"{item['crm_system']} deal {item['crm_id']}"
        link = links.reserve(conn, kind=KIND, crm_system=item["crm_system"], crm_object="deal", crm_id=item["crm_id"],
                             pm_system=item["pm_system"], pm_object=PM_OBJECT[item["pm_system"]],
                             idem_key=item["idem_key"],
                             template_ref=project.get("template"))
        maker: ProjectMaker = makers(item["pm_system"])

        def furnish(board: dict[str, Any]) -> None:
            crash_point("sync.project_created")
            outcome.cards += maker.furnish(board, project, link.link_id)
            crash_point("sync.project_furnished")

        make_once(conn, item, link, label=label, noun=PM_OBJECT[item["pm_system"]], tally=outcome,
                  refused=outcome.rejected, find=partial(maker.find, link.idem_key, link.link_id),
                  create=partial(maker.create, project, link), furnish=furnish,
                  address=lambda board: (str(board.get("id") or board["gid"]), maker.url(board)))
    log.info("deal → project: %d created, %d adopted, %d linked to an existing project, %d refused, %d unknown, "
             "%d tasks added", outcome.created, outcome.adopted, outcome.linked, len(outcome.rejected),
             len(outcome.unknown), outcome.cards)
    return outcome


def project_makers(conn: Any, run_id: str, apis: dict[str, Any]) -> Makers:
    """Makers for the project tools whose connector API objects are given (``{"trello": TrelloApi}``; Jira's
    session, monday's GraphQL client, the Zoho Projects and Graph API objects). One maker per tool for the run, so
    what it looks up once (the deal owners' users) serves every deal of the run."""
    from passerelle.sync.asana_projects import AsanaProjects
    from passerelle.sync.graphql_writes import GraphQLWriter
    from passerelle.sync.jira_projects import JiraProjects
    from passerelle.sync.monday_projects import MondayProjects
    from passerelle.sync.planner_projects import PlannerProjects
    from passerelle.sync.trello_projects import TrelloProjects
    from passerelle.sync.zoho_projects_projects import ZohoProjectsProjects

    made: dict[str, ProjectMaker] = {}

    def maker(tool: str) -> ProjectMaker:
        if tool not in made:
            made[tool] = new_maker(tool)
        return made[tool]

    def new_maker(tool: str) -> ProjectMaker:
        if tool == "trello":
            return TrelloProjects(VendorWriter(apis["trello"], conn, run_id, "trello"))
        if tool == "asana":
            return AsanaProjects(apis["asana"], VendorWriter(apis["asana"].api, conn, run_id, "asana"))
        if tool == "jira":
            return JiraProjects(VendorWriter(apis["jira"].api, conn, run_id, "jira"))
        if tool == "monday":
            return MondayProjects(GraphQLWriter(apis["monday"], conn, run_id, "monday"))
        if tool == "zoho_projects":
            return ZohoProjectsProjects(apis[tool], VendorWriter(apis[tool], conn, run_id, tool))
        if tool == "planner":
            return PlannerProjects(apis["planner"], VendorWriter(apis["planner"], conn, run_id, "planner"))
        raise ValueError(f"no project maker for {tool}")
    return maker
