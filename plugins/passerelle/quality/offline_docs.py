"""Data Docs that render without network: the CDN assets of GX's page templates, served from the site.

GX Core 1.x writes Data Docs whose pages load Bootstrap, jQuery, Popper, bootstrap-table,
bootstrap-datepicker and Font Awesome from public CDNs; offline, the pages have no style and the
index, a table drawn by bootstrap-table from data inside the page, stays empty. The same files
(byte for byte: the CDN's subresource-integrity hashes match) are kept in ``data_docs_vendor/``;
:func:`localise` copies them into the site's ``static/vendor/`` and points every page at them.

Vega, Vega-Lite and Vega-Embed are dropped rather than bundled: they draw only the charts of
profiling pages, which this project does not build. GX's logo, fetched from its web-assets bucket with
the data context id in the query (a tracking pixel), is replaced by the copy GX ships in ``static/images``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

VENDOR_SOURCE = Path(__file__).with_name("data_docs_vendor")
VENDOR_DIR = Path("static", "vendor")  # inside the site

# CDN address in GX's templates -> file under data_docs_vendor/.
ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/bootstrap-table.min.js",
    # GX's pages ask for the filter-control stylesheet of 1.19.0, minified or not; 1.19.1's is the same rule.
    **{f"https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control{ext}":
       "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css"
       for ext in (".css", ".min.css")},
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker-1.9.0/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker-1.9.0/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
}
DROPPED_SCRIPT = re.compile(r'[ \t]*<script src="https://cdn\.jsdelivr\.net/npm/vega(?:-lite|-embed)?@\d+"></script>\n?')
GX_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/[\w.-]+(?:\?[^\"')\s]*)?")
# Integrity and CORS attributes of the rewritten tags: a file:// page cannot make CORS requests.
SRI = re.compile(r'\s+integrity="sha\d+-[^"]*"|\s+crossorigin="anonymous"')
# An asset the browser would fetch from the network: a script, stylesheet, image or CSS url().
REMOTE_ASSET = re.compile(
    r"<(?:script|img|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?(https?://[^\"'\s>]+)|url\(\s*[\"']?(https?://[^\"')\s]+)",
    re.IGNORECASE,
)


def install_assets(site: Path) -> bool:
    """Copy the vendored files into ``site`` where missing or different; True if any was copied."""
    copied = False
    for source in VENDOR_SOURCE.rglob("*"):
        if source.is_dir():
            continue
        target = site / VENDOR_DIR / source.relative_to(VENDOR_SOURCE)
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied = True
    return copied


def localise_page(html: str, to_root: str) -> str:
    """``html`` with its CDN assets pointing at the site's copies; ``to_root`` leads to the site root."""
    html = DROPPED_SCRIPT.sub("", html)
    html = GX_LOGO.sub(f"{to_root}static/images/logo-long.png", html)
    for url, path in ASSETS.items():
        html = html.replace(f'"{url}"', f'"{to_root}{VENDOR_DIR.as_posix()}/{path}"')
    return re.sub(r"<(?:script|link)\b[^>]*>", lambda tag: SRI.sub("", tag.group(0)), html)


def remote_assets(html: str) -> list[str]:
    """Addresses of the network assets ``html`` still loads (links in text do not count)."""
    return [a or b for a, b in REMOTE_ASSET.findall(html)]


def localise(site: Path, pages: list[Path] | None = None) -> list[str]:
    """Serve ``pages`` (every page of the site when None, or when the assets were just installed) from
    the site's own copies. Returns the network assets left, as "page: address" (none for GX's pages)."""
    if install_assets(site) or pages is None:
        pages = sorted(site.rglob("*.html"))
    left = []
    for page in pages:
        if not page.is_file():
            continue
        html = page.read_text(encoding="utf-8")
        depth = len(page.relative_to(site).parts) - 1
        local = localise_page(html, "../" * depth)
        if local != html:
            page.write_text(local, encoding="utf-8")
        left += [f"{page.relative_to(site)}: {url}" for url in remote_assets(local)]
    return left
