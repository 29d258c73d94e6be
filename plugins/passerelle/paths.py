"""Filesystem locations shared by the warehouse, the sandbox and the CLI entry points."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "include" / "sql"


def state_dir() -> Path:
    """Git-ignored folder for local state (embedded warehouse data, sandbox certificates, env file)."""
    path = Path(os.environ.get("PASSERELLE_STATE_DIR", PROJECT_ROOT / ".passerelle"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir() -> Path:
    """Where invoices and reports are written: ``PASSERELLE_OUTPUT_DIR`` or the git-ignored ``output/``."""
    path = Path(os.environ.get("PASSERELLE_OUTPUT_DIR", PROJECT_ROOT / "output"))
    path.mkdir(parents=True, exist_ok=True)
    return path
