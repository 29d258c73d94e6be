"""The compliance report of one period as ONE self-contained HTML file: inline CSS and SVG charts, no script,
no external resource, so it can be mailed, archived with the period's filings and opened offline years later.

Every text that comes from the warehouse (names, rule messages, paths) is escaped; only the markup built
here and the SVG drawn by :mod:`passerelle.reports.charts` are written as is.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from passerelle.reports import charts
from passerelle.paths import write_private
from passerelle.reports.data import ReportData, check_period, load_report_data
from passerelle.reports.payments import render_payments

STATUS_NONE = "no status yet"
NUM = ' class="num"'

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 14px; color: #222; margin: 2em auto;
       max-width: 70em; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #1b6ca8; padding-bottom: 0.2em;
margin-top: 2em; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.8em 0; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f5f8; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
.bad { color: #c0392b; font-weight: bold; } .good { color: #2e7d4f; } .muted { color: #777; }
ul.missing { margin: 0; padding-left: 1.1em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 0.9em; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.5em; }
dl.summary dt { color: #555; } dl.summary dd { margin: 0; font-weight: bold; }
"""


class Safe(str):
    """Markup built here: written as is (everything else is escaped)."""


def esc(value: Any) -> str:
    return value if isinstance(value, Safe) else html.escape(str(value), quote=True)


def money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def rate(value: Decimal | None) -> str:
    if value is None:
        return "—"
    text = f"{value:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def yes_no(value: bool) -> Safe:
    return Safe('<span class="good">yes</span>' if value else '<span class="bad">no</span>')


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Sequence[int] = (),
          total: Sequence[Any] | None = None) -> Safe:
    """An HTML table; columns at the ``numeric`` indexes are right-aligned; ``total`` is a last, bold row."""
    def cells(values: Sequence[Any], tag: str) -> str:
        return "".join(f"<{tag}{NUM if i in numeric else ''}>{esc(v)}</{tag}>" for i, v in enumerate(values))

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    if total is not None:
        body += f'<tr class="total">{cells(total, "td")}</tr>'
    return Safe(f"<table><thead><tr>{cells(headers, 'th')}</tr></thead><tbody>{body}</tbody></table>")


