"""Data Docs as Chromium shows them, with no network (until the project has one shared browser helper).

Every host resolves to nothing and any proxy is a closed port, so a page that still names a CDN asset
renders without it, as on an offline server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def render_dom(path: Path) -> str:
    """The page's DOM after its scripts ran (Chromium's ``--dump-dom``)."""
    assert CHROMIUM, "Chromium is needed: apt-get install chromium (make install), or set CHROMIUM"
    with tempfile.TemporaryDirectory(prefix="passerelle-chromium-") as profile:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
             "--virtual-time-budget=5000", "--dump-dom", path.resolve().as_uri()],
            capture_output=True, timeout=120, check=False, env={**os.environ, "HOME": profile},
        )
    dom = result.stdout.decode("utf-8")
    assert result.returncode == 0 and "<html" in dom, result.stderr.decode("utf-8", "replace")[-2000:]
    return dom


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
