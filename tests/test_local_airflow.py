"""The local Airflow (demo, ``make up``) gets a Fernet key of its own, kept owner-only and reused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from passerelle.orchestration.airflow_env import FERNET_KEY_FILE, configure_airflow, local_fernet_key


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