def figure(svg: str, caption: str) -> Safe:
    return Safe(f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>")


def note(text: str) -> Safe:
    return Safe(f'<p class="muted">{esc(text)}</p>')


def section(anchor: str, title: str, *parts: str) -> Safe:
    return Safe(f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{"".join(parts)}</section>')


def render_report(data: ReportData) -> str:
    """The whole page."""
    title = f"Compliance report {data.period_start.isoformat()} – {data.period_end.isoformat()}"
    body = "".join([
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">Figures as of {esc(data.as_of.isoformat())}, from the warehouse marts '
        f"(marts.customer_readiness and the report views).</p>",
        _summary(data), _readiness(data), _validation(data), _vat(data), _ereporting(data), _calendar(data),
        _lifecycle(data), _payments(data), _set_aside(data),
    ])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def _summary(data: ReportData) -> Safe:
    customers = sum(c.customers for c in data.readiness.counts)
    ready = sum(c.ready for c in data.readiness.counts)
    documents = sum(v.documents for v in data.validation)
    passed = sum(v.passed for v in data.validation)
    vat_debits = sum((line.vat_eur for line in data.vat if line.vat_due_on != "receipts"), Decimal("0.00"))
    vat_receipts = sum((line.vat_eur for line in data.receipts), Decimal("0.00"))
    valid = sum(1 for t in data.transmissions if t.valid)
    overdue = sum(1 for f in data.filings if f.overdue)
    items = [
        ("Customers ready to invoice", f"{ready} of {customers}"),
        ("Invoice documents passing validation", f"{passed} of {documents}"),
        ("Invoices and credit notes issued", f"{data.vat_documents.invoices} and {data.vat_documents.credit_notes}"),
        ("VAT invoiced, due on debits or delivery (EUR)", money(vat_debits)),
        ("VAT due on receipts cashed (EUR)", money(vat_receipts)),
        ("E-reporting transmissions valid", f"{valid} of {len(data.transmissions)}"),
        ("Filings overdue", str(overdue)),
        ("Source records set aside at load (unstorable)", str(sum(s.records for s in data.set_aside))),
    ]
    rows = "".join(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>" for label, value in items)
    return section("summary", "Summary", f'<dl class="summary">{rows}</dl>')


def _readiness(data: ReportData) -> Safe:
    readiness = data.readiness
    if not readiness.counts:
        return section("readiness", "Customer readiness", note("marts.customer_readiness is empty: no customer "
                                                               "staged yet, or the table was never built."))
    counts = readiness.counts
    summary = table(
        ["Classification", "Customers", "Ready", "Not ready", "In quarantine"],
        [(c.classification, c.customers, c.ready, c.not_ready, c.quarantined) for c in counts], numeric=(1, 2, 3, 4),
        total=("Total", sum(c.customers for c in counts), sum(c.ready for c in counts),
               sum(c.not_ready for c in counts), sum(c.quarantined for c in counts)))
    chart = charts.stacked_bars(
        "readiness", [c.classification for c in counts],
        {"ready": [c.ready for c in counts], "not ready": [c.not_ready for c in counts]},
        ylabel="customers", colors=(charts.READY, charts.NOT_READY))
    built = readiness.built_at.strftime("%Y-%m-%d %H:%M %Z") if readiness.built_at else "never"
    parts = [note(f"Current state of every customer, staged or quarantined (built {built})."), summary,
             figure(chart, "Customers ready and not ready to invoice, per classification.")]
    if readiness.not_ready:
        rows = [(c.customer_key, c.legal_name or "—", c.classification,
                 Safe('<ul class="missing">' + "".join(f"<li>{esc(item)}</li>" for item in c.missing) + "</ul>"),
                 Safe('<span class="bad">yes</span>') if c.in_quarantine else "no", c.won_deals, c.open_deals)
                for c in readiness.not_ready]
        parts += [Safe("<h3>Customers not ready</h3>"),
                  table(["Customer", "Name", "Classification", "What is missing or invalid", "Quarantined",
                         "Won deals", "Open deals"], rows, numeric=(5, 6))]
    return section("readiness", "Customer readiness", *parts)


def _validation(data: ReportData) -> Safe:
    parts: list[str] = [Safe(f"<h3>Documents validated, {esc(VALIDATION_BASIS)}</h3>"),
                        note("Drafts and documents of the billing periods ending in the report's period, each with "
                             "its latest validation; a credit note belongs to the billing period of the invoice it "
                             "credits.")]
    if data.validation:
        parts.append(table(
            ["Format", "Documents", "Passed", "Failed", "Pass rate"],
            [(v.format, v.documents, v.passed, v.failed, percent(v.pass_rate)) for v in data.validation],
            numeric=(1, 2, 3, 4)))
    else:
        parts.append(note("No invoice document was validated for a billing period ending in this period."))
    if data.trend:
        periods = sorted({p.billing_period_end for p in data.trend})
        formats = sorted({p.format for p in data.trend})
        rates = {(p.billing_period_end, p.format): p.pass_rate for p in data.trend}
        chart = charts.lines("validation-trend", [p.isoformat() for p in periods],
                             {f: [rates.get((p, f)) for p in periods] for f in formats},
                             ylabel="pass rate (%)", ylim=(0, 105))
        parts.append(figure(chart, f"Pass rate per format over the last {len(periods)} billing periods."))
    if data.rule_failures:
        parts += [Safe("<h3>Top failing rules</h3>"), table(
            ["Rule", "Severity", "Layer", "Findings", "Documents", "Example message"],
            [(r.rule, r.severity, r.layer, r.findings, r.documents, r.message) for r in data.rule_failures],
            numeric=(3, 4))]
    return section("validation", "Invoice validation", *parts)


VAT_BASIS = "par mois d'émission (BT-2)"
RECEIPTS_BASIS = "par date d'encaissement"
VALIDATION_BASIS = "par période de facturation"
LIFECYCLE_BASIS = "par date d'émission (BT-2)"


def _vat(data: ReportData) -> Safe:
    if not data.vat and not data.receipts:
        return section("vat", "VAT", note("No invoice issued and no payment received in this period."))
    parts: list[str] = []
    if data.vat:
        period = f"{data.period_start.isoformat()} – {data.period_end.isoformat()}"
        parts += [Safe(f"<h3>VAT invoiced, {esc(VAT_BASIS)}</h3>"),
                  note(f"Invoices and credit notes issued {period}, per month of issue, in EUR; a credit note "
                       "counts on its own issue date, its amounts negative. A document with several rates appears "
                       "in each of its rows; the total counts each document once."),
                  table(
            ["Month", "Rule", "Category", "Rate", "VAT due on", "Invoices", "Credit notes", "Taxable base", "VAT"],
            [(line.month.strftime("%Y-%m"), line.processing_rule, line.vat_category, rate(line.vat_rate),
              line.vat_due_on, line.invoices, line.credit_notes, money(line.taxable_eur), money(line.vat_eur))
             for line in data.vat],
            numeric=(5, 6, 7, 8),
            total=("Total", "", "", "", "", data.vat_documents.invoices, data.vat_documents.credit_notes,
                   money(sum((line.taxable_eur for line in data.vat), Decimal("0.00"))),
                   money(sum((line.vat_eur for line in data.vat), Decimal("0.00")))))]
        by_rate: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for line in data.vat:
            by_rate[rate(line.vat_rate)][line.month] += line.vat_eur
        months = sorted({line.month for line in data.vat})
        series = {label: [values.get(m, Decimal(0)) for m in months] for label, values in by_rate.items()
                  if any(values.values())}
        if series:
            chart = charts.stacked_bars("vat-by-rate", [m.strftime("%Y-%m") for m in months], series,
                                        ylabel="VAT (EUR)")
            parts.append(figure(chart, "VAT invoiced per month of issue, stacked by rate (EUR, credit notes "
                                       "deducted)."))
    if data.receipts:
        parts += [Safe(f"<h3>VAT due on receipts, {esc(RECEIPTS_BASIS)}</h3>"),
                  note("Payments received in the period on documents whose VAT is due on receipt (encaissements), "
                       "per month of receipt, in EUR: each payment split over the document's VAT rates as status "
                       "212 and Flux 10.2/10.4 carry it; refunds on credit notes negative. A payment over several "
                       "rates appears in each of its rows; the total counts each payment once."),
                  table(["Month", "Rule", "Category", "Rate", "Payments", "Cashed", "Taxable base", "VAT"],
                        [(line.month.strftime("%Y-%m"), line.processing_rule, line.vat_category, rate(line.vat_rate),
                          line.payments, money(line.cashed_eur), money(line.taxable_eur), money(line.vat_eur))
                         for line in data.receipts],
                        numeric=(4, 5, 6, 7),
                        total=("Total", "", "", "", data.receipt_payments,
                               money(sum((r.cashed_eur for r in data.receipts), Decimal("0.00"))),
                               money(sum((r.taxable_eur for r in data.receipts), Decimal("0.00"))),
                               money(sum((r.vat_eur for r in data.receipts), Decimal("0.00")))))]
    return section("vat", "VAT", *parts)


def _ereporting(data: ReportData) -> Safe:
    if not data.transmissions:
        return section("ereporting", "E-reporting transmissions (Flux 10)",
                       note("No transmission covers or falls due in this period."))
    rows = [(t.transmission_id, t.flux, t.kind, t.regime, f"{t.period_start.isoformat()} – {t.period_end.isoformat()}",
             t.due_date.isoformat(), t.records, yes_no(t.valid), t.fatal_findings, t.path) for t in data.transmissions]
    return section("ereporting", "E-reporting transmissions (Flux 10)", table(
        ["Transmission", "Flux", "Kind", "Regime", "Period", "Due date", "Documents", "Valid", "Fatal findings",
         "File"], rows, numeric=(6, 8)))


def _calendar(data: ReportData) -> Safe:
    if not data.filings:
        return section("calendar", "Filing calendar", note("No e-reporting period overlaps or falls due in this "
                                                           "period (marts.filing_calendar)."))
    def status(transmitted: bool, overdue: bool, has_data: bool) -> Safe:
        """Overdue only when something is due and was not produced; an empty period has nothing to file."""
        if transmitted:
            return Safe('<span class="good">transmitted</span>')
        if not has_data:
            return Safe('<span class="muted">nothing to file</span>')
        return Safe('<span class="bad">overdue</span>') if overdue else Safe("to do")

    rows = [(f.regime, f.kind, f"{f.period_start.isoformat()} – {f.period_end.isoformat()}", f.due_date.isoformat(),
             status(f.transmitted, f.overdue, f.has_data)) for f in data.filings]
    return section("calendar", "Filing calendar", table(["Regime", "Kind", "Period", "Due date", "Status"], rows))


def _lifecycle(data: ReportData) -> Safe:
    if not data.statuses:
        return section("lifecycle", "Lifecycle statuses", note("No invoice or credit note issued in this period."))
    labels = [STATUS_NONE if s.status_code is None else f"{s.status_code} {s.label or ''}".strip()
              for s in data.statuses]
    counts = [s.invoices for s in data.statuses]
    chart = charts.bars("lifecycle", labels, counts, xlabel="documents")
    return section("lifecycle", "Lifecycle statuses",
                   Safe(f"<h3>Documents issued, {esc(LIFECYCLE_BASIS)}</h3>"),
                   note("Latest status of each invoice and credit note issued in the period, each once "
                        "(billing.lifecycle_events)."),
                   table(["Status", "Documents"], zip(labels, counts), numeric=(1,),
                         total=("Total", sum(counts))),
                   figure(chart, "Documents issued in the period per latest lifecycle status."))


def _payments(data: ReportData) -> Safe:
    return Safe(render_payments(data.payments)) if data.payments is not None else Safe("")


def _set_aside(data: ReportData) -> Safe:
    title = "Source records set aside at load"
    if not data.set_aside:
        return section("set-aside", title, note("Every record the sources sent could be stored."))
    return section("set-aside", title, note(
        "Records a source sent that the warehouse cannot store as sent (a NUL character, invalid text, NaN, "
        "nesting too deep). They are held with their original bytes in raw.quarantined_records and count in no "
        "figure of this report until the source corrects them."), table(
        ["Source", "Stream", "Reason", "Records", "Last seen"],
        [(s.source, s.stream, s.reason, s.records, s.last_seen_at.strftime("%Y-%m-%d %H:%M")) for s in data.set_aside],
        numeric=(3,)))


def report_path(output_dir: Path, period_start: date, period_end: date) -> Path:
    return output_dir / f"compliance-report_{period_start.isoformat()}_{period_end.isoformat()}.html"


def write_report(conn: Any, period_start: date, period_end: date, output_dir: Path, *,
                 as_of: date | None = None) -> Path:
    """Write the report of ``period_start`` .. ``period_end`` (inclusive) into ``output_dir``; returns its path.

    ``as_of`` (default today) decides which filings are overdue. The file is written next to its final name and
    renamed, so a reader never sees half a report.
    """
    check_period(period_start, period_end)
    data = load_report_data(conn, period_start, period_end, as_of or date.today())
    page = render_report(data)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = report_path(output_dir, period_start, period_end)
    write_private(path, page.encode("utf-8"))
    return path
