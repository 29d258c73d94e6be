"""The invoice read back from the warehouse is the invoice issued: every field, every BT, the same documents.

Each property saves a random invoice into a real migrated warehouse, loads it back in the same transaction
(rolled back after each example) and demands: the same model, field by field and type by type; Decimals in
the documented form (money with two decimals, other figures without trailing zeros, stated allowance amounts
and exemption rates exactly as written); the same ``data_dict`` (every BT the documents carry); and CII and
UBL renderings whose canonical XML (C14N) is byte-identical to those of the invoice issued.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg2.extensions
import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from passerelle.documents.facturx_data import data_dict
from passerelle.documents.render import render_cii, render_ubl
from passerelle.invoicing import store
from passerelle.einvoice.amounts import compute
from passerelle.einvoice.model import Invoice, InvoiceLine, Note, Party, PrecedingInvoice
from passerelle_dev.samples import b2b_multi_rate, credit_note
from tests.invoicing.strategies import (
    EARLIER_INVOICE, SAMPLE_TEXTS, bare_invoices, fully_described_invoices, invoices,
)

D = Decimal
ROUND_TRIPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

MONEY_FIELDS = {"base_amount", "prepaid_amount", "rounding_amount"}  # two decimals, as the documents print them
STATED_FIELDS = {"amount"}  # the allowance/charge amount as stated: scale kept


# --- the round trip -----------------------------------------------------------------------------------


def _register(cur: Any, number: str, issued: date, sequence: int) -> None:
    """marts.invoices and its BT-25 column refer to marts.invoice_numbers: the numbers must exist."""
    cur.execute("INSERT INTO marts.invoice_numbers (invoice_number, seller_siren, fiscal_year, sequence, issue_date,"
                " invoice_key, run_id) VALUES (%s, '732829320', %s, %s, %s, %s, 'test') ON CONFLICT DO NOTHING",
                (number, issued.year, sequence, issued, f"number:{number}"))


def round_trip(conn: psycopg2.extensions.connection, invoice: Invoice) -> Invoice:
    """save then load in one transaction, rolled back so the next example starts from the same warehouse."""
    try:
        with conn.cursor() as cur:
            _register(cur, invoice.number, invoice.issue_date, 1)
            if invoice.preceding:
                _register(cur, invoice.preceding[0].number, invoice.preceding[0].issue_date, 2)
            store.save(cur, invoice, compute(invoice), invoice_key=f"test:{invoice.number}", customer_key="test:1",
                       status="ready", run_id="test")
            return store.load(cur, invoice.number)
    finally:
        conn.rollback()


def canonical(xml: bytes) -> bytes:
    return etree.tostring(etree.fromstring(xml), method="c14n")


def is_normal(value: Decimal) -> bool:
    """No exponent notation and no trailing zero after the point: 20, 5.5, 0.0591."""
    sign, digits, exponent = value.as_tuple()
    return exponent <= 0 and (exponent == 0 or digits[-1] != 0)


def assert_same(issued: Any, loaded: Any, path: str = "invoice", name: str = "") -> None:
    """Field by field, type by type, with the documented form for Decimals; names the first difference."""
    assert type(loaded) is type(issued), f"{path}: {type(issued).__name__} became {type(loaded).__name__}"
    if is_dataclass(issued):
        for field in fields(issued):
            assert_same(getattr(issued, field.name), getattr(loaded, field.name), f"{path}.{field.name}", field.name)
    elif isinstance(issued, tuple):
        assert len(loaded) == len(issued), f"{path}: {len(issued)} items became {len(loaded)}"
        for index, (a, b) in enumerate(zip(issued, loaded)):
            assert_same(a, b, f"{path}[{index}]", name)
    elif isinstance(issued, dict):
        assert len(loaded) == len(issued), path
        for (key_a, value_a), (key_b, value_b) in zip(issued.items(), loaded.items()):
            assert_same(key_a, key_b, f"{path} key", "exemption key")
            assert_same(value_a, value_b, f"{path}[{key_a}]")
    elif isinstance(issued, Decimal):
        assert loaded == issued, f"{path}: {issued} became {loaded}"
        if name in MONEY_FIELDS:
            assert loaded.as_tuple().exponent == -2, f"{path}: {loaded!r} is not written to the cent"
        elif name in STATED_FIELDS or name == "exemption key":
            assert loaded.as_tuple() == issued.as_tuple(), f"{path}: {issued!r} came back as {loaded!r}"
        else:
            assert is_normal(loaded), f"{path}: {loaded!r} is not in normal form"
    else:
        assert loaded == issued, f"{path}: {issued!r} became {loaded!r}"


def assert_round_trip(issued: Invoice, loaded: Invoice) -> None:
    assert_same(issued, loaded)
    assert loaded == issued
    assert data_dict(loaded) == data_dict(issued)
    assert canonical(render_cii(loaded)) == canonical(render_cii(issued))
    assert canonical(render_ubl(loaded)) == canonical(render_ubl(issued))


@given(invoice=fully_described_invoices())
@ROUND_TRIPS
def test_an_invoice_with_every_optional_bt_comes_back_as_issued(warehouse_conn: Any, invoice: Invoice) -> None:
    assert_round_trip(invoice, round_trip(warehouse_conn, invoice))


@given(invoice=bare_invoices())
@ROUND_TRIPS
def test_an_invoice_with_no_optional_bt_comes_back_as_issued(warehouse_conn: Any, invoice: Invoice) -> None:
    assert_round_trip(invoice, round_trip(warehouse_conn, invoice))


@given(invoice=invoices(max_lines=12))
@ROUND_TRIPS
def test_the_invoices_the_pipeline_issues_come_back_as_issued(warehouse_conn: Any, invoice: Invoice) -> None:
    assert_round_trip(invoice, round_trip(warehouse_conn, invoice))


# --- the generator really sets every optional BT, or none ----------------------------------------------

TOP_LEVEL_OPTIONAL = {"BT-6", "BT-10", "BT-11", "BT-12", "BT-13", "BT-72", "BT-73", "BT-74", "BT-83", "BT-84", "BT-86",
                      "BT-107", "BT-108", "BT-111", "BT-113", "BT-114", "BG-3", "BG-13", "BG-20", "BG-21"}
PARTY_OPTIONAL = {"identifiers", "legal_identifier", "vat_identifier", "einvoicing_addr", "biz_name", "contacts",
                  "addr_l1", "postcode", "city"}
LINE_OPTIONAL = {"BT-154", "BT-155", "BT-134", "BT-135", "BT-127-00", "BG-27", "BG-28"}


def _unset(value: Any, *, optional_only: tuple[type, ...]) -> list[str]:
    """Fields of ``value`` (and of its parties and lines) still None or empty."""
    found = [f"{type(value).__name__}.{f.name}" for f in fields(value) if getattr(value, f.name) in (None, (), {})]
    for field in fields(value):
        child = getattr(value, field.name)
        children = child if isinstance(child, tuple) else (child,)
        found += [name for item in children if isinstance(item, optional_only)
                  for name in _unset(item, optional_only=optional_only)]
    return found


@given(invoice=fully_described_invoices())
@settings(max_examples=30, deadline=None)
def test_the_fully_described_invoices_set_every_field_and_emit_every_optional_bt(invoice: Invoice) -> None:
    assert _unset(invoice, optional_only=(Party, InvoiceLine)) == []
    assert len(invoice.preceding) >= 3 and len(invoice.notes) >= 1
    data = data_dict(invoice)
    assert TOP_LEVEL_OPTIONAL <= data.keys()
    for party in ("BG-4", "BG-7"):
        assert PARTY_OPTIONAL <= data[party].keys(), party
    for line in data["BG-25"]:
        assert LINE_OPTIONAL <= line.keys()


@given(invoice=bare_invoices())
@settings(max_examples=30, deadline=None)
def test_the_bare_invoices_emit_no_optional_bt(invoice: Invoice) -> None:
    data = data_dict(invoice)
    assert TOP_LEVEL_OPTIONAL & data.keys() <= {"BT-6", "BT-72", "BT-111"}  # currency-driven, and the delivery date
    assert PARTY_OPTIONAL & data["BG-7"].keys() == set()
    assert all(LINE_OPTIONAL & line.keys() == set() for line in data["BG-25"])


# --- the marts BI tools read ---------------------------------------------------------------------------


def _unicode_invoice() -> Invoice:
    """The multi-rate sample with every reference, names and notes in several scripts, three BG-3 entries."""
    issued = b2b_multi_rate()
    cjk, emoji, accents = SAMPLE_TEXTS[1], SAMPLE_TEXTS[2], SAMPLE_TEXTS[0]
    lines = (replace(issued.lines[0], line_id="10", note=emoji, description=cjk),) + tuple(
        replace(line, line_id=str(index)) for index, line in enumerate(issued.lines[1:], start=2))
    return replace(
        issued, number="MS2026-000777", lines=lines,
        seller=replace(issued.seller, trading_name=accents, email="facturation@maury.example",
                       electronic_address_scheme="EM"),
        buyer=replace(issued.buyer, name=cjk, trading_name=emoji, email="ap@dupont.example"),
        buyer_reference="SERVICE-ACHATS-🧾", purchase_order="PO-東京-42", contract_reference="CT-2026-Ærø",
        project_reference="PRJ-ελ", payment_reference="VIR MS2026-000777 😀", delivery_name="Entrepôt « Nord »",
        delivery_address=issued.buyer.address,
        notes=issued.notes + (Note("AAI", f"{cjk} {emoji} {accents}"),),
        preceding=(EARLIER_INVOICE, PrecedingInvoice("ANCIEN-2019-0001", date(2019, 6, 30)),
                   PrecedingInvoice("旧-0002", date(2020, 1, 15))),
    )


def test_the_business_terms_are_real_columns_with_any_unicode(warehouse_conn: Any) -> None:
    issued = _unicode_invoice()
    try:
        with warehouse_conn.cursor() as cur:
            _register(cur, issued.number, issued.issue_date, 1)
            _register(cur, EARLIER_INVOICE.number, EARLIER_INVOICE.issue_date, 2)
            store.save(cur, issued, compute(issued), invoice_key="test:unicode", customer_key=None, status="ready",
                       run_id="test")
            cur.execute("SELECT buyer_reference, purchase_order, contract_reference, project_reference,"
                        " payment_reference, delivery_name, seller_trading_name, seller_email,"
                        " seller_electronic_scheme, buyer_name, buyer_trading_name, buyer_email, preceding_number"
                        " FROM marts.invoices WHERE invoice_number = %s", (issued.number,))
            header = cur.fetchone()
            cur.execute("SELECT line_id, note, position FROM marts.invoice_lines WHERE invoice_number = %s"
                        " ORDER BY position", (issued.number,))
            lines = cur.fetchall()
            cur.execute("SELECT position, preceding_number, preceding_issue_date FROM marts.invoice_preceding_invoices"
                        " WHERE invoice_number = %s ORDER BY position", (issued.number,))
            preceding = cur.fetchall()
            loaded = store.load(cur, issued.number)
    finally:
        warehouse_conn.rollback()
    assert header == ("SERVICE-ACHATS-🧾", "PO-東京-42", "CT-2026-Ærø", "PRJ-ελ", "VIR MS2026-000777 😀",
                      "Entrepôt « Nord »", SAMPLE_TEXTS[0], "facturation@maury.example", "EM", SAMPLE_TEXTS[1],
                      SAMPLE_TEXTS[2], "ap@dupont.example", EARLIER_INVOICE.number)
    assert lines[0] == ("10", SAMPLE_TEXTS[2], 1) and [row[0] for row in lines] == ["10", "2", "3", "4", "5", "6"]
    assert preceding == [(1, "MS2025-000042", date(2025, 12, 31)), (2, "ANCIEN-2019-0001", date(2019, 6, 30)),
                         (3, "旧-0002", date(2020, 1, 15))]
    assert_round_trip(issued, loaded)


def test_a_figure_the_columns_would_round_is_refused_not_stored(warehouse_conn: Any) -> None:
    issued = b2b_multi_rate()
    too_fine = replace(issued, lines=(replace(issued.lines[0], quantity=D("1.00005")),) + issued.lines[1:])
    try:
        with warehouse_conn.cursor() as cur:
            _register(cur, issued.number, issued.issue_date, 1)
            with pytest.raises(store.StoreError, match=r"line 1 quantity \(BT-129\) = 1.00005"):
                store.save(cur, too_fine, compute(too_fine), invoice_key="test:fine", customer_key=None,
                           status="ready", run_id="test")
            cur.execute("SELECT count(*) FROM marts.invoices")
            assert cur.fetchone() == (0,)
    finally:
        warehouse_conn.rollback()


def test_rows_written_before_the_record_columns_still_load(warehouse_conn: Any) -> None:
    """No line position, no stated amount, BG-3 only in the header columns: the order and reference they implied."""
    sample = b2b_multi_rate()
    issued = replace(credit_note(sample), lines=sample.lines[:1] + sample.lines[2:], preceding=(EARLIER_INVOICE,),
                     allowances_charges=sample.allowances_charges, exemptions=sample.exemptions)
    try:
        with warehouse_conn.cursor() as cur:
            _register(cur, issued.number, issued.issue_date, 1)
            _register(cur, EARLIER_INVOICE.number, EARLIER_INVOICE.issue_date, 2)
            store.save(cur, issued, compute(issued), invoice_key="test:legacy", customer_key=None, status="ready",
                       run_id="test")
            cur.execute("UPDATE marts.invoice_lines SET position = NULL")
            cur.execute("UPDATE marts.invoice_allowances_charges SET amount_given = NULL")
            cur.execute("DELETE FROM marts.invoice_preceding_invoices")
            loaded = store.load(cur, issued.number)
    finally:
        warehouse_conn.rollback()
    assert_round_trip(issued, loaded)
