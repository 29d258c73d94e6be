"""The local Airflow (demo, ``make up``): a Fernet key of its own, kept owner-only and reused; ``make up``
starting its components in order, on Paris time, with every DAG active and no failed first run."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests
from cryptography.fernet import Fernet

from passerelle.orchestration.airflow_env import FERNET_KEY_FILE, configure_airflow, local_fernet_key
from passerelle.paths import PROJECT_ROOT
from passerelle_dev.airflow_api import SCHEDULING, AirflowApi, admin_password, healthy, wait_for
from passerelle_dev.stop import stop_dev_server


def test_the_key_is_generated_once_owner_only_and_reused(tmp_path: Path) -> None:
    key = local_fernet_key(tmp_path)
    Fernet(key.encode())  # a usable key
    assert stat.S_IMODE((tmp_path / FERNET_KEY_FILE).stat().st_mode) == 0o600
    assert local_fernet_key(tmp_path) == key


def test_a_key_set_by_the_deployment_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mine = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", mine)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    configure_airflow()
    assert os.environ["AIRFLOW__CORE__FERNET_KEY"] == mine
    assert not (tmp_path / FERNET_KEY_FILE).exists()


def test_without_one_the_local_key_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__CORE__FERNET_KEY", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    configure_airflow()
    assert os.environ["AIRFLOW__CORE__FERNET_KEY"] == (tmp_path / FERNET_KEY_FILE).read_text().strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def devserver_environment(tmp_path: Path, warehouse_url: str, port: int) -> dict[str, str]:
    """``make up``'s environment in a temporary home and state folder, on the test's warehouse."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "WAREHOUSE_URL", "TEST_WAREHOUSE_URL", "PASSERELLE_"))}
    env.update({"AIRFLOW_HOME": str(tmp_path / "airflow"), "PASSERELLE_STATE_DIR": str(tmp_path / "state"),
                "PASSERELLE_OUTPUT_DIR": str(tmp_path / "output"), "WAREHOUSE_URL": warehouse_url,
                "AIRFLOW__API__PORT": str(port), "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"})
    return env


def browser_local_storage(url: str, key: str, profile: Path, timeout: float = 60) -> str | None:
    """``localStorage[key]`` once headless Chromium has loaded ``url`` (through its DevTools protocol)."""
    from websockets.sync.client import connect

    port = free_port()
    chrome = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               f"--remote-debugging-port={port}", f"--user-data-dir={profile}", url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def page() -> str | None:
        try:
            targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
        except requests.RequestException:
            return None
        return next((t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"), None)

    try:
        with connect(wait_for("headless Chromium", page, timeout), max_size=None) as devtools:
            def loaded() -> list | None:
                devtools.send(json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {
                    "expression": f"[document.readyState, localStorage.getItem({json.dumps(key)})]",
                    "returnByValue": True}}))
                answer = json.loads(devtools.recv())
                while answer.get("id") != 1:  # events come in between
                    answer = json.loads(devtools.recv())
                # while the page is still loading (about:blank, a navigation) the evaluation may throw: not yet
                state = answer.get("result", {}).get("result", {}).get("value")
                return state if isinstance(state, list) and state[0] == "complete" else None

            return wait_for(f"{url} in headless Chromium", loaded, timeout, interval=0.5)[1]
    finally:
        chrome.terminate()
        chrome.wait(30)


def task_instances(api: AirflowApi, **params: object) -> list[dict]:
    return api.get("dags/~/dagRuns/~/taskInstances", limit=1000, **params)["task_instances"]


