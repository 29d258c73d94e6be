"""What the project-tool tests share: one sync run for one tool, the deal lines, a lost link, the next extract."""

from __future__ import annotations

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
