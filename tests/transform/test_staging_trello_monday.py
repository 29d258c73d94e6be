"""Staging of Trello and monday.com: each tool's conventions applied to the raw sandbox dataset.

The truth is the sandbox dataset itself (the same builders the emulators serve), so every staged row
of these two tools is compared with what the source holds, field by field.
"""

from __future__ import annotations

import functools
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle_sandbox.dataset_monday import build_monday_dataset
from passerelle_sandbox.dataset_trello import build_trello_dataset
from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, extract_day

MODELS = ["projects", "tasks", "milestones", "time_entries", "people"]
PARIS = ZoneInfo("Europe/Paris")
CENT = Decimal("0.01")
COLUMNS = {
    "projects": "project_key, status, crm_system, crm_deal_id",
    "tasks": "task_key, project_key, status, completed_at, assignee_person_key, due_date",
    "milestones": "milestone_key, project_key, status, due_date, completed_at",
    "time_entries": "time_entry_key, project_key, task_key, person_key, entry_date, hours, billable",
    "people": "person_key, full_name, email, is_active",
}


@functools.cache
def truth() -> tuple[dict[str, Any], dict[str, Any]]:
    crm = load(default_dataset_path())
    return build_trello_dataset(crm), build_monday_dataset(crm)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def paris_day(text: str) -> date:
    return moment(text).astimezone(PARIS).date()


def staged(conn: Any, table: str, source: str) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS[table]} FROM staging.{table} WHERE source_system = %s", (source,))
        rows = cur.fetchall()
    conn.rollback()
    return {row[0]: tuple(row[1:]) for row in rows}


@pytest.fixture
def built(raw_conn: Any) -> Any:
    run_staging(raw_conn, MODELS)
    return raw_conn


def trello_expected() -> dict[str, dict[str, tuple]]:
    t, _ = truth()
    key = "trello:{}".format
    lists = {item["id"]: item["name"] for item in t["lists"]}
    names = {field["id"]: field["name"] for field in t["customFields"]}
    landed: dict[tuple[str, str], str] = {}
    finished: dict[str, str] = {}
    for action in t["actions"]:  # sorted by id, so the last one seen is the newest
        data = action["data"]
        if action["type"] == "updateCard" and "listAfter" in data:
            landed[data["card"]["id"], data["listAfter"]["id"]] = action["date"]
        if action["type"] == "updateCard" and data["card"].get("dueComplete") is True:
            finished[data["card"]["id"]] = action["date"]
    out: dict[str, dict[str, tuple]] = {name: {} for name in MODELS}
    links = {link["project_id"]: link for link in t["links"]}
    for board in t["boards"]:
        link = links[board["id"]]
        explicit = link["kind"] == "explicit"
        out["projects"][key(board["id"])] = ("active", link["crm"] if explicit else None,
                                             link["deal_id"] if explicit else None)
    for card in t["cards"]:
        values = {names[i["idCustomField"]]: i["value"] for i in card["customFieldItems"]}
        project, where = key(card["idBoard"]), lists[card["idList"]]
        if where == "Temps":
            out["time_entries"][key(card["id"])] = (
                project, None, key(card["idMembers"][0]), paris_day(values["Date worked"]["date"]),
                Decimal(values["Hours"]["number"]).quantize(CENT), values["Billable"]["checked"] == "true")
        elif where == "Jalons":
            done = card["dueComplete"]
            out["milestones"][key(card["id"])] = (project, "done" if done else "open", paris_day(card["due"]),
                                                  moment(finished[card["id"]]) if done else None)
        else:
            status = {"À faire": "todo", "En cours": "in_progress", "Terminé": "done"}[where]
            completed = moment(landed[card["id"], card["idList"]]) if status == "done" else None
            out["tasks"][key(card["id"])] = (project, status, completed, key(card["idMembers"][0]),
                                             paris_day(card["due"]))
    out["people"] = {key(m["id"]): (m["fullName"], None, None) for m in t["members"]}
    return out


def monday_expected() -> dict[str, dict[str, tuple]]:
    _, m = truth()
    key = "monday:{}".format
    out: dict[str, dict[str, tuple]] = {name: {} for name in MODELS}
    links = {link["project_id"]: link for link in m["links"]}
    for board in m["boards"]:
        link = links[board["id"]]
        explicit = link["kind"] == "explicit"
        out["projects"][key(board["id"])] = ("archived" if board["state"] == "archived" else "active",
                                             link["crm"] if explicit else None, link["deal_id"] if explicit else None)
    for item in (i for i in m["items"] if i["state"] == "active"):
        values, project = item["column_values"], key(item["board_id"])
        status = values["status"]["index"]
        completed = None
        if status == 2:
            completed = datetime.fromisoformat(values["date_done"]["date"]).replace(tzinfo=PARIS)
        if item["group_id"] == "milestones":
            out["milestones"][key(item["id"])] = (project, "done" if status == 2 else "open", None, completed)
            continue
        person = key(values["person"]["personsAndTeams"][0]["id"])
        out["tasks"][key(item["id"])] = (project, ("todo", "in_progress", "done")[status], completed, person, None)
        for s in values.get("time_tracking", {}).get("sessions", []):
            seconds = (moment(s["ended_at"]) - moment(s["started_at"])).total_seconds()
            out["time_entries"][key(s["id"])] = (
                project, key(item["id"]), key(s["started_user_id"]), paris_day(s["started_at"]),
                (Decimal(int(seconds)) / 3600).quantize(CENT), "billable" in values)
    out["people"] = {key(u["id"]): (u["name"], u["email"], u["enabled"]) for u in m["users"]}
    return out


