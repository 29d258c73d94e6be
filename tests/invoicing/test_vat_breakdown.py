"""Issued invoices: each exemption text and VATEX code fits its breakdown row, and goods and services are
invoiced apart so each document's VAT point (BT-8) and nature (BT-23) are right for all its lines."""

from __future__ import annotations

from datetime import date

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.drafts import _draft_keys, load_drafts
from passerelle_dev.examples import load_example_billing
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle_dev.samples import example_seller
from tests.db import tuples

# (category, goods?) -> VATEX code and the article the text must cite; written here from the CGI, not imported
EXPECTED = {("E", False): ("VATEX-FR-CGI261-4", "261-4-4° a"), ("AE", False): ("VATEX-EU-AE", "article 196"),
            ("K", True): ("VATEX-EU-IC", "262 ter I"), ("G", True): ("VATEX-EU-G", "262 I du CGI"),
            ("G", False): ("VATEX-EU-G", "259-1")}


def test_breakdown_mentions_vat_points_and_split_keys(staged_conn) -> None:
    load_example_billing(staged_conn)
    build_billable_items(staged_conn, date(2026, 2, 28))
    with CiiValidator() as validator:
        outcome = issue_period(staged_conn, example_seller(), validator, period_start=date(2026, 2, 1),
                               period_end=date(2026, 2, 28), run_id="feb")
    assert outcome.issued and not outcome.held
    rows = tuples(staged_conn, """
        SELECT b.invoice_number, b.vat_category, b.exemption_code, b.exemption_reason,
               array_agg(DISTINCT l.is_goods), i.vat_point, i.business_process, i.invoice_key
          FROM marts.invoice_vat_breakdown b JOIN marts.invoices i USING (invoice_number)
          JOIN marts.invoice_lines l ON l.invoice_number = b.invoice_number AND l.vat_category = b.vat_category
         GROUP BY 1, 2, 3, 4, 6, 7, 8""")
    seen = set()
    for number, category, code, reason, natures, point, process, key in rows:
        assert len(natures) == 1, f"{number} mixes goods and services"
        goods = natures[0]
        assert point == ("delivery" if goods else "payment") and process == ("B1" if goods else "S1"), number
        if category == "S":
            assert code is None and reason is None
            continue
        expected_code, article = EXPECTED[(category, goods)]
        assert code == expected_code and article in reason, (number, category, reason)
        assert "283-2" not in reason
        seen.add((category, goods))
    assert {("AE", False), ("K", True), ("G", True), ("G", False), ("E", False)} <= seen
    # a customer with goods and services has two invoices, keyed :B and :S under the same n
    keys = [key for (key,) in tuples(staged_conn, "SELECT invoice_key FROM marts.invoices")]
    split = [key for key in keys if key.endswith((":B", ":S"))]
    assert split and len(keys) == len(set(keys))
    assert {key[:-2] for key in split if key.endswith(":B")} & {key[:-2] for key in split if key.endswith(":S")}
    build_billable_items(staged_conn, date(2026, 2, 28))
    assert load_drafts(staged_conn, example_seller(), date(2026, 2, 1), date(2026, 2, 28)) == []  # nothing twice


def test_draft_keys_keep_the_existing_format_and_never_collide() -> None:
    p = "2026-02-28:c:EUR"
    assert _draft_keys(p, ["S"], False, set()) == {"S": f"{p}:1"}  # unchanged for a single-nature draft
    assert _draft_keys(p, ["S"], False, {f"{p}:1"}) == {"S": f"{p}:2"}
    assert _draft_keys(p, ["B", "S"], True, {f"{p}:1"}) == {"B": f"{p}:2:B", "S": f"{p}:2:S"}
    # the held services half of a split invoice keeps its key; new goods after an issued split get a new n
    assert _draft_keys(p, ["S"], False, {f"{p}:1:B"}) == {"S": f"{p}:1:S"}
    assert _draft_keys(p, ["B"], False, {f"{p}:1:B", f"{p}:1:S"}) == {"B": f"{p}:2"}
    assert _draft_keys(p, ["M"], False, {f"{p}:1:B"}) == {"M": f"{p}:2"}
