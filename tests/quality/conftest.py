"""Quality tests write their Great Expectations context (suites, results, Data Docs) to a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.quality.gx_context import GX_DIR_ENV


@pytest.fixture(autouse=True)
def gx_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("gx")
    monkeypatch.setenv(GX_DIR_ENV, str(path))
    return path
