"""Trello extract-load against the emulator over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from passerelle.connectors.config import SourceConfig
from passerelle.errors import AuthError, BadRecordError
from passerelle.load.raw_loader import LoadStats
from passerelle_sandbox.server import Sandbox
from tests.connectors.helpers import DAY1, audit_counts, raw_count, raw_versions, source_config
from tests.connectors.helpers import extract_day as extract_day_for
from tests.fixtures.sandbox import single_vendor_sandbox


trello_sandbox = single_vendor_sandbox("trello", "trello_sandbox")


@pytest.fixture
def sandbox(trello_sandbox: Sandbox) -> Sandbox:
    control = trello_sandbox.vendors["trello"].control
    control.reset()
    control.config(enforce_rate_limits=False)
    return trello_sandbox


def config(sandbox: Sandbox, **extra: Any) -> SourceConfig:
    return source_config(sandbox, "trello", **extra)


def extract(conn: Any, sandbox: Sandbox, stream: str, day: int = 0, **extra: Any) -> LoadStats:
    return extract_day_for(conn, sandbox, "trello", stream, day, **extra)


def control(sandbox: Sandbox):
    return sandbox.vendors["trello"].control


def at(sandbox: Sandbox, moment: datetime) -> None:
    control(sandbox).set_clock(moment)


def test_first_window_loads_every_card_and_dataset_deletions(sandbox, warehouse_conn) -> None:
    stats = extract(warehouse_conn, sandbox, "cards")
    live = control(sandbox).records("cards")
    deletions = [a for a in control(sandbox).records("actions") if a["type"] == "deleteCard"]
    assert deletions and stats.deleted == len(deletions)
    assert stats.inserted == len(live) and raw_count(warehouse_conn, "trello", "cards") == len(live) + len(deletions)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE stream = 'cards' AND payload->>'name' LIKE '%%· % h'")
        entries = [row[0] for row in cur.fetchall()]
    warehouse_conn.rollback()
    assert entries and all(len(e["customFieldItems"]) >= 3 and e["idMembers"] for e in entries)


def test_later_window_picks_exactly_its_updates_and_deletions(sandbox, warehouse_conn) -> None:
    extract(warehouse_conn, sandbox, "cards", day=0)
    extract(warehouse_conn, sandbox, "actions", day=0)
    cards = sorted(control(sandbox).records("cards"), key=lambda c: c["id"])
    board = cards[0]["idBoard"]
    at(sandbox, DAY1 + timedelta(days=1, hours=9))
    control(sandbox).update("cards", cards[0]["id"], {"idList": "Terminé", "dueComplete": True})
    control(sandbox).update("cards", cards[1]["id"], {"customFields": {"Hours": 4}})
    control(sandbox).update("cards", cards[2]["id"], {"closed": True})
    control(sandbox).delete("cards", cards[3]["id"])
    created = control(sandbox).create("cards", {"idBoard": board, "list": "Temps", "name": "Nouvelle saisie",
                                                "customFields": {"Hours": 1.5, "Billable": False}})
    stats = extract(warehouse_conn, sandbox, "cards", day=1)
    assert (stats.inserted, stats.updated, stats.deleted, stats.unchanged) == (1, 3, 1, 0)
    versions = raw_versions(warehouse_conn, "trello", "cards")
    assert [v[2] for v in versions if v[0] == cards[3]["id"]] == [False, True]
    assert created["id"] in {v[0] for v in versions}
    actions = extract(warehouse_conn, sandbox, "actions", day=1)
    assert actions.inserted == 7  # 2 updateCard, updateCustomFieldItem, deleteCard, createCard + its 2 fields
    rerun = extract(warehouse_conn, sandbox, "cards", day=1)
    assert (rerun.inserted, rerun.updated, rerun.deleted, rerun.unchanged) == (0, 0, 0, 5)
    assert extract(warehouse_conn, sandbox, "cards", day=2).records == 0


def test_window_over_1000_actions_is_paged_without_loss_or_duplicates(sandbox, warehouse_conn) -> None:
    extract(warehouse_conn, sandbox, "actions", day=0)
    extract(warehouse_conn, sandbox, "cards", day=0)
    at(sandbox, DAY1 + timedelta(days=1, hours=3))
    bulk = control(sandbox).bulk("cards", create=2300, touch=10)  # every action in the same second
    board = control(sandbox).record("cards", bulk["created_ids"][0])["idBoard"]
    control(sandbox).clear_stats()
    actions = extract(warehouse_conn, sandbox, "actions", day=1)
    assert (actions.inserted, actions.unchanged) == (2310, 0)
    assert control(sandbox).stats()["by_path"][f"/1/boards/{board}/actions"] == 3  # 1000 + 1000 + 310
    cards = extract(warehouse_conn, sandbox, "cards", day=1)
    assert (cards.inserted, cards.updated) == (2300, 10)
    ids = {v[0] for v in raw_versions(warehouse_conn, "trello", "cards")}
    assert set(bulk["created_ids"]) <= ids


def test_small_pages_read_the_same_history(sandbox, warehouse_conn) -> None:
    stats = extract(warehouse_conn, sandbox, "actions", page_size=37)
    assert stats.inserted == len(control(sandbox).records("actions")) == raw_count(warehouse_conn, "trello", "actions")


def test_throttling_storm_and_server_errors_are_survived(sandbox, warehouse_conn) -> None:
    control(sandbox).add_fault("rate_limit", times=5)
    control(sandbox).add_fault("error", status=502, times=2, after=8)
    stats = extract(warehouse_conn, sandbox, "lists")
    assert stats.inserted == len(control(sandbox).records("lists"))
    by_status = control(sandbox).stats()["by_status"]
    assert by_status.get("429", 0) == 5 and by_status.get("502", 0) == 2


def test_real_rate_limiter_is_survived(sandbox, warehouse_conn) -> None:
    boards = [b["id"] for b in control(sandbox).records("boards")[:4]]
    control(sandbox).config(enforce_rate_limits=True, token_limit=4, interval_ms=300)
    stats = extract(warehouse_conn, sandbox, "custom_fields", board_ids=boards)
    assert stats.inserted == len([f for f in control(sandbox).records("customFields") if f["idModel"] in boards]) > 0
    assert control(sandbox).stats()["by_status"].get("429", 0) > 0


def test_objects_without_dates_are_stamped_by_their_actions(sandbox, warehouse_conn) -> None:
    boards = control(sandbox).records("boards")
    expected = {"lists": len(control(sandbox).records("lists")), "checklists": len(control(sandbox).records("checklists")),
                "members": len({m for b in boards for m in b["idMembers"]}), "boards": len(boards)}
    for stream, count in expected.items():
        stats = extract(warehouse_conn, sandbox, stream)
        assert (stream, stats.inserted, stats.records) == (stream, count, count)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.records WHERE stream = 'lists' AND payload->>'passerelleChangedAt' IS NULL")
        assert cur.fetchone()[0] == 0
    warehouse_conn.rollback()
    lst = control(sandbox).records("lists")[0]
    at(sandbox, DAY1 + timedelta(days=1, hours=10))
    control(sandbox).update("lists", lst["id"], {"name": "À faire (priorisé)"})
    stats = extract(warehouse_conn, sandbox, "lists", day=1)
    assert (stats.inserted, stats.updated, stats.unchanged) == (0, 1, 0)
    boards = extract(warehouse_conn, sandbox, "boards", day=1)
    assert (boards.updated, boards.records) == (1, 1)


def test_record_without_id_is_named_and_nothing_loads(sandbox, warehouse_conn) -> None:
    control(sandbox).add_fault("missing_id", path="/actions")
    with pytest.raises(BadRecordError, match=r"trello \(Airflow Connection 'passerelle_trello'\): actions: record #0 at /1/boards/\w+/actions.*missing primary key field 'id'"):
        extract(warehouse_conn, sandbox, "actions")
    assert raw_count(warehouse_conn, "trello", "actions") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_malformed_json_is_named_and_nothing_loads(sandbox, warehouse_conn) -> None:
    control(sandbox).add_fault("malformed_json", path="/cards", after=2)
    with pytest.raises(BadRecordError, match=r"trello \(Airflow Connection 'passerelle_trello'\): cards: record \(response of GET /1/boards/\w+/cards/all\): malformed JSON"):
        extract(warehouse_conn, sandbox, "cards")
    assert raw_count(warehouse_conn, "trello", "cards") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_refused_token_fails_fast(sandbox, warehouse_conn) -> None:
    control(sandbox).add_fault("expire_tokens")
    with pytest.raises(AuthError, match="refused"):
        extract(warehouse_conn, sandbox, "boards")
    assert control(sandbox).stats()["total"] <= 2
    assert audit_counts(warehouse_conn) == (0, 0)
