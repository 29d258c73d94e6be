"""Issuing killed with SIGKILL at each of its steps, then retried; and issuers started at the same time.

Each crash test issues February in a child process killed at one step (``PASSERELLE_CRASH_AT``), then
retries in this process without rebuilding the billable items (an Airflow task retry), then reruns the
whole period. The warehouse and the documents folder must end exactly as after a run never interrupted
(same invoice keys, same numbers, same ledger, same holds), with every number's documents on disk as
recorded and nothing else there. The reference run is made once, on a copy of the same data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from facturx import get_xml_from_pdf
from lxml import etree

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.examples import load_example_billing
from passerelle.invoicing.issue import CRASH_POINTS, DocumentPlan, build_billable_items, issue_period
from passerelle.invoicing.samples import example_seller
from passerelle.paths import PROJECT_ROOT
from passerelle.warehouse.settings import connect
from tests.db import tuples
from tests.fixtures.warehouse import cloned_database
from tests.invoicing.test_issue import FEBRUARY

FORMATS = ("facturx", "cii")
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"


@pytest.fixture(scope="module")
def validator() -> Iterator[CiiValidator]:
    with CiiValidator() as v:
        yield v


def prepare(conn: Any) -> str:
    """February's billable items, with one customer late in the run whose SIRET was spoiled (a held draft)."""
    load_example_billing(conn)
    build_billable_items(conn, FEBRUARY[1])
    [(customer,)] = tuples(conn, """
        SELECT max(c.customer_key) FROM staging.customers c
         WHERE c.customer_type = 'B2B' AND c.siret IS NOT NULL
           AND EXISTS (SELECT FROM marts.billable_items b WHERE b.customer_key = c.customer_key AND b.currency = 'EUR')""")
    with conn.cursor() as cur:
        cur.execute("UPDATE staging.customers SET siret = left(siret, 13) || ((right(siret, 1)::int + 1) %% 10)"
                    " WHERE customer_key = %s", (customer,))
    conn.commit()
    return customer


def snapshot(conn: Any) -> dict[str, Any]:
    """What a period leaves in the warehouse, comparable between two databases."""
    return {
        "numbers": tuples(conn, "SELECT invoice_key, invoice_number, sequence, issue_date FROM marts.invoice_numbers"
                                " ORDER BY sequence"),
        "invoices": tuples(conn, "SELECT invoice_number, invoice_key, customer_key, grand_total, buyer_name"
                                 " FROM marts.invoices ORDER BY 1"),
        "ledger": tuples(conn, "SELECT item_key, invoice_number, line_id, amount FROM billing.invoiced_items ORDER BY 1"),
        "held": tuples(conn, "SELECT invoice_key, rules FROM marts.held_invoices ORDER BY 1"),
    }


def cii_of(root: Path, conn: Any) -> dict[str, bytes]:
    return {number: Path(path).read_bytes() for number, path in tuples(
        conn, "SELECT invoice_number, path FROM marts.invoice_documents WHERE format = 'cii'")}


@pytest.fixture(scope="module")
def reference(warehouse_server_url: str, _staged_template: str, validator, tmp_path_factory) -> Iterator[dict]:
    """February issued once without interruption, on a copy of the staged data."""
    root = tmp_path_factory.mktemp("reference") / "invoices"
    with cloned_database(warehouse_server_url, _staged_template, "crashref") as url:
        conn = connect(url)
        try:
            customer = prepare(conn)
            outcome = issue_period(conn, example_seller(), validator, period_start=FEBRUARY[0],
                                   period_end=FEBRUARY[1], run_id="reference", documents=DocumentPlan(FORMATS, root))
            state = snapshot(conn)
            yield {"state": state, "issued": outcome.issued, "held": sorted(outcome.held), "spoiled": customer,
                   "cii": cii_of(root, conn)}
        finally:
            conn.close()


@pytest.fixture
def period(staged_conn, output) -> Any:
    prepare(staged_conn)
    return staged_conn


