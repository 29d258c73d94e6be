"""The environment Airflow runs in locally (demo, ``make up``, tests): home, DAGs, connections.

Airflow reads its configuration when first imported: call :func:`configure_airflow` before that.
Connections are passed as ``AIRFLOW_CONN_*`` JSON environment variables, never written to files.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from passerelle.paths import PROJECT_ROOT, state_dir, write_private

FERNET_KEY_FILE = "fernet.key"


def local_airflow_home(default: Path | None = None) -> Path:
    """``AIRFLOW_HOME``, else ``default``, else the project's ``.airflow/``: the home of ``make up``'s Airflow."""
    return Path(os.environ.get("AIRFLOW_HOME") or default or PROJECT_ROOT / ".airflow")


def configure_airflow(home: Path | None = None) -> Path:
    home = local_airflow_home(home)
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if not os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
        os.environ["AIRFLOW__CORE__FERNET_KEY"] = local_fernet_key(home)
    return home


def configure_demo_airflow() -> Path:
    """The demo's own Airflow: a fresh home and SQLite metadata database in ``<state>/demo-airflow``.

    ``make demo`` runs DAGs with ``dag.test()`` for past data intervals; kept out of the metadata database of
    ``make up`` (``AIRFLOW_HOME``), they never show in its UI as runs started months before they ended. The
    Fernet key stays that of ``AIRFLOW_HOME``, since the refresh tokens it encrypts live in the shared warehouse.
    """
    ui_home = local_airflow_home()
    if not os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
        ui_home.mkdir(parents=True, exist_ok=True)
        os.environ["AIRFLOW__CORE__FERNET_KEY"] = local_fernet_key(ui_home)
    home = state_dir() / "demo-airflow"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    return configure_airflow()


def local_fernet_key(home: Path) -> str:
    """The Fernet key of this local Airflow, generated at first use into ``<home>/fernet.key`` (0600).

    Airflow encrypts Connection passwords and Variables with it, and the token store the rotating OAuth
    refresh tokens (:mod:`passerelle.connectors.token_store`): it must stay the same from run to run, so it
    is kept, not regenerated. A deployment sets ``AIRFLOW__CORE__FERNET_KEY`` (or ``PASSERELLE_TOKEN_KEY``)
    itself and this file is never made.
    """
    from cryptography.fernet import Fernet

    return local_secret(home / FERNET_KEY_FILE, lambda: Fernet.generate_key().decode())


def local_secret(path: Path, generate: Callable[[], str]) -> str:
    """The secret kept in ``path`` (owner-only), made by ``generate`` the first time and reused after."""
    if path.exists():
        return path.read_text().strip()
    secret = generate()
    write_private(path, secret.encode())
    return secret


def warehouse_connection(url: str) -> dict[str, Any]:
    """Airflow's ``passerelle_warehouse`` for ``url`` (login and password percent-decoded).

    The URL's query parameters (``sslmode``, ``options``...) become the Connection's extras, which
    :func:`passerelle.warehouse.settings.airflow_connection_url` hands back to libpq; a Unix-socket
    ``host`` parameter becomes the Connection's host.
    """
    from passerelle.warehouse.settings import parse

    parts = parse(url)
    extra = {key: value if isinstance(value, str) else value[-1] for key, value in parts.query.items()}
    socket_dir = extra.pop("host", None)
    connection: dict[str, Any] = {
        "conn_type": "postgres",
        "host": socket_dir or parts.host or "127.0.0.1",
        "port": parts.port or 5432,
        "login": parts.username or "postgres",
        "password": parts.password or "",
        "schema": parts.database or "passerelle",
    }
    if extra:
        connection["extra"] = extra
    return connection


def sandbox_connections(vendors: dict[str, Any], ca_path: str | Path) -> dict[str, dict[str, Any]]:
    """Airflow connections pointing the real connectors at the sandbox (only hosts and secrets differ)."""
    builders = {
        "salesforce": lambda url, c: {
            "host": c.get("login_url", url), "login": c["client_id"], "password": c["client_secret"],
            "extra": {"refresh_token": c["refresh_token"]},
        },
        "hubspot": lambda url, c: {"host": url, "password": c["private_app_token"]},
        "trello": lambda url, c: {"host": url, "login": c["key"], "password": c["token"]},
        "asana": lambda url, c: {"host": url, "password": c["personal_access_token"]},
        "jira": lambda url, c: {"host": url, "login": c["email"], "password": c["api_token"]},
        "monday": lambda url, c: {"host": url, "password": c["api_token"]},
        "pipedrive": lambda url, c: {"host": url, "password": c["api_token"], "extra": {"token_url": f"{url}/oauth/token"}},
        "zoho_crm": lambda url, c: {"host": c["accounts_url"], "login": c["client_id"], "password": c["client_secret"],
                                    "extra": {"refresh_token": c["refresh_token"]}},
        "bigin": lambda url, c: {"host": c["accounts_url"], "login": c["client_id"], "password": c["client_secret"],
                                 "extra": {"refresh_token": c["refresh_token"]}},
        "zoho_projects": lambda url, c: {"host": c["accounts_url"], "login": c["client_id"],
                                         "password": c["client_secret"],
                                         "extra": {"refresh_token": c["refresh_token"], "portal_id": c["portal_id"]}},
        "folk": lambda url, c: {"host": url, "password": c["api_key"]},
        "dynamics": lambda url, c: {"host": url, "login": c["client_id"], "password": c["client_secret"],
                                    "extra": {"tenant_id": c["tenant_id"], "authority_host": url}},
        "planner": lambda url, c: {"host": url, "login": c["client_id"], "password": c["client_secret"],
                                   "extra": {"tenant_id": c["tenant_id"], "authority_host": url}},
        "quickbooks": lambda url, c: {"host": url, "login": c["client_id"], "password": c["client_secret"],
                                      "extra": {"realm_id": c["realm_id"], "refresh_token": c["refresh_token"],
                                                "token_url": f"{url}/oauth2/v1/tokens/bearer"}},
    }
    connections = {}
    for name, vendor in vendors.items():
        if name in builders:
            conn = {"conn_type": "http", "extra": {}, **builders[name](vendor.base_url, vendor.credentials)}
            conn["extra"]["ca_bundle"] = str(ca_path)
            connections[f"passerelle_{name}"] = conn
    if "passerelle_dynamics" in connections:  # Project for the web: the same Dataverse org
        connections["passerelle_project_for_the_web"] = json.loads(json.dumps(connections["passerelle_dynamics"]))
    return connections


def export_connections(connections: dict[str, dict[str, Any]]) -> None:
    for conn_id, value in connections.items():
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(value)
