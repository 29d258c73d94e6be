"""A full demo run leaves no password or token in any artefact: logs, Airflow's database (XComs, rendered
templates), invoices, reports, the warehouse's own files, or what it printed.

The demo runs in a subprocess on a fresh embedded warehouse in a temporary state folder. The secrets are
the generated warehouse passwords (superuser, loader, BI, projects) and the sandbox's tokens and client
secrets; they may only sit in the files made to hold them (mode 0600).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from passerelle.paths import PROJECT_ROOT
from passerelle.warehouse.embedded import EmbeddedWarehouse

SECRET_KEY = re.compile(r"token|secret|password|private", re.IGNORECASE)
# Files whose job is to hold secrets, all written 0600.
SECRET_STORES = {"credentials.json", "warehouse.env", "sandbox.json"}


def sandbox_secrets(path: Path) -> set[str]:
    descriptor = json.loads(path.read_text())
    found = set()
    for vendor in descriptor["vendors"].values():
        for key, value in vendor.get("credentials", {}).items():
            if SECRET_KEY.search(key) and isinstance(value, str) and len(value) >= 12:
                found.add(value)
    return found


def leaks(roots: list[Path], secrets: set[str]) -> list[str]:
    found = []
    needles = [secret.encode() for secret in secrets]
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or path.is_symlink() or path.name in SECRET_STORES:
                continue
            data = path.read_bytes()
            found += [f"{path}: {needle[:4].decode()}…" for needle in needles if needle in data]
    return found


@pytest.mark.dag
def test_demo_run_leaves_no_secret_in_any_artefact() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="passerelle-demo-secrets-"))
    state, output, airflow_home = scratch / "state", scratch / "output", scratch / "airflow"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "WAREHOUSE_URL", "TEST_WAREHOUSE_URL", "PASSERELLE_"))}
    env.update({"PASSERELLE_STATE_DIR": str(state), "PASSERELLE_OUTPUT_DIR": str(output),
                "AIRFLOW_HOME": str(airflow_home), "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"})
    try:
        with (scratch / "demo.out").open("w") as out, (scratch / "demo.err").open("w") as err:
            demo = subprocess.Popen([sys.executable, "-m", "passerelle_dev.demo"], stdout=out, stderr=err, env=env,
                                    cwd=scratch)
            descriptor = state / "sandbox" / "sandbox.json"  # removed when the sandbox stops: read it meanwhile
            deadline = time.monotonic() + 300
            while not descriptor.exists() and demo.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)
            tokens = sandbox_secrets(descriptor)
            assert descriptor.stat().st_mode & 0o077 == 0
            returncode = demo.wait(timeout=900)
        printed = (scratch / "demo.out").read_text() + (scratch / "demo.err").read_text()
        assert returncode == 0, printed[-4000:]
        warehouse = EmbeddedWarehouse(state / "warehouse")
        secrets = set(warehouse.passwords().values()) | tokens
        assert len(secrets) >= 8
        assert warehouse.credentials_file.stat().st_mode & 0o077 == 0
        assert [secret[:4] + "…" for secret in secrets if secret in printed] == []
        assert leaks([state, output, airflow_home], secrets) == []
        assert (state / "demo-airflow" / "airflow.db").exists() and not (airflow_home / "airflow.db").exists()
    finally:
        EmbeddedWarehouse(state / "warehouse").stop()
        shutil.rmtree(scratch, ignore_errors=True)
