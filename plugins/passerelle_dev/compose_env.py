"""``make compose-env``: the ``.env`` docker-compose.yml reads, with its secrets generated and kept (0600).

Secrets (Fernet key, JWT secret, API secret key, database passwords) are generated the first time and
kept on later runs: a new Fernet key would make every stored Connection password and OAuth token
unreadable. The ``AIRFLOW_CONN_*`` variables point each source's Connection at the Compose ``sandbox``
service (its emulators' fixed ports, its CA in the shared state volume); those still on the sandbox are
rewritten every run, one edited to a real vendor is kept.
The file is git-ignored and never committed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from dotenv import dotenv_values

from passerelle.orchestration.airflow_env import sandbox_connections
from passerelle.paths import PROJECT_ROOT, write_private

SANDBOX_SERVICE = "sandbox"
SANDBOX_CA = "/opt/airflow/.passerelle/sandbox/ca.pem"  # the sandbox-state volume, as every container mounts it
COMPOSE_PORTS = {
    "salesforce": 8443, "hubspot": 8444, "trello": 8445, "asana": 8446, "jira": 8447, "monday": 8448,
    "pipedrive": 8449, "zoho_crm": 8450, "bigin": 8451, "folk": 8452, "dynamics": 8453, "planner": 8454,
    "quickbooks": 8455, "zoho_projects": 8456,
}


def _token() -> str:
    return secrets.token_urlsafe(32)


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRETS: dict[str, Callable[[], str]] = {
    "FERNET_KEY": _fernet_key,
    "AIRFLOW_JWT_SECRET": _token,
    "AIRFLOW_API_SECRET_KEY": _token,
    "AIRFLOW_DB_PASSWORD": _token,
    "WAREHOUSE_PASSWORD": _token,
}
# The demonstration platform of `make up` (passerelle_dev.examples); set yours in .env, it is kept.
DEFAULTS = {"PASSERELLE_PA_MATRICULE": "0042", "PASSERELLE_PA_NAME": "Plateforme de démonstration"}


def compose_connections() -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values for every source, pointed at the Compose sandbox service."""
    from passerelle_sandbox.server import VENDOR_FACTORIES, resolve_dataset

    data = resolve_dataset(None)
    vendors = {}
    with tempfile.TemporaryDirectory() as directory:
        for name, port in COMPOSE_PORTS.items():
            app = VENDOR_FACTORIES[name](data, Path(directory))
            app.base_url = f"https://{SANDBOX_SERVICE}:{port}"
            vendors[name] = SimpleNamespace(base_url=app.base_url, credentials=app.public_credentials())
        connections = sandbox_connections(vendors, SANDBOX_CA)
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(value) for conn_id, value in connections.items()}


def compose_env(path: Path, uid: int) -> dict[str, str]:
    """Write ``path``: kept secrets, settings and real Connections, new secrets generated, sandbox Connections rewritten."""
    kept = {key: value for key, value in dotenv_values(path).items() if value} if path.exists() else {}
    values = {"AIRFLOW_UID": str(uid), **DEFAULTS, **kept}
    for name, generate in SECRETS.items():
        values.setdefault(name, generate())
    for key, value in compose_connections().items():
        if f"https://{SANDBOX_SERVICE}:" in values.get(key, f"https://{SANDBOX_SERVICE}:"):
            values[key] = value  # a Connection to a real vendor, edited into .env, is kept
    for key, value in values.items():
        if "'" in value or "\n" in value:
            raise ValueError(f"{key} cannot be written to {path}: it holds a quote or a line break")
    lines = ["# Made by `make compose-env` for docker-compose.yml: secrets, never commit (git-ignored).",
             *(f"{key}='{value}'" for key, value in values.items())]
    write_private(path, ("\n".join(lines) + "\n").encode())
    return values


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m passerelle_dev.compose_env", description=__doc__.split("\n")[0])
    parser.add_argument("--path", type=Path, default=PROJECT_ROOT / ".env")
    args = parser.parse_args(argv)
    values = compose_env(args.path, os.getuid())
    print(f"{args.path}: {len(values)} variables ({len(SECRETS)} secrets kept or generated, owner-only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
