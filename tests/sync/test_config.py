"""The sync file is checked whole before anything is planned: one error naming the file and the entry."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from passerelle.paths import PROJECT_ROOT
from passerelle.sync.config import SyncConfigError, load_sync_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sync.toml"
    path.write_text(text)
    return path


def test_the_example_file_is_valid_and_plans_only() -> None:
    config = load_sync_config(PROJECT_ROOT / "include" / "sync" / "sync.example.toml").deal_to_project
    assert config is not None and config.mode == "plan" and config.won_after == date(2026, 1, 1)
    assert [(r.crm, r.pm) for r in config.routes] == [("hubspot", "trello"), ("salesforce", "trello")]


def test_no_file_syncs_nothing() -> None:
    assert load_sync_config(None).deal_to_project is None


@pytest.mark.parametrize(("text", "message"), [
    ("[deal_to_project]\nwon_after = 2026-01-01\nmode = \"yolo\"\n", "deal_to_project.mode: Input should be 'plan' or 'apply'"),
    ("[deal_to_project]\nmode = \"plan\"\n", "deal_to_project.won_after: Field required"),
    ("[deal_to_project]\nwon_after = 2026-01-01\n[[deal_to_project.routes]]\ncrm = \"hubspot\"\npm = \"excel\"\n",
     "deal_to_project.routes.0.pm: Input should be 'trello'"),
    ("[deal_to_project]\nwon_after = 2026-01-01\ncolour = \"red\"\n", "deal_to_project.colour: Extra inputs are not permitted"),
    ("[deal_to_project]\nwon_after = 2026-01-01\n" + "[[deal_to_project.routes]]\ncrm = \"hubspot\"\npm = \"trello\"\n" * 2,
     "routes 1 and 2 both take hubspot deals of every customer"),
    ("[deal_to_project\n", "not TOML"),
    ("[deal_to_project]\nwon_after = 2026-01-01\n[[deal_to_project.routes]]\ncrm = \"hubspot\"\npm = \"trello\"\n"
     "duration_days = 0\n", "deal_to_project.routes.0.duration_days: Input should be greater than or equal to 1"),
])
def test_a_bad_file_is_one_error_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SyncConfigError) as caught:
        load_sync_config(path)
    assert str(caught.value).startswith(f"sync file {path}: ") and message in str(caught.value)


def test_a_route_naming_customers_wins_over_the_catch_all(tmp_path: Path) -> None:
    config = load_sync_config(write(tmp_path, "[deal_to_project]\nwon_after = 2026-01-01\n"
                                    "[[deal_to_project.routes]]\ncrm = \"hubspot\"\npm = \"trello\"\n"
                                    "[[deal_to_project.routes]]\ncrm = \"hubspot\"\npm = \"trello\"\n"
                                    "template = \"t1\"\ncustomers = [\"hubspot:42\"]\n")).deal_to_project
    assert config is not None
    assert config.route_for("hubspot", "hubspot:42").template == "t1"
    assert config.route_for("hubspot", "hubspot:7").template is None
    assert config.route_for("salesforce", "salesforce:1") is None
