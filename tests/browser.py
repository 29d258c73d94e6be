"""Pages as a browser shows them: headless Chromium loads the file or URL, runs its scripts, dumps the DOM.

Tests read reports and other pages through this module rather than through the HTML the code wrote, so
what they assert on is what a person opening the page would see (scripts run, entities decoded, hidden
elements left out). Chromium is Debian's ``chromium`` package (``make install`` installs it); the path can be
given in ``CHROMIUM``. Every host but the loopback resolves to nothing, and any proxy is a closed port, so a page can never reach the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 90  # seconds; two shared CPUs start Chromium slowly
SCRIPT_BUDGET_MS = 5000  # virtual time given to the page's scripts and timers before the DOM is dumped
OFFLINE = "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"

# Elements whose text a reader never sees, and elements that start a new line of text.
INVISIBLE = frozenset({"head", "script", "style", "template", "noscript", "title", "meta", "link"})
BLOCKS = frozenset({"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
                    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
                    "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul", "text",
                    "caption", "details", "summary"})
CELLS = frozenset({"td", "th"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                  "wbr"})
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


class ChromiumMissing(RuntimeError):
    """No Chromium on this machine."""


def chromium() -> str:
    """The Chromium executable: ``$CHROMIUM``, else the first of :data:`CANDIDATES` on the PATH."""
    named = os.environ.get("CHROMIUM")
    found = shutil.which(named) if named else next(filter(None, map(shutil.which, CANDIDATES)), None)
    if not found:
        raise ChromiumMissing("Chromium not found: run `make install` (Debian package `chromium`) or set CHROMIUM")
    return found


def _url(path_or_url: str | os.PathLike[str]) -> str:
    text = str(path_or_url)
    if re.match(r"^[a-z][a-z0-9+.-]*:", text, re.IGNORECASE) and not re.match(r"^[a-z]:\\", text, re.IGNORECASE):
        return text
    path = Path(text).resolve()
    if not path.is_file():
        raise FileNotFoundError(path)
    return path.as_uri()


def render_dom(path_or_url: str | os.PathLike[str]) -> str:
    """The page's DOM after its scripts ran, serialised as HTML (Chromium's ``--dump-dom``)."""
    url = _url(path_or_url)
    with tempfile.TemporaryDirectory(prefix="passerelle-chromium-") as profile:
        result = subprocess.run(
            [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage", "--mute-audio",
             f"--user-data-dir={profile}", f"--host-resolver-rules={OFFLINE}",
             "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
             f"--virtual-time-budget={SCRIPT_BUDGET_MS}", "--dump-dom", url],
            capture_output=True, timeout=TIMEOUT, check=False, env={**os.environ, "HOME": profile},
        )
    dom = result.stdout.decode("utf-8")
    if result.returncode != 0 or "<html" not in dom.lower():
        raise RuntimeError(f"Chromium could not render {url} (exit {result.returncode}): "
                           f"{result.stderr.decode('utf-8', 'replace')[-2000:]}")
    return dom


class _Text(HTMLParser):
    """The visible text of a DOM: one line per block, cells of a row separated by a tab (an empty cell stays, so
    columns keep their places)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # open elements, and whether each hides its content
        self.hidden = 0
        self.cells = 0  # cells opened so far in the current row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        hides = tag in INVISIBLE or "hidden" in values or bool(HIDDEN_STYLE.search(values.get("style") or ""))
        if tag in BLOCKS:
            self.parts.append("\n")
        if tag == "tr":
            self.cells = 0
        elif tag in CELLS:
            self.parts.append("\t" if self.cells else "\n")  # an empty cell keeps its place in the row
            self.cells += 1
        if tag in VOID:
            return
        self.stack.append((tag, hides))
        self.hidden += hides

    def handle_endtag(self, tag: str) -> None:
        if tag not in {name for name, _ in self.stack}:
            return
        while self.stack:
            name, hides = self.stack.pop()
            self.hidden -= hides
            if name == tag:
                break
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:  # a tab or line break in the source is a space on the page: only markup separates
            self.parts.append(re.sub(r"[\t\n]", " ", data))

    def text(self) -> str:
        lines = []
        for line in "".join(self.parts).split("\n"):
            cells = [re.sub(r"[ \r\f\v]+", " ", cell).strip() for cell in line.split("\t")]
            if any(cells):
                lines.append("\t".join(cells))
        return "\n".join(lines)


def dom_text(dom: str) -> str:
    """The text a reader sees in ``dom``: scripts, styles and hidden elements left out, one line per block."""
    parser = _Text()
    parser.feed(dom)
    parser.close()
    return parser.text()


def render_text(path_or_url: str | os.PathLike[str]) -> str:
    """The text of the page as Chromium rendered it (see :func:`render_dom` and :func:`dom_text`)."""
    return dom_text(render_dom(path_or_url))
