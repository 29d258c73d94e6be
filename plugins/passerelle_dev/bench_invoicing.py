"""``make bench`` (third part): invoice documents, and invoice lines from a million time entries.

Documents: 1,000 invoices of every kind (multi-rate domestic B2B with discounts and charges, intra-EU,
export in CHF, B2C, USD, credit notes) are rendered — CII, then the Factur-X PDF/A-3 — and validated
against the XSD, the EN 16931 and the BR-FR schematrons, with each stylesheet compiled once. Generation
and validation are timed separately and printed as invoices per second of wall clock and of CPU time
(the second stays meaningful when other work shares the cores); ``--profile`` shows where the time goes.

Invoice lines: :func:`time_entry_lines` is called by the staging benchmark once its 1,000,000 time
entries are in staging; it maps the projects to customers, runs the billing SQL and groups the items
into invoice drafts, timing each step.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any


def sample_invoices(count: int) -> list[Any]:
    """``count`` invoices cycling through the sample kinds, each with its own number."""
    from passerelle_dev.samples import ALL

    kinds = list(ALL.values())
    invoices = []
    for index in range(count):
        invoice = kinds[index % len(kinds)]()
        invoices.append(replace(invoice, number=f"BENCH2026-{index + 1:06d}"))
    return invoices


def documents(count: int, profile: bool = False) -> None:
    """Time each step on ``count`` invoices; wall-clock and CPU seconds both, since the CPUs may be shared.

    With ``profile``, each step also runs under cProfile and its costliest functions are printed.
    """
    from passerelle.documents.pdf import render_facturx
    from passerelle.documents.render import render_cii
    from passerelle.documents.validation import CiiValidator, has_fatal

    invoices = sample_invoices(count)
    steps: list[tuple[str, float, float]] = []

    def timed(name: str, work: Callable[[], Any]) -> Any:
        profiler = cProfile.Profile() if profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = work()
        if profiler:
            profiler.disable()
        steps.append((name, time.perf_counter() - wall, time.process_time() - cpu))
        if profiler:
            print(f"\n--- profile: {name}")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return result

    xml = timed("generate CII XML", lambda: [render_cii(invoice) for invoice in invoices])
    pdf_bytes = timed("generate Factur-X PDF/A-3 (CII embedded)",  # sizes only: issuing stores each and moves on
                      lambda: sum(len(render_facturx(invoice, document)) for invoice, document in zip(invoices, xml)))
    validator = timed("compile XSD + 2 schematrons (once)", CiiValidator)
    failed = timed("validate (XSD, EN 16931, BR-FR)",
                   lambda: sum(1 for document in xml if has_fatal(validator.validate(document))))
    validator.close()
    print(f"\ninvoice documents: {count:,} invoices ({pdf_bytes / count / 1024:.0f} KiB per PDF)")
    print(f"{'step':<44} {'seconds':>9}  {'invoices/s':>10}  {'CPU s':>7}  {'inv/CPU s':>9}")
    for name, wall, cpu in steps:
        once = name.endswith("(once)")
        rate = "" if once else f"{count / wall:>10.1f}"
        cpu_rate = "" if once else f"{count / cpu:>9.1f}"
        print(f"{name:<44} {wall:>9.2f}  {rate:>10}  {cpu:>7.2f}  {cpu_rate:>9}")
    print(f"documents with a fatal finding: {failed}")


def time_entry_lines(conn: Any, period_end: date) -> list[tuple[str, float, str]]:
    """Map every project to a customer, then time the billing SQL and the grouping into invoice lines."""
    from passerelle.invoicing.drafts import load_drafts
    from passerelle_dev.examples import load_example_billing
    from passerelle.invoicing.issue import build_billable_items
    from passerelle_dev.examples import EXAMPLE_SELLER
    from passerelle.invoicing.seller import load_seller

    steps = []
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO staging.project_links (project_key, customer_key, method, confidence, evidence)
            SELECT p.project_key, c.customer_key, 'override', 1, 'benchmark mapping'
              FROM (SELECT project_key, row_number() OVER (ORDER BY project_key) AS n FROM staging.projects) p
              JOIN (SELECT customer_key, row_number() OVER (ORDER BY customer_key) AS n FROM staging.customers
                     WHERE customer_type = 'B2B' AND siren IS NOT NULL AND einvoicing_address IS NOT NULL
                       AND billing_city IS NOT NULL AND billing_postcode IS NOT NULL) c ON c.n = p.n
            ON CONFLICT (project_key) DO NOTHING""")
    conn.commit()
    load_example_billing(conn)
    t0 = time.perf_counter()
    build_billable_items(conn, period_end)
    seconds = time.perf_counter() - t0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM marts.billable_items WHERE item_kind = 'time'")
        items = cur.fetchone()[0]
    conn.rollback()
    steps.append(("billable items (billing SQL)", seconds, f"{items:,} time items"))
    seller = load_seller(json.loads(EXAMPLE_SELLER.read_text(encoding="utf-8")))
    t0 = time.perf_counter()
    drafts = load_drafts(conn, seller, date(period_end.year, 1, 1), period_end)
    seconds = time.perf_counter() - t0
    lines = sum(len(d.invoice.lines) for d in drafts)
    steps.append(("invoice drafts (group items into lines)", seconds, f"{len(drafts):,} invoices, {lines:,} lines"))
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=1_000, help="how many invoices to render and validate")
    parser.add_argument("--profile", action="store_true", help="print each step's costliest functions (slower)")
    args = parser.parse_args()
    documents(args.invoices, args.profile)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
