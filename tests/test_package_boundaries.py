"""The product, the sandbox and the dev tooling stay separate packages with no import cycle.

The contracts live in ``.importlinter``; this runs them so CI fails on a broken boundary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    result = subprocess.run([str(lint), "--config", str(ROOT / ".importlinter")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout


def test_product_image_requirements_leave_out_the_sandbox_and_tests() -> None:
    runtime = (ROOT / "requirements.txt").read_text().lower()
    for dev_only in ("werkzeug", "faker", "trustme", "pytest", "hypothesis", "graphql-core"):
        assert f"\n{dev_only}==" not in runtime, f"{dev_only} belongs in requirements-sandbox.txt or requirements-dev.txt"
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime_stage = dockerfile.split("AS sandbox")[0]
    assert "requirements.txt" in runtime_stage and "requirements-dev" not in dockerfile
    assert "requirements-sandbox" not in runtime_stage
