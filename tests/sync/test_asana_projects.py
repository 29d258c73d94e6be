"""Won deal → Asana project from a template: an asynchronous job, polled, never started twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from passerelle.sync import asana_projects
from passerelle.sync.config import load_sync_config
from passerelle.sync.deal_projects import apply, plan, project_makers
from tests.db import tuples
from tests.sync.project_tools import (STRANGER, assert_owner_not_found, deal_owners, give_owner, route_file,
                                      won_dates)
from tests.sync.test_deal_projects import by_deal, expected_deals


@pytest.fixture
def template(session) -> str:
    """The gid of the workspace's first project template."""
    workspace = session.api.request("GET", "/workspaces", stream="test")["data"][0]["gid"]
    return session.api.request("GET", "/project_templates", stream="test", params={"workspace": workspace})["data"][0]["gid"]


@pytest.fixture
def config(tmp_path, template) -> Any:
    return load_sync_config(route_file(tmp_path, "asana", template=template)).deal_to_project


def projects_by_deal(asana: Any) -> Counter[str]:
    return by_deal(asana.records("projects"), "notes")


def run_sync(conn: Any, config: Any, session: Any, run_id: str) -> Any:
    plan(conn, config, run_id)
    return apply(conn, run_id, project_makers(conn, run_id, {"asana": session}), tool="asana")


def test_each_won_deal_gets_one_project_from_the_template_with_its_deal_field(staged_conn, asana, session,
                                                                              config) -> None:
    outcome = run_sync(staged_conn, config, session, "asana-1")
    wanted = expected_deals(staged_conn)
    assert outcome.created == len(wanted) and not outcome.rejected and not outcome.unknown
    assert projects_by_deal(asana) == Counter({deal_id: 1 for deal_id in wanted})
    lines = dict(tuples(staged_conn, """
        SELECT d.source_id, count(l.*) FROM staging.deals d LEFT JOIN staging.deal_lines l USING (deal_key)
         WHERE d.source_system = 'hubspot' GROUP BY 1"""))
    for project in asana.records("projects"):
        key = next((line for line in (project.get("notes") or "").splitlines() if line.startswith("Passerelle: ")), None)
        if key is None:
            continue
        deal_id = key.split(":")[3]
        fields = {f["name"]: f.get("text_value") for f in project.get("custom_fields") or []}
        assert fields["CRM deal"] == deal_id  # what staging/projects/asana.sql reads
        tasks = [t for t in asana.records("tasks")
                 if any(m["project"]["gid"] == project["gid"] for m in t.get("memberships") or [])]
        assert len(tasks) == 4 + lines[deal_id]  # the template's four tasks and one per deal line
    again = run_sync(staged_conn, config, session, "asana-2")
    assert (again.created, again.adopted) == (0, 0)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'create_project'") == [(len(wanted),)]


def test_a_job_still_running_is_polled_again_by_the_next_run_not_started_twice(staged_conn, asana, session, config,
                                                                                monkeypatch) -> None:
    monkeypatch.setattr(asana_projects, "POLL_WAIT", 0.001)
    asana.config(job_polls=100)  # longer than a run waits
    first = run_sync(staged_conn, config, session, "slow-1")
    wanted = expected_deals(staged_conn)
    assert first.created == 0 and len(first.unknown) == len(wanted)
    pending = tuples(staged_conn, "SELECT count(*) FROM sync.links WHERE state = 'pending_create' AND pending_ref IS NOT NULL")
    assert pending == [(len(wanted),)]
    asana.config(job_polls=1)
    second = run_sync(staged_conn, config, session, "slow-2")
    assert second.created == len(wanted)
    assert projects_by_deal(asana) == Counter({deal_id: 1 for deal_id in wanted})
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'create_project'") == [(len(wanted),)]


def test_an_asana_route_without_a_template_is_refused_when_the_file_is_read(tmp_path) -> None:
    path = tmp_path / "sync.toml"
    path.write_text('[deal_to_project]\nwon_after = 2026-01-01\n[[deal_to_project.routes]]\ncrm = "hubspot"\npm = "asana"\n')
    with pytest.raises(ValueError, match="an Asana route needs template"):
        load_sync_config(path)


def test_the_project_is_owned_by_the_deal_owner_and_dated_from_the_won_date(staged_conn, asana, session, template,
                                                                             tmp_path) -> None:
    config = load_sync_config(route_file(tmp_path, "asana", template=template, duration_days="45")).deal_to_project
    stranger = min(expected_deals(staged_conn))
    give_owner(staged_conn, stranger, STRANGER)
    owners, won = deal_owners(staged_conn), won_dates(staged_conn)
    outcome = run_sync(staged_conn, config, session, "owner-1")
    assert outcome.created == len(expected_deals(staged_conn)) and not outcome.rejected
    users = {u["gid"]: u["email"].lower() for u in asana.records("users")}
    assert {email for email, _ in owners.values()} - {STRANGER} <= set(users.values())  # the dataset has them
    made = {deal_id: project for project in asana.records("projects")
            for deal_id in by_deal([project], "notes")}
    assert set(made) == set(expected_deals(staged_conn))
    for deal_id, project in made.items():
        assert project["start_on"] == won[deal_id].isoformat()
        assert project["due_on"] == (won[deal_id] + timedelta(days=45)).isoformat()
        if deal_id == stranger:
            assert users.get(project["owner"]["gid"]) != STRANGER
            assert f"<{STRANGER}>" in project["notes"]
        else:
            assert users[project["owner"]["gid"]] == owners[deal_id][0]
    assert_owner_not_found(staged_conn, "asana", stranger)
    reads = tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE vendor = 'asana' AND operation = 'read_users'")
    assert reads == [(1,)]  # the workspace's users are read once per run
