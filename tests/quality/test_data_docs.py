"""Data Docs as a person opens them on a server without network: headless Chromium, every host unresolvable.

Validations run on the real warehouse; the site they build is then opened from disk. The index must list
every suite and run (bootstrap-table draws it from data inside the page, so it needs its scripts), each run
must show the status of its Airflow task, and every stylesheet, script and font must load from the site.
"""

from __future__ import annotations

import fcntl
import json
import re
import threading
import time
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from passerelle.quality import gx_context, offline_docs
from passerelle.quality.errors import CriticalValidationError
from passerelle.quality.gx_context import docs_index
from passerelle.quality.validate import validate_table
from tests.db import rows
from tests.browser import render_dom
from tests.quality.docs_browser import index_runs, table_rows
from tests.quality.helpers import AS_OF, customer, project, seed_raw, stage

# Written into a copy of a page (beside it, so its relative links hold): which assets failed to load,
# whether each library defined itself, what the styles computed to, which fonts loaded.
PROBE = """<script>
window.__failed = [];
addEventListener("error", e => { if (e.target !== window) __failed.push(e.target.src || e.target.href); }, true);
addEventListener("load", () => document.fonts.ready.then(() => {
  const $ = window.jQuery, icon = document.querySelector(".fas");
  const probe = {
    failed: __failed,
    jquery: $ ? $.fn.jquery : null,
    popper: typeof window.Popper,
    bootstrap: $ && $.fn.tooltip ? $.fn.tooltip.Constructor.VERSION : null,
    bootstrapTable: $ && $.fn.bootstrapTable ? $.fn.bootstrapTable.Constructor.VERSION : null,
    filterControl: $ && $.fn.bootstrapTable ? "filterControl" in $.fn.bootstrapTable.defaults : false,
    datepicker: !!($ && $.fn.datepicker),
    stylesheets: [...document.querySelectorAll("link[rel=stylesheet]")].map(l => [l.getAttribute("href"), !!l.sheet]),
    alertBackground: getComputedStyle(document.querySelector(".alert-secondary")).backgroundColor,
    iconFont: icon ? getComputedStyle(icon, "::before").fontFamily : null,
    fonts: [...document.fonts].filter(f => f.status === "loaded").map(f => f.family.replace(/"/g, "")),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(probe);
  document.body.appendChild(out);
}));
</script>"""


def probe(page: Path) -> dict:
    copy = page.with_name(page.stem + ".probe.html")
    copy.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    try:
        dom = render_dom(copy)
    finally:
        copy.unlink()
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: the page's load event never came"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def text_of(dom: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def status_of(dom: str) -> str:
    """A validation page's overall status as shown: the word after "Status:" in its overview."""
    found = re.search(r"Status: (\w+)", text_of(dom))
    assert found, text_of(dom)[:2000]
    return found.group(1)


