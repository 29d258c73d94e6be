"""Connection extras: one typed model per source, checked at the start of every extract."""

from __future__ import annotations

import ast
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.options import (
    SOURCE_OPTIONS, ConnectionOptions, ConnectionOptionsError, options_for, validated,
)
from passerelle.connectors.registry import SOURCES, get_source
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.run import retry_settings

CONNECTORS = Path(__file__).resolve().parents[2] / "plugins" / "passerelle" / "connectors"


def bind(source: str, **extra: object) -> SourceConfig:
    spec = get_source(source)
    return validated(SourceConfig(host="https://vendor.example", password="pw-0123456789", extra=extra),
                     spec.options, spec.name, spec.conn_id)


def failure(source: str, **extra: object) -> str:
    with pytest.raises(ConnectionOptionsError) as error:
        bind(source, **extra)
    return str(error.value)


# ---------------------------------------------------------------------------- models

def test_every_registered_source_has_its_own_model() -> None:
    for name, spec in SOURCES.items():
        assert issubclass(spec.options, ConnectionOptions) and spec.options is not ConnectionOptions, name
        if name in SOURCE_OPTIONS:
            assert spec.options is SOURCE_OPTIONS[name]
    assert options_for("not-a-source") is ConnectionOptions


def test_model_defaults_are_the_connectors_defaults() -> None:
    from passerelle.connectors.paging import DEFAULT_MAX_RESPONSE_MB
    from passerelle.connectors.sources import asana, jira, monday, salesforce, trello

    common = ConnectionOptions()
    assert (common.retry_attempts, common.retry_initial_wait, common.retry_max_wait) == (
        RetrySettings().attempts, RetrySettings().initial_wait, RetrySettings().max_wait)
    assert common.max_response_mb == DEFAULT_MAX_RESPONSE_MB
    assert SOURCE_OPTIONS["salesforce"]().api_version == salesforce.DEFAULT_API_VERSION
    assert SOURCE_OPTIONS["monday"]().api_version == monday.DEFAULT_API_VERSION
    assert SOURCE_OPTIONS["monday"]().page_size == monday.ITEMS_PAGE
    assert SOURCE_OPTIONS["trello"]().page_size == trello.MAX_PAGE
    assert SOURCE_OPTIONS["jira"]().page_size == jira.ISSUE_PAGE
    assert SOURCE_OPTIONS["asana"]().time_entries_rescan_days == asana.RESCAN_DAYS
    assert SOURCE_OPTIONS["asana"]().time_entries_since == date.fromisoformat(asana.FIRST_DAY)


def test_bound_options_are_typed_and_unset_ones_give_the_callers_default() -> None:
    config = bind("jira", page_size="50", retry_attempts="3", retry_max_wait=2, lookback_minutes=None)
    assert config.option("page_size", 100) == 50 and isinstance(config.option("page_size"), int)
    assert config.option("users_page_size", 1000) == 1000  # not set: the caller's default
    assert config.option("lookback_minutes") is None  # null counts as unset
    assert retry_settings(get_source("jira"), config) == RetrySettings(attempts=3, max_wait=2.0)
    assert bind("trello", board_ids="b1, b2").option("board_ids") == ("b1", "b2")  # URI connections carry text
    assert bind("trello", board_ids=[123, "b2"]).option("board_ids") == ("123", "b2")
    assert bind("asana", workspace_gid=1200000000000001).option("workspace_gid") == "1200000000000001"
    assert bind("asana", time_entries_since="2025-01-15").option("time_entries_since") == date(2025, 1, 15)
    assert bind("hubspot", refresh_token="rt-abcdef").option("refresh_token") == "rt-abcdef"  # unwrapped secret
    with pytest.raises(KeyError, match="not an option of JiraOptions"):
        config.option("no_such_option")


def test_an_unbound_config_reads_the_raw_extras() -> None:
    config = SourceConfig(host="https://vendor.example", extra={"page_size": "7"})
    assert config.option("page_size") == "7" and config.option("missing", 3) == 3


# ---------------------------------------------------------------------------- one-line errors

def test_mistyped_value_names_source_connection_option_value_and_type() -> None:
    message = failure("jira", page_size="fifty")
    assert message == (
        "jira (Airflow Connection 'passerelle_jira'): extra page_size='fifty': expected an integer at least 1 "
        "— check the Connection's extras (`python -m passerelle.settings --markdown` lists those accepted)")
    assert "\n" not in message


