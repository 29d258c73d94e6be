"""``make bench`` (third part): invoice documents, and invoice lines from a million time entries.

Documents: 1,000 invoices of every kind (multi-rate domestic B2B with discounts and charges, intra-EU,
export in CHF, B2C, USD, credit notes) are rendered — CII, then the Factur-X PDF/A-3 — and validated
against the XSD, the EN 16931 and the BR-FR schematrons, with each stylesheet compiled once. Generation
and validation are timed separately and printed as invoices per second.

Invoice lines: :func:`time_entry_lines` is called by the staging benchmark once its 1,000,000 time
entries are in staging; it maps the projects to customers, runs the billing SQL and groups the items
into invoice drafts, timing each step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import replace
from datetime import date
from typing import Any


def sample_invoices(count: int) -> list[Any]:
    """``count`` invoices cycling through the sample kinds, each with its own number."""
    from passerelle.invoicing.samples import ALL

    kinds = list(ALL.values())
    invoices = []
    for index in range(count):
        invoice = kinds[index % len(kinds)]()
        invoices.append(replace(invoice, number=f"BENCH2026-{index + 1:06d}"))
    return invoices


def documents(count: int) -> None:
    from passerelle.documents.pdf import render_facturx
    from passerelle.documents.render import render_cii
    from passerelle.documents.validation import CiiValidator, has_fatal

    invoices = sample_invoices(count)
    t0 = time.perf_counter()
    xml = [render_cii(invoice) for invoice in invoices]
    cii_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    pdfs = [render_facturx(invoice, document) for invoice, document in zip(invoices, xml)]
    pdf_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    validator = CiiValidator()
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    failed = sum(1 for document in xml if has_fatal(validator.validate(document)))
    validate_seconds = time.perf_counter() - t0
    validator.close()
    print(f"\ninvoice documents: {count:,} invoices ({sum(len(p) for p in pdfs) / count / 1024:.0f} KiB per PDF)")
    print(f"{'step':<44} {'seconds':>9}  {'invoices/s':>10}")
    print(f"{'generate CII XML':<44} {cii_seconds:>9.2f}  {count / cii_seconds:>10.1f}")
    print(f"{'generate Factur-X PDF/A-3 (CII embedded)':<44} {pdf_seconds:>9.2f}  {count / pdf_seconds:>10.1f}")
    print(f"{'generate both':<44} {cii_seconds + pdf_seconds:>9.2f}  {count / (cii_seconds + pdf_seconds):>10.1f}")
    print(f"{'compile XSD + 2 schematrons (once)':<44} {compile_seconds:>9.2f}")
    print(f"{'validate (XSD, EN 16931, BR-FR)':<44} {validate_seconds:>9.2f}  {count / validate_seconds:>10.1f}")
    print(f"documents with a fatal finding: {failed}")


def time_entry_lines(conn: Any, period_end: date) -> list[tuple[str, float, str]]:
    """Map every project to a customer, then time the billing SQL and the grouping into invoice lines."""
    from passerelle.invoicing.drafts import load_drafts
    from passerelle.invoicing.examples import load_example_billing
    from passerelle.invoicing.issue import build_billable_items
    from passerelle.invoicing.examples import EXAMPLE_SELLER
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
    parser.add_argument("--invoices", type=int, default=1_000)
    args = parser.parse_args()
    documents(args.invoices)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