@pytest.mark.dag
@pytest.mark.timeout(240)
def test_make_up_starts_in_order_and_its_first_runs_do_not_fail(tmp_path: Path, warehouse_url: str) -> None:
    """The dev server as ``make up`` runs it: healthy, Paris time, every DAG active, and the first scheduled
    runs' tasks start on the first try (none queued before the API server that runs them was up)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = (tmp_path / "devserver.log").open("w")
    env = devserver_environment(tmp_path, warehouse_url, port)
    server = subprocess.Popen([sys.executable, "-m", "passerelle_dev.devserver"], cwd=tmp_path, stdout=out,
                              stderr=subprocess.STDOUT, env=env)
    try:
        wait_for("the dev server's banner", lambda: "Airflow UI:" in (tmp_path / "devserver.log").read_text() or None,
                 timeout=150, interval=0.5)
        printed = (tmp_path / "devserver.log").read_text()
        assert printed.index("warehouse: ready") < printed.index("sandbox:") < printed.index("api-server: started")
        assert printed.index("the API server") < printed.index("scheduler: started")
        assert healthy(url, SCHEDULING)
        api = AirflowApi(url, admin_password(tmp_path / "airflow"))

        components = {p.cmdline()[-1]: p for p in psutil.Process(server.pid).children()}
        assert set(components) >= {"dag-processor", "scheduler", "triggerer"}  # the API server retitles itself
        assert {name: components[name].environ()["AIRFLOW__CORE__DEFAULT_TIMEZONE"]
                for name in ("dag-processor", "scheduler", "triggerer")} == dict.fromkeys(
            ("dag-processor", "scheduler", "triggerer"), "Europe/Paris")

        page = requests.get(f"{url}/dags", timeout=30, headers={"Accept": "text/html", "Accept-Encoding": "gzip"})
        assert page.status_code == 200 and page.text.count('localStorage.setItem("timezone","\\"Europe/Paris\\"")') == 1
        assert browser_local_storage(f"{url}/", "timezone", tmp_path / "chromium") == '"Europe/Paris"'

        dags = wait_for("the invoicing DAG", lambda: (lambda d: d if any(x["dag_id"] == "invoicing" for x in d)
                                                      else None)(api.dags()), timeout=60)
        assert [dag["dag_id"] for dag in dags if dag["is_paused"]] == []

        def check_seller_done() -> dict | None:
            try:
                instances = task_instances(api, task_id="check_seller")
            except requests.Timeout:  # the first runs of every DAG keep SQLite busy: ask again, within the wait
                return None
            found = [ti for ti in instances if ti["dag_id"] == "invoicing"]
            return found[0] if found and found[0]["state"] in ("success", "failed") else None

        check_seller = wait_for("invoicing's first check_seller", check_seller_done, timeout=90)
        assert (check_seller["state"], check_seller["try_number"]) == ("success", 1)
        assert [(ti["dag_id"], ti["task_id"]) for ti in task_instances(api, state=["failed", "up_for_retry"])] == []

        # make backfill hands the windows to this scheduler
        backfill = subprocess.run([sys.executable, "-m", "passerelle_dev.backfill", "folk", "2026-03-01", "2026-03-02"],
                                  env=env, capture_output=True, text=True, timeout=120)
        assert backfill.returncode == 0, backfill.stderr[-2000:]
        assert f"the scheduler at {url} runs the backfill of extract_folk (backfill " in backfill.stdout
        [created] = api.get("backfills", dag_id="extract_folk")["backfills"]
        assert (created["from_date"][:10], created["to_date"][:10]) == ("2026-03-01", "2026-03-02")
    finally:
        root = psutil.Process(server.pid)
        processes = [root, *root.children(recursive=True)] if server.poll() is None else []
        assert stop_dev_server(tmp_path / "airflow")  # as make clean does
        server.wait(timeout=10)
        out.close()
    assert not (tmp_path / "airflow" / "devserver.pid").exists()
    assert [p.pid for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


PROBE_DAG = """
from datetime import datetime, timezone
from airflow.sdk import DAG, task
with DAG("demo_probe", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
    task(lambda: 1, task_id="probe")()
"""
DEMO_RUN = """
import os
from datetime import datetime, timezone
from passerelle.orchestration.airflow_env import configure_demo_airflow
configure_demo_airflow()
from airflow.models import DagBag
from airflow.utils import db
db.initdb()
from passerelle.orchestration.runner import run_interval
dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["demo_probe"]
print(run_interval(dag, datetime(2026, 3, 4, tzinfo=timezone.utc)).state)
"""


@pytest.mark.dag
def test_demo_runs_stay_out_of_the_ui_database_and_keep_its_key(tmp_path: Path) -> None:
    """A run of the demo for a past date (``run_interval``, ``dag.test()``) lands in ``<state>/demo-airflow``, not in the home
    ``make up`` serves, with its true duration; the Fernet key is the UI home's."""
    ui_home, state = tmp_path / "airflow", tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PASSERELLE_"))}
    env.update({"AIRFLOW_HOME": str(ui_home), "PASSERELLE_STATE_DIR": str(state),
                "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
                "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"})
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "probe.py").write_text(PROBE_DAG)
    (state / "demo-airflow").mkdir(parents=True)
    (state / "demo-airflow" / "stale.txt").write_text("from an earlier demo")
    for _ in range(2):  # the second run starts from a fresh home again
        done = subprocess.run([sys.executable, "-c", DEMO_RUN], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and done.stdout.strip().endswith("success"), done.stderr[-3000:]
    assert not (ui_home / "airflow.db").exists()
    assert not (state / "demo-airflow" / "stale.txt").exists()
    with sqlite3.connect(state / "demo-airflow" / "airflow.db") as db:
        runs = db.execute("SELECT dag_id, logical_date, julianday(end_date) - julianday(start_date)"
                          " FROM dag_run").fetchall()
    assert [(dag_id, logical[:10]) for dag_id, logical, _ in runs] == [("demo_probe", "2026-03-04")]
    assert 0 <= runs[0][2] * 86400 < 300  # seconds, not months
    assert (ui_home / FERNET_KEY_FILE).read_text().strip() == local_fernet_key(ui_home)


def test_make_up_on_a_port_in_use_says_so_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = devserver_environment(tmp_path, "postgresql://nobody@127.0.0.1:1/none", port)
        done = subprocess.run([sys.executable, "-m", "passerelle_dev.devserver"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"http://127.0.0.1:{port} is already in use (another make up?)" in done.stderr
    assert not (tmp_path / "airflow" / "devserver.pid").exists() and not (tmp_path / "state").exists()


def test_the_ui_page_gets_the_default_zone_only_when_it_is_not_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    from passerelle.orchestration.ui_timezone import inject

    page = b"<html><head><title>Airflow</title></head><body></body></html>"
    monkeypatch.setenv("AIRFLOW__CORE__DEFAULT_TIMEZONE", "utc")
    assert inject(page) == page
    monkeypatch.setenv("AIRFLOW__CORE__DEFAULT_TIMEZONE", "Europe/Paris")
    assert inject(page) == (b'<html><head><title>Airflow</title><script>try{if(!localStorage.getItem("timezone"))'
                            b'localStorage.setItem("timezone","\\"Europe/Paris\\"")}catch(e){}</script></head>'
                            b"<body></body></html>")