@pytest.mark.parametrize("source, extra, expected", [
    ("salesforce", {"batch_size": 50}, "extra batch_size=50: expected an integer from 200 to 2000"),
    ("salesforce", {"auth_flow": "password"}, "extra auth_flow='password': expected one of refresh_token, jwt_bearer"),
    ("salesforce", {"api_version": "v62"}, "extra api_version='v62': expected a Salesforce API version such as 62.0"),
    ("monday", {"page_size": 501}, "extra page_size=501: expected an integer from 1 to 500"),
    ("jira", {"census_max_missing_ratio": 1.5}, "extra census_max_missing_ratio=1.5: expected a number from 0 to 1"),
    ("hubspot", {"timeout": "1m"}, "extra timeout='1m': expected a number above 0"),
    ("asana", {"time_entries_since": "15/01/2025"}, "extra time_entries_since='15/01/2025': expected a date (YYYY-MM-DD)"),
    ("trello", {"retry_attempts": 0}, "extra retry_attempts=0: expected an integer at least 1"),
    ("hubspot", {"ca_bundle": "/nonexistent/ca.pem"},
     "extra ca_bundle='/nonexistent/ca.pem': expected an existing CA bundle file or directory on the workers"),
])
def test_each_kind_of_bad_value_gives_one_line(source: str, extra: dict, expected: str) -> None:
    message = failure(source, **extra)
    assert f"{source} (Airflow Connection 'passerelle_{source}'): {expected} — check" in message
    assert "\n" not in message and "pydantic" not in message


def test_unknown_extra_is_refused_with_a_suggestion_and_the_accepted_names() -> None:
    message = failure("monday", pagesize=7)
    assert "extra pagesize=7: unknown name (did you mean page_size?); accepted: ca_bundle," in message
    assert "page_size —" in message  # the list ends with the source's own options


def test_secret_values_are_masked_in_the_error() -> None:
    message = failure("hubspot", refresh_token=["rt-secret-value"], app_secret="s3cr3t-value", timeout="x")
    assert "rt-secret-value" not in message and "s3cr3t-value" not in message
    assert "extra refresh_token='***': expected a string" in message
    assert "extra app_secret='***': unknown name" in message
    assert message.index("refresh_token") < message.index("timeout")  # every problem at once, in model order


# ---------------------------------------------------------------------------- no untyped option creeps back

def option_names(source: str) -> set[str]:
    """Every literal name passed to ``.option(...)`` in ``source`` (Python code)."""
    return {node.args[0].value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "option"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)}


def test_the_collector_sees_option_calls() -> None:
    assert option_names('x = config.option("page_size", 5)\ny = s.option("other")\nz = option("no")') == {
        "page_size", "other"}


def test_every_option_read_in_the_connectors_is_declared() -> None:
    undeclared: list[str] = []
    read: set[str] = set()
    every_declared = {name for spec in SOURCES.values() for name in spec.options.model_fields}
    for path in sorted(CONNECTORS.rglob("*.py")):
        names = option_names(path.read_text(encoding="utf-8"))
        read |= names
        is_source = path.parent.name == "sources" and path.stem in SOURCES
        declared = set(SOURCES[path.stem].options.model_fields) if is_source else every_declared
        undeclared += [f"{path.relative_to(CONNECTORS)}: {name}" for name in sorted(names - declared)]
    assert undeclared == [], "declare these in passerelle/connectors/options.py"
    assert {"page_size", "timeout", "refresh_token", "max_response_mb", "lookback_minutes"} <= read


# ---------------------------------------------------------------------------- a real extract DAG run

@pytest.mark.dag
def test_extract_dag_run_with_a_bad_extra_fails_with_the_line_in_the_task_log(
        dagbag, sandbox, warehouse_url, warehouse_conn, airflow_connections, fast_retries, capfd, caplog) -> None:
    from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
    from passerelle.orchestration.runner import run_interval
    from tests.connectors.helpers import audit_counts

    conns = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    conns["passerelle_hubspot"]["extra"].update({"timeout": "soon", "refresh_token": {"value": "rt-never-shown"}})
    airflow_connections({"passerelle_hubspot": conns["passerelle_hubspot"],
                         "passerelle_warehouse": warehouse_connection(warehouse_url)})
    dag = fast_retries(dagbag.dags["extract_hubspot"].partial_subset(task_ids=["extract_owners"]))
    end = datetime(2026, 3, 2, tzinfo=timezone.utc)
    sandbox.vendors["hubspot"].control.set_clock(end + timedelta(minutes=30))
    run = run_interval(dag, end)
    assert run.state == "failed"
    out, err = capfd.readouterr()
    log = out + err + caplog.text
    line = ("hubspot (Airflow Connection 'passerelle_hubspot'): extra refresh_token='***': expected a string; "
            "extra timeout='soon': expected a number above 0 — check the Connection's extras")
    assert line in log and "rt-never-shown" not in log
    assert "ConnectionOptionsError" in log
    api_calls = [p for p in sandbox.vendors["hubspot"].control.stats()["by_path"] if not p.startswith("/__sandbox")]
    assert api_calls == []  # refused before any request to the vendor
    assert audit_counts(warehouse_conn) == (0, 0)
