"""What the project-tool tests share: one sync run for one tool, the deal lines, a lost link, the next extract, the
deal owners and won dates, an owner no tool knows."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from passerelle.connectors.registry import get_source
from passerelle.sync.deal_projects import ApplyOutcome, apply, plan, project_makers
from tests.connectors.helpers import extract_day
from tests.db import tuples
from tests.fixtures.staged_snapshot import build_staging
from tests.sync.test_deal_projects import WON_AFTER


def route_file(tmp_path: Path, pm: str, **options: str | None) -> Path:
    """A sync file routing HubSpot's won deals to ``pm`` with the given route options."""
    path = tmp_path / "sync.toml"
    lines = ["[deal_to_project]", 'mode = "apply"', f"won_after = {WON_AFTER}", "", "[[deal_to_project.routes]]",
             'crm = "hubspot"', f'pm = "{pm}"', *(f'{name} = "{value}"' for name, value in options.items() if value)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_sync(conn: Any, config: Any, tool: str, api: Any, run_id: str) -> ApplyOutcome:
    plan(conn, config, run_id)
    return apply(conn, run_id, project_makers(conn, run_id, {tool: api}), tool=tool)


def line_counts(conn: Any) -> dict[str, int]:
    """Deal lines per HubSpot deal id."""
    return dict(tuples(conn, """
        SELECT d.source_id, count(l.*) FROM staging.deals d LEFT JOIN staging.deal_lines l USING (deal_key)
         WHERE d.source_system = 'hubspot' GROUP BY 1"""))


def forget_links(conn: Any, tool: str) -> None:
    """The links of ``tool`` lost, as if the process died after the vendor's create, before recording it."""
    with conn.cursor() as cur:
        cur.execute("UPDATE sync.writes SET link_id = NULL WHERE vendor = %s", (tool,))
        cur.execute("DELETE FROM sync.links WHERE pm_system = %s", (tool,))
    conn.commit()


def extract_and_stage(conn: Any, sandbox: Any, source: str) -> dict[str, tuple[str, str]]:
    """Extract ``source``'s streams for the next day, rebuild staging as the transform does; returns, per
    project of ``source`` linked to a deal, its (CRM deal id, link method)."""
    for stream in get_source(source).streams:
        extract_day(conn, sandbox, source, stream.name, 1)
    build_staging(conn, f"sync-{source}")
    return {project_id: (deal_id, method) for project_id, deal_id, method in tuples(conn, """
        SELECT p.source_id, d.source_id, l.method FROM staging.project_links l
          JOIN staging.projects p USING (project_key) JOIN staging.deals d USING (deal_key)
         WHERE p.source_system = %s""", source)}


STRANGER = "ancien.commercial@exemple-parti.fr"
"""The email of a deal owner no project tool knows."""


def deal_owners(conn: Any) -> dict[str, tuple[str, str]]:
    """HubSpot deal id → its owner's (email, full name), as staging.people holds them."""
    return {deal_id: (email, name) for deal_id, email, name in tuples(conn, """
        SELECT d.source_id, lower(p.email), p.full_name FROM staging.deals d
          JOIN staging.people p ON p.person_key = d.owner_person_key WHERE d.source_system = 'hubspot'""")}


def give_owner(conn: Any, deal_id: str, email: str, name: str = "Ancien Commercial") -> None:
    """The HubSpot deal's owner becomes a new person of that email (as if the CRM had reassigned it)."""
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.people (person_key, source_system, source_id, full_name, email, is_active)
                       VALUES (%(key)s, 'hubspot', %(id)s, %(name)s, %(email)s, true)""",
                    {"key": f"hubspot:owner-{deal_id}", "id": f"owner-{deal_id}", "name": name, "email": email})
        cur.execute("UPDATE staging.deals SET owner_person_key = %s WHERE source_system = 'hubspot' AND source_id = %s",
                    (f"hubspot:owner-{deal_id}", deal_id))
    conn.commit()


def won_dates(conn: Any) -> dict[str, date]:
    """HubSpot deal id → its won date."""
    return dict(tuples(conn, "SELECT source_id, won_date FROM staging.deals WHERE source_system = 'hubspot' "
                             "AND is_won"))


def assert_owner_not_found(conn: Any, tool: str, deal_id: str, email: str = STRANGER) -> None:
    """The deal's plan item and the audit say the owner has no user in ``tool`` (and the project was made)."""
    note = f"owner {email} not found in {tool}"
    reasons = [reason for reason, outcome in tuples(conn, "SELECT reason, outcome FROM sync.plan_items "
                                                          "WHERE crm_id = %s AND operation = 'create'", deal_id)
               if outcome in ("done", "adopted")]
    assert reasons and all(note in reason for reason in reasons), reasons
    audited = tuples(conn, """SELECT w.response->>'message' FROM sync.writes w JOIN sync.links l USING (link_id)
                               WHERE l.crm_id = %s AND w.operation = 'match_owner'""", deal_id)
    assert audited == [(note,)]
