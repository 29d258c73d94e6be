"""Data Docs as Chromium shows them, with no network (:mod:`tests.browser`): the index tables bootstrap-table
draws and the runs they list."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote


def table_rows(dom: str, table_class: str) -> list[str]:
    """The rows bootstrap-table drew into the index table of ``table_class`` (none without its scripts)."""
    table = re.search(rf'<table[^>]*class="[^"]*{table_class}[^"]*"[^>]*>(.*?)</table>', dom, re.S)
    assert table, table_class
    return re.findall(r"<tr[^>]*data-href=.*?</tr>", table.group(1), re.S)


def index_runs(dom: str, site: Path) -> dict[tuple[str, str], tuple[str, Path]]:
    """The runs the rendered index of ``site`` lists: (suite, run name) -> (status icon, page a click opens)."""
    shown = {}
    for row in table_rows(dom, "ge-index-page-validation-results-table"):
        href = unquote(re.search(r'data-href="([^"]+)"', row).group(1))
        parts = href.split("/")  # validations/<suite, one folder per dot>/<run name>/<run time>/<batch>.html
        status = "success" if "ge-success-icon" in row else "failed" if "ge-failed-icon" in row else "?"
        shown[(".".join(parts[1:-3]), parts[-3])] = (status, site / href)
    return shown
