"""Issue a billing period in a process of its own, as the ``issue_invoices`` task does; print its outcome.

``python -m tests.invoicing.issue_in_child <period start> <period end> <run id> [--rebuild]``, with
``WAREHOUSE_URL`` (kept out of the command line, which any local user can read), ``PASSERELLE_OUTPUT_DIR``,
``PASSERELLE_INVOICE_FORMATS`` and, to kill it at a step, ``PASSERELLE_CRASH_AT`` in the environment.
``--rebuild`` first rebuilds the billable items under the seller's lock, as the DAG's task before issuing
does. The outcome is one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle_dev.samples import example_seller
from passerelle.warehouse.settings import connect


def main(start: str, end: str, run_id: str, *options: str) -> None:
    seller = example_seller()
    conn = connect(os.environ["WAREHOUSE_URL"])
    built = None
    try:
        if "--rebuild" in options:
            built = build_billable_items(conn, date.fromisoformat(end), seller_siren=seller.siren).items
        with CiiValidator() as validator:
            outcome = issue_period(conn, seller, validator, period_start=date.fromisoformat(start),
                                   period_end=date.fromisoformat(end), run_id=run_id)
    finally:
        conn.close()
    print(json.dumps({"issued": outcome.issued, "already": outcome.already, "held": sorted(outcome.held),
                      "cleaned": outcome.cleaned, "completed": outcome.completed, "billable_items": built}))


if __name__ == "__main__":
    main(*sys.argv[1:])
