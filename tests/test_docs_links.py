"""Links in README.md and docs/*.md stay inside the repository and point to files and headings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from passerelle.paths import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$|"
                  r"href=\"([^\"]+)\"", re.MULTILINE)
CODE_PATH_OUTSIDE = re.compile(r"`((?:\.\./|/(?:work|home|root|tmp|Users)/)[^`]*)`")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of ``page``."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.MULTILINE)}


def problems(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found = [f"{page.name}: `{path}` names a path outside the repository" for path in CODE_PATH_OUTSIDE.findall(text)]
    for match in LINK.finditer(text):
        target = next(group for group in match.groups() if group)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
            found.append(f"{page.name}: {target} leaves the repository")
            continue
        path, _, anchor = target.partition("#")
        if path.startswith("/"):
            found.append(f"{page.name}: {target} is an absolute path")
            continue
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(PROJECT_ROOT):
            found.append(f"{page.name}: {target} leaves the repository")
        elif not resolved.exists():
            found.append(f"{page.name}: {target} points to a missing file")
        elif anchor and resolved.suffix == ".md" and anchor.lower() not in anchors(resolved):
            found.append(f"{page.name}: {target} points to a missing heading")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_ROOT)))
def test_links_stay_in_the_repository_and_resolve(page: Path) -> None:
    assert problems(page) == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.test_docs_links.PROJECT_ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ok.md").write_text("# Start here\n")
    page = tmp_path / "README.md"
    page.write_text("# Title\n[a](docs/ok.md#start-here) [b](#title) [c](../outside.md) [d](docs/gone.md)\n"
                    "[e](https://example.org) [f](/etc/passwd) [g](#nowhere) `../shared/x.md`\n"
                    "```\n[h](../in-a-fence-is-fine.md)\n```\n[i]: ../ref.md\n")
    assert problems(page) == [
        "README.md: `../shared/x.md` names a path outside the repository",
        "README.md: ../outside.md leaves the repository",
        "README.md: docs/gone.md points to a missing file",
        "README.md: https://example.org leaves the repository",
        "README.md: /etc/passwd is an absolute path",
        "README.md: #nowhere points to a missing heading",
        "README.md: ../ref.md leaves the repository",
    ]
