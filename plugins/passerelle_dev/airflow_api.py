"""The local Airflow's REST API as ``make up``, ``make backfill`` and the tests use it: health and DAGs.

Each wait says what it waits for, so a slow first start reads as progress rather than a hang.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import requests

T = TypeVar("T")
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
SCHEDULING = ("scheduler", "dag_processor", "triggerer")


def base_url() -> str:
    """The API server's address from ``AIRFLOW__API__HOST``/``PORT`` (the ``make up`` defaults otherwise)."""
    host = os.environ.get("AIRFLOW__API__HOST", "127.0.0.1")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{os.environ.get('AIRFLOW__API__PORT', '8080')}"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, say: Callable[[str], None] = print,
             interval: float = 1.0) -> T:
    """``probe()`` once it returns something other than None, saying every 10 s what is awaited."""
    started = time.monotonic()
    said = started
    say(f"waiting for {what}")
    while True:
        value = probe()
        if value is not None:
            say(f"{what}: ready after {time.monotonic() - started:.0f}s")
            return value
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s")
        if now - said >= 10:
            say(f"still waiting for {what} ({now - started:.0f}s)")
            said = now
        time.sleep(interval)


def health(url: str) -> dict[str, Any] | None:
    """``/api/v2/monitor/health`` as a dict, or None while the API server does not answer."""
    try:
        answer = requests.get(f"{url}/api/v2/monitor/health", timeout=5)
    except requests.RequestException:
        return None
    return answer.json() if answer.status_code == 200 else None


def healthy(url: str, components: Iterable[str] = ()) -> bool:
    """The metadata database and every named component (``scheduler``, ``dag_processor``...) report healthy."""
    report = health(url)
    return report is not None and all(
        (report.get(name) or {}).get("status") == "healthy" for name in ("metadatabase", *components))


def admin_password(home: Path) -> str | None:
    """The password the simple auth manager generated for ``admin`` in ``home``, once it exists."""
    path = home / PASSWORDS_FILE
    return json.loads(path.read_text()).get("admin") if path.exists() else None


class AirflowApi:
    """An authenticated session on the local API server (the simple auth manager's ``admin``)."""

    def __init__(self, url: str, password: str, username: str = "admin") -> None:
        self.url = url
        answer = requests.post(f"{url}/auth/token", json={"username": username, "password": password}, timeout=30)
        answer.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        answer = self.session.get(f"{self.url}/api/v2/{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def dags(self, **params: Any) -> list[dict[str, Any]]:
        """Every DAG the API lists (page after page)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.get("dags", limit=100, offset=len(found), **params)
            found += page["dags"]
            if not page["dags"] or len(found) >= page["total_entries"]:
                return found

    def unpause_all(self) -> list[str]:
        """Unpause every paused DAG; the ids unpaused."""
        paused = [dag["dag_id"] for dag in self.dags(paused=True)]
        for dag_id in paused:
            answer = self.session.patch(f"{self.url}/api/v2/dags/{dag_id}", json={"is_paused": False},
                                        params={"update_mask": "is_paused"}, timeout=30)
            answer.raise_for_status()
        return paused

    def create_backfill(self, dag_id: str, first: str, last: str, patience: float = 120,
                        say: Callable[[str], None] = print) -> dict[str, Any]:
        """A backfill of ``dag_id`` for the runs whose logical dates fall from ``first`` to ``last`` (ISO days),
        re-running completed ones too; the scheduler runs it.

        On a SQLite metadata database the API server refuses (503, or 500 from its audit log), or stops answering
        while it replaces a worker, as long as the scheduler holds the database's lock; the request is repeated,
        saying so, for up to ``patience`` seconds.
        """
        body = {"dag_id": dag_id, "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z",
                "reprocess_behavior": "completed", "max_active_runs": 1}

        def attempt() -> dict[str, Any] | None:
            try:
                answer = self.session.post(f"{self.url}/api/v2/backfills", json=body, timeout=60)
            except (requests.ConnectionError, requests.Timeout):
                return None  # the API server is restarting a worker that hung on the lock; a stored backfill is a 409
            if (answer.status_code, "locked" in answer.text) == (503, True) or (
                    answer.status_code == 500 and "Database error" in answer.text):
                return None  # SQLite busy; a request cut short after its backfill was stored ends in 409 below
            if answer.status_code == 409 and "already a running backfill" in answer.text:
                running = [backfill for backfill in self.get("backfills", dag_id=dag_id)["backfills"]
                           if backfill["completed_at"] is None]
                if running and (running[-1]["from_date"][:10], running[-1]["to_date"][:10]) == (first, last):
                    return running[-1]
            if answer.status_code >= 400:
                raise RuntimeError(f"the API server refused the backfill of {dag_id}: {answer.status_code} "
                                   f"{answer.text[:500]}")
            return answer.json()

        try:
            return wait_for(f"the metadata database to be free to create the backfill of {dag_id}", attempt,
                            patience, say=say, interval=3)
        except TimeoutError:
            raise RuntimeError(
                f"the backfill of {dag_id} could not be created: the scheduler kept the SQLite metadata database "
                "locked. Retry when it is idle, or stop make up and run make backfill again (the windows then run "
                "here), or give Airflow a Postgres metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)") from None
