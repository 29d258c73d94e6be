"""The compliance report of one period as ONE self-contained HTML file: inline CSS and SVG charts, no script,
no external resource, so it can be mailed, archived with the period's filings and opened offline years later.

The page comes from the Jinja2 templates of ``reports/templates`` with autoescape on: every text from the
warehouse (names, rule messages, paths) is escaped; only the SVG drawn by :mod:`passerelle.reports.charts`
is marked safe. Words come from :mod:`passerelle.reports.labels`, figures and dates are written by
:mod:`passerelle.reports.formats`, both in the report's language (``PASSERELLE_REPORT_LANGUAGE``, French by
default). Paths are written relative to the report's folder, so a report copied with its files still points
at them and never shows where the server keeps them.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import date
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from passerelle.paths import write_private
from passerelle.reports import charts
from passerelle.reports.data import ReportData, check_period, load_report_data
from passerelle.reports.formats import Formats
from passerelle.reports.payments import LISTED
from passerelle.reports.labels import Language, categories, check_language, label, missing_item, text
from passerelle.settings import settings

TEMPLATES = Path(__file__).with_name("templates")
ZERO = Decimal("0.00")


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The report templates, autoescaped, failing on any name they do not receive."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def report_language(language: str | None = None) -> Language:
    """``language`` when given, else ``PASSERELLE_REPORT_LANGUAGE`` (French by default)."""
    return check_language(language or settings().report_language)


def relative_path(path: str, folder: Path) -> str:
    """``path`` as seen from ``folder`` (``../ereporting/ER-….xml``); a relative path is kept as stored."""
    stored = PurePath(path)
    if not stored.is_absolute():
        return stored.as_posix()
    try:
        return PurePath(os.path.relpath(stored, folder)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists, the file name still says which file
        return stored.name


def _summary(data: ReportData) -> dict[str, Any]:
    """The figures of the summary that add up several rows."""
    return {
        "customers": sum(c.customers for c in data.readiness.counts),
        "ready": sum(c.ready for c in data.readiness.counts),
        "documents": sum(v.documents for v in data.validation),
        "passed": sum(v.passed for v in data.validation),
        "vat_debits": sum((line.vat_eur for line in data.vat if line.vat_due_on != "receipts"), ZERO),
        "vat_receipts": sum((line.vat_eur for line in data.receipts), ZERO),
        "valid": sum(1 for t in data.transmissions if t.valid),
        "overdue": sum(1 for f in data.filings if f.overdue),
        "set_aside": sum(s.records for s in data.set_aside),
    }


class Chart(NamedTuple):
    """An inline SVG chart and its caption (also what a screen reader says of it)."""

    svg: Markup
    caption: str


def _charts(data: ReportData, language: Language, formats: Formats) -> dict[str, Chart]:
    """The page's charts, by name, labelled in the report's language."""
    drawn: dict[str, Chart] = {}
    t = partial(text, language=language)

    def draw(name: str, caption: str, chart: Any, *args: Any, **kwargs: Any) -> None:
        drawn[name] = Chart(Markup(chart(name, *args, number=formats.number, spoken=caption, **kwargs)), caption)

    counts = data.readiness.counts
    if counts:
        draw("readiness", t("readiness_caption"), charts.stacked_bars,
             [label("rule", c.classification, language) for c in counts],
             {t("chart_ready"): [c.ready for c in counts], t("chart_not_ready"): [c.not_ready for c in counts]},
             ylabel=t("chart_customers"), colors=(charts.READY, charts.NOT_READY))
    if data.trend:
        periods = sorted({p.billing_period_end for p in data.trend})
        formats_seen = sorted({p.format for p in data.trend})
        rates = {(p.billing_period_end, p.format): p.pass_rate for p in data.trend}
        draw("validation-trend", t("trend_caption", n=len(periods)) if len(periods) > 1 else t("trend_caption_one"),
             charts.lines, [formats.day(p) for p in periods],
             {label("format", f, language): [rates.get((p, f)) for p in periods] for f in formats_seen},
             ylabel=t("chart_pass_rate"), ylim=(0, 105))
    if data.vat:
        by_rate: dict[Decimal | None, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for line in data.vat:
            by_rate[line.vat_rate][line.month] += line.vat_eur
        months = sorted({line.month for line in data.vat})
        series = {formats.rate(rate): [values.get(m, Decimal(0)) for m in months] for rate, values in by_rate.items()
                  if any(values.values())}
        if series:
            draw("vat-by-rate", t("vat_caption"), charts.stacked_bars, [formats.month(m) for m in months], series,
                 ylabel=t("chart_vat"))
    if data.statuses:
        draw("lifecycle", t("lifecycle_caption"), charts.bars,
             [label("status", s.status_code or "none", language) for s in data.statuses],
             [s.invoices for s in data.statuses], xlabel=t("chart_documents"))
    return drawn


def render_report(data: ReportData, language: str | None = None, folder: Path | None = None) -> str:
    """The whole page in ``language`` (default: the setting); paths relative to ``folder``, the report's
    folder (default: ``<output dir>/reports``, where the compliance DAG writes it)."""
    chosen = report_language(language)
    formats = Formats(chosen)
    where = folder if folder is not None else settings().output_dir / "reports"
    return environment().get_template("report.html.j2").render(
        data=data, language=chosen, f=formats, t=partial(text, language=chosen),
        label=partial(label, language=chosen), categories=partial(categories, language=chosen),
        missing_item=partial(missing_item, language=chosen), summary=_summary(data), charts=_charts(data, chosen, formats),
        path=partial(relative_path, folder=where.resolve()), zero=ZERO, limit=LISTED,
    )


def report_path(output_dir: Path, period_start: date, period_end: date) -> Path:
    return output_dir / f"compliance-report_{period_start.isoformat()}_{period_end.isoformat()}.html"


def write_report(conn: Any, period_start: date, period_end: date, output_dir: Path, *,
                 as_of: date | None = None, language: str | None = None) -> Path:
    """Write the report of ``period_start`` .. ``period_end`` (inclusive) into ``output_dir``; returns its path.

    ``as_of`` (default today) decides which filings are overdue; ``language`` (``fr`` or ``en``) defaults to the
    setting. The file is written next to its final name and renamed, so a reader never sees half a report.
    """
    check_period(period_start, period_end)
    chosen = report_language(language)
    data = load_report_data(conn, period_start, period_end, as_of or date.today())
    page = render_report(data, chosen, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = report_path(output_dir, period_start, period_end)
    write_private(path, page.encode("utf-8"))
    return path
