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
from passerelle_dev.examples import load_example_billing
from passerelle.invoicing.issue import CRASH_POINTS, DocumentPlan, build_billable_items, issue_period
from passerelle_dev.samples import example_seller
from passerelle.paths import PROJECT_ROOT
from passerelle.warehouse.settings import connect
from tests.db import tuples
from tests.fixtures.warehouse import cloned_database
from tests.invoicing.test_issue import FEBRUARY

FORMATS = ("facturx", "cii")
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
RSM = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}"


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


def documents_of(conn: Any) -> dict[tuple[str, str], bytes]:
    """Every recorded document's bytes, by (number, format)."""
    return {(number, fmt): Path(path).read_bytes() for number, fmt, path in tuples(
        conn, "SELECT invoice_number, format, path FROM marts.invoice_documents")}


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
                   "cii": cii_of(root, conn), "documents": documents_of(conn),
                   "billable": tuples(conn, "SELECT item_key FROM marts.billable_items ORDER BY 1")}
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


def start_child(url: str, run_id: str, crash_at: str | None = None, *options: str,
                formats: tuple[str, ...] = FORMATS) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]),
           "WAREHOUSE_URL": url, "PASSERELLE_INVOICE_FORMATS": ",".join(formats)}
    env.pop("PASSERELLE_CRASH_AT", None)
    if crash_at:
        env["PASSERELLE_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-m", "tests.invoicing.issue_in_child", FEBRUARY[0].isoformat(),
                             FEBRUARY[1].isoformat(), run_id, *options], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
    assert set(retry.cleaned) == left and retry.completed == []
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
    with period.cursor() as cur:  # a control character XML cannot carry holds a customer of any kind
        cur.execute("UPDATE staging.customers SET legal_name = legal_name || chr(1) WHERE customer_key = %s",
                    (customer,))
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


def committed_numbers(conn: Any) -> list[str]:
    return [n for (n,) in tuples(conn, "SELECT invoice_number FROM marts.invoices ORDER BY 1")]


@pytest.mark.parametrize("missing", ["a format added before the retry", "documents never written"])
def test_invoices_committed_without_their_documents_get_them_when_issuing_is_retried(
        period, staged_warehouse_url, output, validator, reference, missing) -> None:
    """Killed after the third invoice's ledger rows, before its documents: two invoices are committed. Either
    the retry wants a format the killed run did not write, or the two were saved without any document (as
    issued before documents were committed with the invoice). Retrying the issuing callable alone (not the
    DAG's document task) writes them, byte for byte those of the run never interrupted."""
    formats = ("facturx",) if missing.startswith("a format") else FORMATS
    code, _ = finished(start_child(staged_warehouse_url, "killed", "draft.ledger:3", formats=formats))
    assert code == -signal.SIGKILL
    earlier = committed_numbers(period)
    assert earlier == reference["issued"][:2]
    if missing == "documents never written":
        with period.cursor() as cur:
            cur.execute("DELETE FROM marts.invoice_documents RETURNING path")
            removed = [Path(path) for (path,) in cur.fetchall()]
        period.commit()
        for path in removed:
            path.unlink()
    assert not tuples(period, "SELECT 1 FROM marts.invoice_documents WHERE format = 'cii'")

    retry = issue_here(period, validator, "retry")
    assert retry.completed == earlier and retry.cleaned == []
    assert retry.issued == reference["issued"][2:]
    assert_whole(period, output, reference)  # every number's documents on disk, parsed, sequence whole
    assert documents_of(period) == reference["documents"]  # byte-identical to an uninterrupted run's
    ciis = {number: etree.fromstring(content) for (number, fmt), content in documents_of(period).items() if fmt == "cii"}
    assert {number: tree.findtext(f"{RSM}ExchangedDocument/{RAM}ID") for number, tree in ciis.items()} == {
        number: number for number in reference["issued"]}
    assert issue_here(period, validator, "rerun").completed == []


def test_two_issuers_that_both_rebuild_the_items_and_issue_invoice_each_item_once(
        period, staged_warehouse_url, output, reference) -> None:
    """Each rebuilds the billable items then issues, as the DAG's two tasks do, both started together: the
    rebuilds and the issuing queue on the seller's lock, so no rebuild rewrites the items an issuer is
    consuming. One issues the period, the other nothing, and each says what it found and did."""
    children = [start_child(staged_warehouse_url, run, None, "--rebuild") for run in ("one", "two")]
    outcomes = [finished(child) for child in children]
    assert [code for code, _ in outcomes] == [0, 0]
    one, two = (outcome for _, outcome in outcomes)
    assert sorted([one["issued"], two["issued"]], key=len) == [[], reference["issued"]]
    for report in (one, two):
        assert report["already"] == [] and report["held"] == reference["held"] and report["completed"] == []
        if not report["issued"]:  # rebuilt before the other issued (the same items) or after (only the held)
            assert report["billable_items"] in (len(reference["billable"]), held_items(period))
    issuer = one if one["issued"] else two
    assert issuer["billable_items"] == len(reference["billable"])
    assert tuples(period, "SELECT item_key FROM billing.invoiced_items GROUP BY 1 HAVING count(*) > 1") == []
    assert_whole(period, output, reference)


def held_items(conn: Any) -> int:
    """How many billable items are left once the period is issued: those of the held drafts."""
    return tuples(conn, "SELECT count(*) FROM marts.billable_items b WHERE NOT EXISTS"
                        " (SELECT FROM billing.invoiced_items ii WHERE ii.item_key = b.item_key)")[0][0]


def test_the_billable_items_are_not_rebuilt_while_another_run_is_issuing(
        period, staged_warehouse_url, output, validator, reference, caplog) -> None:
    child = start_child(staged_warehouse_url, "first")
    deadline = time.monotonic() + 120
    while not tuples(period, "SELECT 1 FROM marts.invoices LIMIT 1"):  # the first run is issuing
        assert child.poll() is None and time.monotonic() < deadline, "the first run ended before issuing"
        time.sleep(0.02)
    with caplog.at_level(logging.INFO, logger="passerelle.invoicing.numbering"):
        built = build_billable_items(period, FEBRUARY[1], seller_siren=example_seller().siren)
    assert "another run is issuing" in caplog.text
    assert committed_numbers(period) == sorted(reference["issued"])  # it waited for the whole period
    assert tuples(period, "SELECT count(*) FROM marts.billable_items b JOIN billing.invoiced_items ii"
                          " USING (item_key)") == [(0,)]  # and left out everything invoiced meanwhile
    assert built.items == held_items(period) > 0
    code, first = finished(child)
    assert code == 0 and first["issued"] == reference["issued"]
    second = issue_here(period, validator, "second")
    assert second.issued == [] and sorted(second.held) == reference["held"]
    assert_whole(period, output, reference)
