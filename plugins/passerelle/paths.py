"""Filesystem locations shared by the warehouse, the sandbox and the CLI entry points."""

from __future__ import annotations

import os
from pathlib import Path

from passerelle.settings import PROJECT_ROOT, settings

SQL_DIR = PROJECT_ROOT / "include" / "sql"


def state_dir() -> Path:
    """Git-ignored folder for local state (embedded warehouse data, sandbox certificates, env file)."""
    path = settings().state_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir() -> Path:
    """Where invoices and reports are written: ``PASSERELLE_OUTPUT_DIR`` or the git-ignored ``output/``."""
    path = settings().output_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


PRIVATE = 0o600  # invoices, e-reporting files and reports hold customer data: closed to other users


def open_private(path: Path) -> int:
    """A new file (or a truncated one) readable and writable by its owner only, as a descriptor."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    os.fchmod(descriptor, PRIVATE)  # a file left by an earlier version keeps its old mode otherwise
    return descriptor


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, then rename), owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with os.fdopen(open_private(partial), "wb") as handle:
            handle.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