@pytest.mark.parametrize("source, expected", [("trello", trello_expected), ("monday", monday_expected)])
def test_every_record_is_staged_as_the_source_holds_it(built: Any, source: str, expected: Any) -> None:
    truth_rows = expected()
    for table in MODELS:
        assert truth_rows[table], f"{source}.{table}: the dataset should hold some"
        assert staged(built, table, source) == truth_rows[table], f"{source} → staging.{table}"


def test_explicit_links_and_the_archived_board(built: Any) -> None:
    t, m = truth()
    trello_link = next(link for link in t["links"] if link["kind"] == "explicit")
    assert staged(built, "projects", "trello")[f"trello:{trello_link['project_id']}"] == (
        "active", trello_link["crm"], trello_link["deal_id"])
    archived = next(b for b in m["boards"] if b["state"] == "archived")
    projects = staged(built, "projects", "monday")
    assert projects[f"monday:{archived['id']}"] == ("archived", None, None)
    entries = staged(built, "time_entries", "monday").values()
    assert any(e[0] == f"monday:{archived['id']}" and e[5] is False for e in entries)  # its time is kept


def test_deletions_and_closing_reach_staging(raw_conn: Any, sandbox: Any) -> None:
    trello, monday = sandbox.vendors["trello"].control, sandbox.vendors["monday"].control
    trello.config(enforce_rate_limits=False)
    for control in (trello, monday):
        control.set_clock(DAY1 + timedelta(days=1, hours=9))
    t, m = truth()
    lists = {item["id"]: item["name"] for item in t["lists"]}
    task = next(c for c in t["cards"] if lists[c["idList"]] == "En cours")
    entry = next(c for c in t["cards"] if lists[c["idList"]] == "Temps" and c["idBoard"] != task["idBoard"])
    trello.delete("cards", task["id"])
    trello.update("cards", entry["id"], {"customFields": {"Hours": -2}})
    trello.update("boards", entry["idBoard"], {"closed": True})
    item = next(i for i in m["items"] if i["state"] == "active" and i["column_values"].get("time_tracking"))
    monday.delete("items", item["id"])
    for stream in ("boards", "cards", "actions"):
        extract_day(raw_conn, sandbox, "trello", stream, 1)
    for stream in ("items", "time_tracking"):
        extract_day(raw_conn, sandbox, "monday", stream, 1)
    run_staging(raw_conn, MODELS)

    trello_truth, monday_truth = trello_expected(), monday_expected()
    gone_task, gone_item = f"trello:{task['id']}", f"monday:{item['id']}"
    sessions = {f"monday:{s['id']}" for s in item["column_values"]["time_tracking"]["sessions"]}
    assert gone_task in trello_truth["tasks"] and gone_item in monday_truth["tasks"]
    assert sessions and sessions <= monday_truth["time_entries"].keys()
    assert staged(raw_conn, "tasks", "trello").keys() == trello_truth["tasks"].keys() - {gone_task}
    assert staged(raw_conn, "tasks", "monday").keys() == monday_truth["tasks"].keys() - {gone_item}
    assert staged(raw_conn, "time_entries", "monday").keys() == monday_truth["time_entries"].keys() - sessions
    assert staged(raw_conn, "projects", "trello")[f"trello:{entry['idBoard']}"][0] == "archived"
    assert staged(raw_conn, "time_entries", "trello")[f"trello:{entry['id']}"][4] == Decimal("-2.00")


def latest_payload(conn: Any, source: str, stream: str, record_id: str) -> tuple[datetime, dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute("SELECT cursor_value, payload FROM raw.records WHERE source = %s AND stream = %s "
                    "AND record_id = %s ORDER BY cursor_value DESC LIMIT 1", (source, stream, record_id))
        return cur.fetchone()


def test_unreadable_and_negative_values_still_reach_staging(built: Any) -> None:
    """New raw versions with text in Trello 'Hours'/'Date worked' and a negative monday session."""
    card_id = min(staged(built, "time_entries", "trello")).split(":", 1)[1]
    session_id = min(staged(built, "time_entries", "monday")).split(":", 1)[1]
    card_at, card = latest_payload(built, "trello", "cards", card_id)
    for item in card["customFieldItems"]:
        for kind, garbage in (("number", "douze"), ("date", "bientôt")):
            if kind in item["value"]:
                item["value"][kind] = garbage
    session_at, session = latest_payload(built, "monday", "time_tracking", session_id)
    session["duration_seconds"] = -5400
    with built.cursor() as cur:
        for source, stream, record_id, at, payload in (("trello", "cards", card_id, card_at, card),
                                                       ("monday", "time_tracking", session_id, session_at, session)):
            cur.execute("INSERT INTO raw.records (load_id, source, stream, record_id, cursor_value, payload, run_id, "
                        "window_end) VALUES (nextval('audit.load_id_seq'), %s, %s, %s, %s, %s, 'test', now())",
                        (source, stream, record_id, at + timedelta(seconds=1), json.dumps(payload)))
    built.commit()
    run_staging(built, MODELS)
    trello_entry = staged(built, "time_entries", "trello")[f"trello:{card_id}"]
    assert trello_entry[3:5] == (None, None) and trello_entry[2].startswith("trello:")
    assert staged(built, "time_entries", "monday")[f"monday:{session_id}"][4] == Decimal("-1.50")


def test_rebuild_is_idempotent(built: Any) -> None:
    first = {(t, s): staged(built, t, s) for t in MODELS for s in ("trello", "monday")}
    run_staging(built, MODELS)
    assert {(t, s): staged(built, t, s) for t in MODELS for s in ("trello", "monday")} == first
