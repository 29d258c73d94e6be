"""The browser helper shows what a reader sees: the text scripts write, never hidden or script text."""

from __future__ import annotations

from pathlib import Path

from tests.browser import dom_text, render_dom, render_text

PAGE = """<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Titre caché</title>
<style>.x { color: red }</style></head><body>
<h1>Rapport &amp; annexes</h1>
<p id="later">avant</p>
<p hidden>texte masqué</p><div style="display: none">aussi masqué</div>
<table><tr><th>Montant</th><td>12\u202f495,00\u00a0€</td></tr></table>
<script>document.getElementById("later").textContent = "écrit par le script";
setTimeout(() => document.body.insertAdjacentHTML("beforeend", "<p>après un délai</p>"), 500);</script>
</body></html>"""


def test_render_runs_scripts_and_reads_visible_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    text = render_text(page)
    assert text.splitlines() == ["Rapport & annexes", "écrit par le script", "Montant\t12\u202f495,00\u00a0€",
                                 "après un délai"]
    assert 'id="later">écrit par le script<' in render_dom(page.as_uri())


def test_dom_text_leaves_out_what_is_not_shown() -> None:
    assert dom_text("<html><head><title>t</title></head><body><p>a <b>b</b></p><script>x</script>"
                    "<ul><li>c</li><li hidden>d</li></ul></body></html>") == "a b\nc"


def test_dom_text_keeps_the_columns_of_a_table() -> None:
    assert dom_text("<table><tr><th>A</th><th>B\tb</th><th>C</th></tr><tr><td>1</td><td></td><td>3\n</td></tr>"
                    "</table>") == "A\tB b\tC\n1\t\t3"
