"""Invoice lifecycle statuses: what the platform and the buyer report, and the 212 Passerelle owes.

Statuses 200 (Déposée), 213 (Rejetée) and 210 (Refusée) come from the platform and the buyer;
:func:`record_status` stores them after checking the code and, where BR-FR-CDV-15 requires one, the
reason. Status 212 (Encaissée) is the seller's: it is due for domestic invoices whose VAT is due on
receipt (services, no débits option), once per payment, with the cashed amount split per VAT rate
(``marts.invoice_lifecycle`` carries that split for each invoice).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from passerelle.ereporting.payments import CASHED, REASON_CODES, STATUS_LABELS, requires_reason


def record_status(conn: Any, invoice_number: str, code: int, at: datetime, *, source: str,
                  reason_code: str | None = None, reason: str | None = None) -> None:
    if code not in STATUS_LABELS:
        raise ValueError(f"invoice {invoice_number}: unknown lifecycle status {code}")
    if requires_reason(code) and not reason_code:
        raise ValueError(f"invoice {invoice_number}: status {code} ({STATUS_LABELS[code]}) needs a reason code "
                         "(BR-FR-CDV-15)")
    if reason_code and reason_code not in REASON_CODES:
        raise ValueError(f"invoice {invoice_number}: reason code {reason_code!r} is not a CDAR reason")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO billing.lifecycle_events (invoice_number, status_code, event_at, reason_code, reason,"
                    " source) VALUES (%s, %s, %s, %s, %s, %s)", (invoice_number, code, at, reason_code, reason, source))
    conn.commit()


def cashed_statuses(conn: Any) -> int:
    """Add a 212 for every payment of a domestic invoice taxed on receipt that has none yet; returns how many."""
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO billing.lifecycle_events (invoice_number, status_code, event_at, source, payment_id)
            SELECT p.invoice_number, %s, p.paid_on::timestamptz, 'payments', p.payment_id
              FROM billing.payments p JOIN marts.invoices i USING (invoice_number)
             WHERE i.processing_rule = 'B2B' AND i.vat_point = 'payment' AND i.type_code = '380'
               AND NOT EXISTS (SELECT FROM billing.lifecycle_events e WHERE e.payment_id = p.payment_id)""", (CASHED,))
        added = cur.rowcount
    conn.commit()
    return added
