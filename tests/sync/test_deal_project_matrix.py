"""Every CRM × every project tool: a won deal of each CRM becomes exactly one project in each tool.

One test per project tool routes the won deals of every CRM source to it (the staged sandbox dataset holds
won deals in each CRM), applies the plan, then asks the tool itself, by the key stamped on what it made, how
many projects each deal has: one. A second run makes nothing, and a run with every link row lost adopts
what exists instead of making a second project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from passerelle.sync.config import load_sync_config
from passerelle.sync.deal_projects import apply, plan, project_makers
from tests.db import tuples
from tests.sync.conftest import connector_api, quiet
from tests.sync.project_tools import forget_links

WON_AFTER = "2025-06-01"
"""Early enough for every CRM of the dataset to have won deals after it (folk has no deals)."""
DEAL_URL = "https://crm.example.com/{crm}/deals/{{deal_id}}"


def _jira(sandbox: Any, api: Any) -> dict[str, str]:
    return {"container": next(p["key"] for p in quiet(sandbox, "jira").records("projects") if not p.get("deleted"))}


def _asana(sandbox: Any, api: Any) -> dict[str, str]:
    workspace = api.api.request("GET", "/workspaces", stream="test")["data"][0]["gid"]
    templates = api.api.request("GET", "/project_templates", stream="test", params={"workspace": workspace})["data"]
    return {"template": templates[0]["gid"]}


def _planner(sandbox: Any, api: Any) -> dict[str, str]:
    control = sandbox.vendors["planner"].control
    control.config(enforce_throttling=False)
    return {"container": control.records("groups")[0]["id"], "deal_url": DEAL_URL}


TOOLS: dict[str, tuple[dict[str, Any], Callable[[Any, Any], dict[str, str]]]] = {
    "trello": ({}, lambda sandbox, api: {}),
    "asana": ({}, _asana),
    "jira": ({}, _jira),
    "monday": ({}, lambda sandbox, api: {}),
    "zoho_projects": ({"max_requests_per_window": 10_000}, lambda sandbox, api: {}),
    "planner": ({}, _planner),
}


UNDELIVERED_WON = """
    SELECT source_system, source_id, customer_key FROM staging.deals d
     WHERE is_won AND won_date >= %s AND customer_key IS NOT NULL
       AND NOT EXISTS (SELECT FROM staging.project_links l WHERE l.deal_key = d.deal_key
                                                            AND l.method IN ('explicit_link', 'override'))
     ORDER BY won_date DESC, source_id"""


def sample(conn: Any) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Per CRM, the customer of its latest won deal that no project delivers yet, and that customer's won deals
    (a route naming the customer keeps each tool's run to a few deals per CRM)."""
    customers: dict[str, str] = {}
    deals: dict[str, set[str]] = {}
    rows = tuples(conn, UNDELIVERED_WON, WON_AFTER)
    for crm, _, customer in rows:
        customers.setdefault(crm, customer)
    for crm, deal_id, customer in rows:
        if customers[crm] == customer:
            deals.setdefault(crm, set()).add(deal_id)
    return customers, deals


def active_links(conn: Any, tool: str) -> dict[tuple[str, str], tuple[int, str]]:
    """(CRM, deal id) → (link id, key) of the tool's active deal links."""
    return {(crm, deal): (link_id, key) for crm, deal, link_id, key in tuples(conn, """
        SELECT crm_system, crm_id, link_id, idem_key FROM sync.links
         WHERE link_kind = 'deal_project' AND pm_system = %s AND state = 'active'""", tool)}


def sync_file(tmp_path: Path, tool: str, options: dict[str, str], customers: dict[str, str]) -> Path:
    lines = ["[deal_to_project]", 'mode = "apply"', f"won_after = {WON_AFTER}"]
    for crm, customer in sorted(customers.items()):
        lines += ["", "[[deal_to_project.routes]]", f'crm = "{crm}"', f'pm = "{tool}"', f'customers = ["{customer}"]',
                  *(f'{name} = "{value.format(crm=crm)}"' for name, value in options.items())]
    path = tmp_path / "sync.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_a_won_deal_of_each_crm_becomes_one_project_in_each_tool(staged_conn, sandbox, tmp_path: Path,
                                                                 tool: str) -> None:
    extra, options = TOOLS[tool]
    if tool == "monday":
        sandbox.vendors["monday"].control.config(enforce_complexity=False)
    elif tool != "planner":
        quiet(sandbox, tool)
    api = connector_api(sandbox, tool, **extra)
    customers, wanted = sample(staged_conn)
    assert {"salesforce", "hubspot", "zoho_crm", "bigin", "pipedrive", "dynamics"} <= set(wanted), wanted
    config = load_sync_config(sync_file(tmp_path, tool, options(sandbox, api), customers)).deal_to_project

    def run(run_id: str) -> Any:
        plan(staged_conn, config, run_id)
        return apply(staged_conn, run_id, project_makers(staged_conn, run_id, {tool: api}), tool=tool)

    first = run(f"{tool}-matrix-1")
    assert not first.rejected and not first.unknown
    made = active_links(staged_conn, tool)
    assert {crm: {deal for c, deal in made if c == crm} for crm in wanted} == wanted
    assert first.created == sum(len(deals) for deals in wanted.values())

    finder = project_makers(staged_conn, f"{tool}-matrix-check", {tool: api})(tool)
    per_deal = {deal: len(finder.find(key, link_id)) for deal, (link_id, key) in made.items()}
    assert set(per_deal.values()) == {1}, {deal: n for deal, n in per_deal.items() if n != 1}

    again = run(f"{tool}-matrix-2")
    assert (again.created, again.adopted) == (0, 0)
    forget_links(staged_conn, tool)
    lost = run(f"{tool}-matrix-3")
    assert (lost.created, lost.adopted) == (0, len(made))
    adopted = active_links(staged_conn, tool)
    assert {deal: len(finder.find(key, link_id)) for deal, (link_id, key) in adopted.items()} == per_deal