def test_data_docs_show_every_suite_and_run_with_true_statuses_offline(warehouse_conn, gx_dir: Path) -> None:
    stage(warehouse_conn, "customers", customer("salesforce:001A"), customer("salesforce:001B"))
    stage(warehouse_conn, "projects", project("asana:p1"))
    green = validate_table(warehouse_conn, "customers", "run-green", as_of=AS_OF)
    projects = validate_table(warehouse_conn, "projects", "run-green", as_of=AS_OF)
    stage(warehouse_conn, "customers", customer("salesforce:001C", siren="123456789"))
    quarantined = validate_table(warehouse_conn, "customers", "run-quarantine", as_of=AS_OF)
    with warehouse_conn.cursor() as cur:  # a live raw account staging lacks: the critical row count fails
        seed_raw(cur, "salesforce", "Account", "001Z")
    warehouse_conn.commit()
    with pytest.raises(CriticalValidationError):
        validate_table(warehouse_conn, "customers", "run-red", as_of=AS_OF)
    assert green.success and projects.success
    assert not quarantined.success and quarantined.quarantined == 1 and not quarantined.critical_failures

    index = docs_index()
    site = index.parent
    pages = sorted(site.rglob("*.html"))
    for page in pages:  # nothing left for the browser to fetch from the network (links in text aside)
        html = page.read_text(encoding="utf-8")
        assert re.findall(r"<(?:script|link|img)\b[^>]*(?:src|href)=[\"']?https?://[^>]*>", html, re.I) == [], page
        assert re.findall(r"url\(\s*[\"']?https?://", html, re.I) == [], page
        assert "integrity=" not in html and "crossorigin=" not in html, page

    dom = render_dom(index)
    shown = index_runs(dom, site)
    assert all(page.is_file() for _, page in shown.values()), shown  # the link a click follows leads to the page
    assert {key: value[0] for key, value in shown.items()} == {
        ("staging.customers", "run-green"): "success",
        ("staging.projects", "run-green"): "success",
        ("staging.customers", "run-quarantine"): "success",  # rows quarantined, the task stayed green
        ("staging.customers", "run-red"): "failed",
    }
    suites = table_rows(dom, "ge-index-page-expectation_suites-table")
    assert sorted(re.search(r'data-href="([^"]+)"', row).group(1) for row in suites) == [
        "expectations/staging/customers.html", "expectations/staging/projects.html"]

    assert status_of(render_dom(shown[("staging.customers", "run-green")][1])) == "Succeeded"
    red = render_dom(shown[("staging.customers", "run-red")][1])
    assert status_of(red) == "Failed" and "Data asset: staging.customers" in text_of(red)
    page = render_dom(shown[("staging.customers", "run-quarantine")][1])
    assert status_of(page) == "Succeeded"
    rule = page.index("customers.siren_checksum (quarantine)")  # its row: status icon, rule, failing rows
    start, end = page.rindex('<tr data-index="', 0, rule), page.find('<tr data-index="', rule)
    assert "fa-times" in page[start:rule] and "salesforce:001C" in page[rule:end]

    for page in (index, shown[("staging.customers", "run-red")][1]):
        loaded = probe(page)
        assert loaded["failed"] == [], loaded
        assert all(ok for _, ok in loaded["stylesheets"]), loaded
        assert {Path(href).name for href, _ in loaded["stylesheets"]} >= {
            "bootstrap.min.css", "bootstrap-table.min.css", "bootstrap-table-filter-control.min.css",
            "bootstrap-datepicker.min.css", "bootstrap-prefers-dark.min.css", "all.min.css"}, loaded
        assert all(href.startswith(("static/", "../")) for href, _ in loaded["stylesheets"]), loaded
        assert (loaded["jquery"], loaded["bootstrap"], loaded["bootstrapTable"]) == ("3.7.1", "4.3.1", "1.19.1")
        assert loaded["popper"] == "function" and loaded["filterControl"] and loaded["datepicker"]
        assert loaded["alertBackground"] == "rgb(226, 227, 229)"  # Bootstrap 4's .alert-secondary
        assert "Font Awesome 6 Free" in loaded["iconFont"] and "Font Awesome 6 Free" in loaded["fonts"], loaded


def test_every_cdn_asset_of_gx_templates_is_served_locally() -> None:
    """GX's own templates: each CDN asset they name is bundled or deliberately dropped (an upgrade adding
    one fails here), and each bundled file is there."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    named = set()
    for template in templates.glob("*.j2"):
        named |= set(offline_docs.remote_assets(re.sub(r"\{\{.*?\}\}", "", template.read_text())))
    assert named, "GX templates moved: nothing found"
    dropped = {url for url in named if offline_docs.DROPPED_SCRIPT.search(f'<script src="{url}"></script>')}
    assert dropped == {f"https://cdn.jsdelivr.net/npm/{lib}" for lib in ("vega@5", "vega-lite@5", "vega-embed@6")}
    assert named - dropped <= set(offline_docs.ASSETS), named - dropped - set(offline_docs.ASSETS)
    for path in offline_docs.ASSETS.values():
        assert (offline_docs.VENDOR_SOURCE / path).is_file(), path
    page = "\n".join(f'<script src="{url}"></script>' for url in sorted(named))
    assert offline_docs.remote_assets(offline_docs.localise_page(page, "../")) == []


def test_a_run_is_published_only_while_no_other_process_publishes(warehouse_conn, warehouse_url: str,
                                                                   gx_dir: Path) -> None:
    """Parallel tasks rebuild one index: while another publisher holds the site's lock, a run is neither
    stored nor written into the index; it is as soon as the lock is released."""
    stage(warehouse_conn, "customers", customer("salesforce:001A"))
    gx_context.context()  # the GX directory exists before the lock file is taken
    stored = gx_dir / "gx" / "uncommitted" / "validations" / "staging" / "customers"
    with open(gx_dir / ".data_docs.lock", "a") as held, closing(psycopg2.connect(warehouse_url)) as watcher:
        fcntl.flock(held, fcntl.LOCK_EX)  # another open file: flock blocks this process's publisher too
        worker = threading.Thread(target=validate_table, args=(warehouse_conn, "customers", "run-waiting"),
                                  kwargs={"as_of": AS_OF})
        worker.start()
        deadline = time.monotonic() + 120
        while not rows(watcher, "SELECT 1 FROM quality.validation_runs WHERE run_id = 'run-waiting'"):
            assert time.monotonic() < deadline and worker.is_alive()
            time.sleep(0.2)
        worker.join(timeout=3)  # committed: only the Data Docs are left to publish
        assert worker.is_alive() and not (stored / "run-waiting").exists()
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(timeout=120)
    assert not worker.is_alive() and (stored / "run-waiting").is_dir()
    assert "run-waiting" in docs_index().read_text(encoding="utf-8")