@pytest.fixture
def output(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("PASSERELLE_INVOICE_FORMATS", ",".join(FORMATS))
    monkeypatch.delenv("PASSERELLE_CRASH_AT", raising=False)
    return tmp_path / "invoices"


def start_child(url: str, run_id: str, crash_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]),
           "WAREHOUSE_URL": url}
    env.pop("PASSERELLE_CRASH_AT", None)
    if crash_at:
        env["PASSERELLE_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-m", "tests.invoicing.issue_in_child", FEBRUARY[0].isoformat(),
                             FEBRUARY[1].isoformat(), run_id], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished(child: subprocess.Popen) -> tuple[int, dict | None]:
    out, err = child.communicate(timeout=300)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return child.returncode, (json.loads(lines[-1]) if lines else None) if child.returncode == 0 else None


def issue_here(conn: Any, validator: Any, run_id: str):
    return issue_period(conn, example_seller(), validator, period_start=FEBRUARY[0], period_end=FEBRUARY[1],
                        run_id=run_id)


def files_under(root: Path) -> set[str]:
    return {str(path) for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def assert_whole(conn: Any, root: Path, reference: dict) -> None:
    """The period as the uninterrupted run left it, and every number's documents on disk, nothing more."""
    state = snapshot(conn)
    assert [s for _, _, s, _ in state["numbers"]] == list(range(1, len(reference["issued"]) + 1))  # no gap, no twice
    for part in ("numbers", "invoices", "ledger", "held"):
        assert state[part] == reference["state"][part], part
    documents = tuples(conn, "SELECT invoice_number, format, path, sha256 FROM marts.invoice_documents")
    numbers = [n for _, n, _, _ in state["numbers"]]
    assert sorted((n, f) for n, f, _, _ in documents) == sorted((n, f) for n in numbers for f in FORMATS)
    for _, _, path, sha256 in documents:
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256, path
    assert files_under(root) == {path for _, _, path, _ in documents}  # no orphan, no temporary file
    assert cii_of(root, conn) == reference["cii"]  # each number's document is its own invoice's
    buyers = {number: name for number, _, _, _, name in state["invoices"]}
    for number, _, path, _ in documents:
        if path.endswith(".pdf"):
            _, xml = get_xml_from_pdf(Path(path).read_bytes(), check_xsd=False)
            tree = etree.fromstring(xml)
            assert tree.findtext(f".//{RAM}BuyerTradeParty/{RAM}Name") == buyers[number]


# (step, n-th time reached, invoices committed when the run is killed)
CRASHES = [
    ("period.locked", 1, 0),
    ("draft.checked", 3, 2),     # before numbering
    ("draft.numbered", 3, 2),    # numbered, invoice not saved
    ("draft.saved", 3, 2),       # invoice saved, ledger not written
    ("draft.ledger", 3, 2),      # ledger written, documents not
    ("document.temporary", 4, 1),  # second document of the second invoice half-written (a temporary file)
    ("draft.documents", 3, 2),   # documents renamed into place, not committed
    ("draft.committed", 3, 3),   # between two invoices
    ("draft.held", 1, None),     # recording the spoiled customer's hold
]


def test_every_step_has_a_crash_test() -> None:
    assert {step for step, _, _ in CRASHES} == set(CRASH_POINTS)


@pytest.mark.parametrize(("step", "nth", "committed"), CRASHES, ids=[f"{s}:{n}" for s, n, _ in CRASHES])
def test_a_run_killed_at_any_step_is_retried_into_the_same_period(period, staged_warehouse_url, output, validator,
                                                                  reference, step, nth, committed) -> None:
    child = start_child(staged_warehouse_url, "killed", f"{step}:{nth}")
    code, _ = finished(child)
    assert code == -signal.SIGKILL, f"the run was not killed at {step}:{nth} (exit {code})"
    done = tuples(period, "SELECT invoice_number FROM marts.invoices ORDER BY 1")
    if committed is not None:
        assert len(done) == committed
    left = files_under(output) - {p for (p,) in tuples(period, "SELECT path FROM marts.invoice_documents")}
    if step in ("document.temporary", "draft.documents"):
        assert left, "the killed run left no file behind: the step was not reached where expected"

    retry = issue_here(period, validator, "retry")  # the Airflow retry: billable items not rebuilt
    assert retry.issued == [n for n in reference["issued"] if (n,) not in done]  # only what it issued itself
    assert retry.already == [] and sorted(retry.held) == reference["held"]
    assert set(retry.cleaned) == left
    assert_whole(period, output, reference)

    build_billable_items(period, FEBRUARY[1])  # and the whole DAG run again
    rerun = issue_here(period, validator, "rerun")
    assert rerun.issued == [] and rerun.cleaned == []
    assert_whole(period, output, reference)


def test_an_orphan_document_is_not_taken_for_the_next_invoice_of_its_number(period, staged_warehouse_url, output,
                                                                            validator, reference, monkeypatch) -> None:
    """Killed between renaming the third invoice's documents and committing; before the retry, that draft's
    customer is spoiled (it is held) and only Factur-X is wanted: its number goes to the next invoice, whose
    PDF replaces the orphan, and the orphan CII of the held customer is removed, not left under that number."""
    code, _ = finished(start_child(staged_warehouse_url, "killed", "draft.documents:3"))
    assert code == -signal.SIGKILL
    third = reference["state"]["numbers"][2]
    assert tuples(period, "SELECT count(*) FROM marts.invoices WHERE invoice_number = %s", third[1]) == [(0,)]
    customer, buyer = next((c, b) for n, _, c, _, b in reference["state"]["invoices"] if n == third[1])
    orphans = sorted(files_under(output))
    assert [Path(p).name for p in orphans if third[1] in p] == [f"{third[1]}.cii.xml", f"{third[1]}.pdf"]
    with period.cursor() as cur:
        cur.execute("UPDATE staging.customers SET siret = left(siret, 13) || ((right(siret, 1)::int + 1) %% 10)"
                    " WHERE customer_key = %s", (customer,))
    period.commit()
    monkeypatch.setenv("PASSERELLE_INVOICE_FORMATS", "facturx")

    retry = issue_here(period, validator, "retry")
    assert customer in {c for (c,) in tuples(period, "SELECT customer_key FROM marts.held_invoices")}
    assert third[1] in retry.issued
    documents = dict(tuples(period, "SELECT path, invoice_number FROM marts.invoice_documents"))
    assert files_under(output) == set(documents)  # the orphan CII is gone
    (new_buyer,) = tuples(period, "SELECT buyer_name FROM marts.invoices WHERE invoice_number = %s", third[1])[0]
    assert new_buyer != buyer
    pdf = next(path for path, number in documents.items() if number == third[1])
    _, xml = get_xml_from_pdf(Path(pdf).read_bytes(), check_xsd=False)
    assert etree.fromstring(xml).findtext(f".//{RAM}BuyerTradeParty/{RAM}Name") == new_buyer
    sequences = [s for (s,) in tuples(period, "SELECT sequence FROM marts.invoice_numbers ORDER BY 1")]
    assert sequences == list(range(1, len(sequences) + 1))


def test_two_issuers_started_together_issue_each_number_once_and_report_their_own(
        period, staged_warehouse_url, output, reference) -> None:
    first, second = start_child(staged_warehouse_url, "one"), start_child(staged_warehouse_url, "two")
    (code_one, one), (code_two, two) = finished(first), finished(second)
    assert code_one == code_two == 0
    assert sorted([one["issued"], two["issued"]], key=len) == [[], reference["issued"]]  # one did all, one nothing
    assert one["already"] == two["already"] == []
    assert one["held"] == two["held"] == reference["held"]
    assert_whole(period, output, reference)


def test_an_issuer_started_during_another_waits_for_it_and_reports_nothing_done(
        period, staged_warehouse_url, output, validator, reference, caplog) -> None:
    child = start_child(staged_warehouse_url, "first")
    deadline = time.monotonic() + 120
    while not tuples(period, "SELECT 1 FROM marts.invoices LIMIT 1"):  # the first run is issuing
        assert child.poll() is None and time.monotonic() < deadline, "the first run ended before issuing"
        time.sleep(0.02)
    with caplog.at_level(logging.INFO, logger="passerelle.invoicing.numbering"):
        second = issue_here(period, validator, "second")
    code, first = finished(child)
    assert code == 0 and "another run is issuing" in caplog.text  # it did wait
    assert first["issued"] == reference["issued"]
    assert second.issued == [] and second.already == [] and sorted(second.held) == reference["held"]
    assert_whole(period, output, reference)
