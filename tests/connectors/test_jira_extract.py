"""Jira extract-load against the Jira emulator over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.sources.jira import JIRA
from passerelle.errors import AuthError, BadRecordError, SourceUnavailableError
from passerelle.load.raw_loader import LoadStats
from passerelle_sandbox.server import Sandbox
from tests.connectors.helpers import DAY1, audit_counts, raw_count, raw_versions, source_config
from tests.connectors.helpers import extract_day as extract_day_for
from tests.fixtures.sandbox import single_vendor_sandbox


jira_session = single_vendor_sandbox("jira", "jira_session")


@pytest.fixture
def jira(jira_session: Sandbox) -> Sandbox:
    jira_session.vendors["jira"].control.reset()
    return jira_session


def config(sandbox: Sandbox, **extra: Any) -> SourceConfig:
    return source_config(sandbox, "jira", **extra)


def extract(conn: Any, sandbox: Sandbox, stream: str, day: int = 0, **extra: Any) -> LoadStats:
    return extract_day_for(conn, sandbox, "jira", stream, day, **extra)


def control(sandbox: Sandbox):
    return sandbox.vendors["jira"].control


def test_spec_is_registered_the_project_way() -> None:
    assert (JIRA.name, JIRA.conn_id, JIRA.pool, JIRA.schedule, JIRA.tags) == (
        "jira", "passerelle_jira", "jira_api", "0 0 * * *", ("pm",))
    assert [s.name for s in JIRA.streams] == ["projects", "versions", "issues", "deal_epics", "worklogs", "users"]


def test_first_window_loads_full_history_of_every_stream(jira, warehouse_conn) -> None:
    c = control(jira)
    expected = {"projects": len(c.records("projects")), "versions": len(c.records("versions")),
                "issues": len(c.records("issues")), "users": len(c.records("users"))}
    for stream, count in expected.items():
        stats = extract(warehouse_conn, jira, stream)
        assert stats.inserted == count == raw_count(warehouse_conn, "jira", stream), stream
    worklogs = extract(warehouse_conn, jira, "worklogs")
    assert worklogs.inserted == len(c.records("worklogs"))
    assert worklogs.deleted == 4  # deletions already in the feed become tombstones
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE stream = 'projects' AND payload->'properties' ? 'passerelle.crm'")
        linked = [row[0]["properties"]["passerelle.crm"] for row in cur.fetchall()]
        cur.execute("SELECT payload FROM raw.records WHERE stream = 'worklogs' AND NOT is_deleted LIMIT 1")
        worklog = cur.fetchone()[0]
    warehouse_conn.rollback()
    assert len(linked) == 14 and {link["crm"] for link in linked} == {"salesforce", "hubspot"}
    assert {"author", "started", "timeSpentSeconds", "issueId", "updated", "properties"} <= set(worklog)


def test_later_window_picks_exactly_its_updates_and_deletions(jira, warehouse_conn) -> None:
    c = control(jira)
    extract(warehouse_conn, jira, "issues", day=0)
    extract(warehouse_conn, jira, "worklogs", day=0)
    worklogs = c.records("worklogs")
    busy = worklogs[0]["issueId"]
    mine = [w["id"] for w in worklogs if w["issueId"] == busy]
    idle = next(i["id"] for i in c.records("issues") if i["id"] not in {w["issueId"] for w in worklogs})
    c.set_clock(DAY1 + timedelta(days=1, hours=8))
    c.update("issues", busy, {"status": "Done"})
    c.delete("issues", idle)
    new = c.create("worklogs", {"issueId": busy, "timeSpentSeconds": 5400, "billable": True})["id"]
    c.update("worklogs", mine[0], {"timeSpentSeconds": 7200})
    if len(mine) > 1:
        c.delete("worklogs", mine[1])

    issues = extract(warehouse_conn, jira, "issues", day=1)
    assert (issues.inserted, issues.updated, issues.deleted) == (0, 1, 1)
    worklog_stats = extract(warehouse_conn, jira, "worklogs", day=1)
    assert (worklog_stats.inserted, worklog_stats.updated, worklog_stats.deleted) == (1, 1, 1 if len(mine) > 1 else 0)
    versions = {v[0]: v for v in raw_versions(warehouse_conn, "jira", "worklogs")}
    assert new in versions
    assert [v[2] for v in raw_versions(warehouse_conn, "jira", "issues") if v[0] == idle] == [False, True]

    rerun_issues = extract(warehouse_conn, jira, "issues", day=1)
    rerun_worklogs = extract(warehouse_conn, jira, "worklogs", day=1)
    for stats in (rerun_issues, rerun_worklogs):
        assert (stats.inserted, stats.updated, stats.deleted) == (0, 0, 0)
        assert stats.unchanged == stats.records


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Kiritimati"])
def test_window_bounds_do_not_depend_on_the_account_time_zone(jira, warehouse_conn, zone: str) -> None:
    c = control(jira)
    c.config(time_zone=zone)
    extract(warehouse_conn, jira, "issues", day=0)
    ids = [i["id"] for i in c.records("issues")][:3]
    for issue, moment in zip(ids, (timedelta(days=1, minutes=5), timedelta(days=1, hours=12),
                                   timedelta(days=1, hours=23, minutes=55))):
        c.set_clock(DAY1 + moment)
        c.update("issues", issue, {"summary": f"edited at {moment}"})
    day1 = extract(warehouse_conn, jira, "issues", day=1)
    assert day1.updated == 3
    day2 = extract(warehouse_conn, jira, "issues", day=2)
    assert (day2.inserted, day2.updated, day2.deleted) == (0, 0, 0)


def test_throttling_storm_and_server_errors_are_survived(jira, warehouse_conn) -> None:
    c = control(jira)
    c.config(burst_limit=4, burst_window_seconds=0.5, retry_after_seconds=1)
    c.add_fault("error", status=503, times=2, path="/search/jql")
    c.add_fault("rate_limit", times=3, retry_after=0, path="/worklog")
    assert extract(warehouse_conn, jira, "issues", page_size=20).inserted == len(c.records("issues"))
    assert extract(warehouse_conn, jira, "worklogs").inserted == len(c.records("worklogs"))
    by_status = c.stats()["by_status"]
    assert by_status.get("503") == 2 and by_status.get("429", 0) >= 3


def test_page_boundaries_lose_and_duplicate_nothing(jira, warehouse_conn) -> None:
    c = control(jira)
    c.config(worklog_page_size=5, enforce_rate_limits=False)
    issues = extract(warehouse_conn, jira, "issues", day=0, page_size=7)
    assert issues.inserted == len(c.records("issues")) and issues.pages > 10
    extract(warehouse_conn, jira, "worklogs", day=0)
    c.set_clock(DAY1 + timedelta(days=1, hours=3))
    for _ in range(6):  # runs of 3 equal timestamps, cut by pages of 5
        c.bulk("worklogs", create=3)
        c.advance(1)
    stats = extract(warehouse_conn, jira, "worklogs", day=1)
    assert (stats.inserted, stats.updated) == (18, 0)
    ids = [v[0] for v in raw_versions(warehouse_conn, "jira", "worklogs") if not v[2]]
    assert len(ids) == len(set(ids)) == len(c.records("worklogs"))


def test_more_worklogs_on_one_millisecond_than_a_page_fails_loudly(jira, warehouse_conn) -> None:
    c = control(jira)
    c.config(worklog_page_size=5, enforce_rate_limits=False)
    extract(warehouse_conn, jira, "worklogs", day=0)
    before = audit_counts(warehouse_conn)
    c.set_clock(DAY1 + timedelta(days=1, hours=3))
    c.bulk("worklogs", create=7)
    with pytest.raises(SourceUnavailableError, match="share one timestamp"):
        extract(warehouse_conn, jira, "worklogs", day=1)
    assert audit_counts(warehouse_conn) == before


def test_snapshot_streams_emit_changes_and_tombstones_only(jira, warehouse_conn) -> None:
    c = control(jira)
    extract(warehouse_conn, jira, "projects", day=0)
    extract(warehouse_conn, jira, "issues", day=0)
    assert extract(warehouse_conn, jira, "projects", day=0).records == 0  # rerun: nothing new
    projects = c.records("projects")
    c.set_clock(DAY1 + timedelta(days=1, hours=9))
    c.update("projects", projects[0]["id"], {"name": "Renamed project"})
    c.delete("projects", projects[1]["id"])  # to the trash: its issues leave every search
    gone = [i["id"] for i in c.records("issues") if i["fields"]["project"]["id"] == projects[1]["id"]]
    stats = extract(warehouse_conn, jira, "projects", day=1)
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 1, 1)
    issues = extract(warehouse_conn, jira, "issues", day=1)
    assert issues.deleted == len(gone) > 0


def test_census_refuses_to_delete_most_issues_at_once(jira, warehouse_conn) -> None:
    c = control(jira)
    extract(warehouse_conn, jira, "issues", day=0)
    before = audit_counts(warehouse_conn)
    c.set_clock(DAY1 + timedelta(days=1, hours=9))
    for project in c.records("projects")[:15]:
        c.delete("projects", project["id"])
    with pytest.raises(SourceUnavailableError, match="refusing to delete"):
        extract(warehouse_conn, jira, "issues", day=1)
    assert audit_counts(warehouse_conn) == before


def test_record_without_id_is_named_and_nothing_loads(jira, warehouse_conn) -> None:
    control(jira).add_fault("missing_id", path="/search/jql")
    with pytest.raises(BadRecordError, match=r"jira \(Airflow Connection 'passerelle_jira'\): issues: record #\d+ at .*missing primary key field 'id'"):
        extract(warehouse_conn, jira, "issues")
    assert raw_count(warehouse_conn, "jira", "issues") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_malformed_json_is_named_and_nothing_loads(jira, warehouse_conn) -> None:
    control(jira).add_fault("malformed_json", path="/worklog/list")
    with pytest.raises(BadRecordError, match=r"jira \(Airflow Connection 'passerelle_jira'\): worklogs: .*malformed JSON"):
        extract(warehouse_conn, jira, "worklogs")
    assert raw_count(warehouse_conn, "jira", "worklogs") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_refused_api_token_fails_fast(jira, warehouse_conn) -> None:
    c = control(jira)
    c.add_fault("expire_tokens")
    with pytest.raises(AuthError, match="API token"):
        extract(warehouse_conn, jira, "projects")
    assert c.stats()["by_status"].get("401") == 1  # one refusal, no retry storm
    assert audit_counts(warehouse_conn) == (0, 0)
