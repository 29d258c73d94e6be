"""Shared fixtures: a real Postgres warehouse, the vendor sandbox on loopback, and Airflow.

Airflow reads its configuration when first imported, so its environment is set here, before any
test module imports it: a throw-away AIRFLOW_HOME with a SQLite metadata database.
"""

import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet

_ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="passerelle-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(_ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),  # also encrypts rotated refresh tokens
    }
)

pytest_plugins = [
    "tests.fixtures.warehouse",
    "tests.fixtures.sandbox",
    "tests.fixtures.airflow",
    "tests.fixtures.raw_snapshot",
    "tests.fixtures.staged_snapshot",
    "tests.fixtures.sync",
]
