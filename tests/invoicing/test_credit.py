"""Credit notes through the CLI: full, by lines, by amount; never more than the invoice; validated like invoices."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from lxml import etree

from passerelle.documents.render import render_cii
from passerelle.documents.validation import CiiValidator
from passerelle.invoicing import store
from passerelle.invoicing.credit import CreditRefused, credit_invoice, main, parse_request
from passerelle_dev.examples import EXAMPLE_SELLER, load_example_billing
from passerelle.invoicing.issue import DocumentPlan, build_billable_items, issue_period
from passerelle_dev.samples import example_seller
from tests.db import tuples

FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))
NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def validator():
    with CiiValidator() as v:
        yield v


@pytest.fixture
def february(staged_conn, staged_warehouse_url, validator, monkeypatch, tmp_path):
    monkeypatch.setenv("WAREHOUSE_URL", staged_warehouse_url)
    monkeypatch.setenv("PASSERELLE_SELLER_FILE", str(EXAMPLE_SELLER))
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("PASSERELLE_INVOICE_FORMATS", "facturx")
    load_example_billing(staged_conn)
    build_billable_items(staged_conn, FEBRUARY[1])
    outcome = issue_period(staged_conn, example_seller(), validator, period_start=FEBRUARY[0], period_end=FEBRUARY[1],
                           run_id="feb")
    assert outcome.issued and not outcome.held
    return staged_conn


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (out if code == 0 else err).strip()


def test_partial_credits_by_line_and_amount_then_over_crediting_is_refused(february, capsys) -> None:
    conn = february
    # a domestic services invoice of several lines whose first line has several hours, no discount
    number, line_id, quantity, price, rate, total = tuples(conn, """
        SELECT i.invoice_number, l.line_id, l.quantity, l.net_price, l.vat_rate, i.grand_total
          FROM marts.invoices i JOIN marts.invoice_lines l USING (invoice_number)
         WHERE i.processing_rule = 'B2B' AND l.unit_code = 'HUR' AND l.quantity > 2 AND l.vat_category = 'S'
           AND NOT EXISTS (SELECT FROM marts.invoice_allowances_charges a WHERE a.invoice_number = i.invoice_number)
           AND (SELECT count(*) FROM marts.invoice_lines o WHERE o.invoice_number = i.invoice_number) > 1
         ORDER BY i.invoice_number, l.line_id LIMIT 1""")[0]
    items = tuples(conn, "SELECT count(*) FROM billing.invoiced_items WHERE invoice_number = %s AND line_id = %s",
                   number, line_id)[0][0]
    assert items > 0

    code, first = cli(number, "--reason", "heures non réalisées", "--line", f"{line_id}=1.5", "--settlement", "refund",
                      "--run-id", "r1", capsys=capsys)
    assert code == 0, first
    net = cents(Decimal("1.5") * price)
    expected = net + cents(net * rate / 100)  # recomputed here, independently of the amounts module
    assert tuples(conn, "SELECT type_code, preceding_number, tax_basis_total, grand_total, payment_terms"
                        " FROM marts.invoices WHERE invoice_number = %s", first) == [
        ("381", number, net, expected, "Avoir remboursé par virement sous 30 jours")]
    assert tuples(conn, "SELECT line_id, quantity FROM marts.invoice_lines WHERE invoice_number = %s", first) == [
        (line_id, Decimal("1.5"))]
    # partly credited: its items stay invoiced
    assert tuples(conn, "SELECT count(*) FROM billing.invoiced_items WHERE invoice_number = %s AND credited_by IS NOT"
                        " NULL", number) == [(0,)]
    assert tuples(conn, "SELECT count(*) FROM marts.invoice_documents WHERE invoice_number = %s", first) == [(1,)]

    # the document: BG-3 names the invoice, BT-20 the settlement, no due date (BT-9)
    root = etree.fromstring(render_cii(store.load(conn.cursor(), first)))
    assert root.findtext(".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID", namespaces=NS) == number
    assert root.find(".//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime", namespaces=NS) is not None
    assert root.findtext(".//ram:SpecifiedTradePaymentTerms/ram:Description", namespaces=NS) == \
        "Avoir remboursé par virement sous 30 jours"
    assert root.find(".//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime", namespaces=NS) is None

    # more than what is left of the line: refused, no number taken
    numbers = tuples(conn, "SELECT count(*) FROM marts.invoice_numbers")
    code, message = cli(number, "--reason", "trop", "--line", f"{line_id}={quantity}", "--run-id", "r2", capsys=capsys)
    assert code == 2 and f"line {line_id}: {quantity} asked, only {quantity - Decimal('1.5')} left" in message
    assert tuples(conn, "SELECT count(*) FROM marts.invoice_numbers") == numbers

    # the rest of the line: its items are released, billable again
    code, second = cli(number, "--reason", "solde de la ligne", "--line", f"{line_id}={quantity - Decimal('1.5')}",
                       "--run-id", "r3", capsys=capsys)
    assert code == 0, second
    assert tuples(conn, "SELECT count(*) FROM billing.invoiced_items WHERE invoice_number = %s AND line_id = %s"
                        " AND credited_by = %s", number, line_id, second) == [(items,)]
    assert tuples(conn, "SELECT payment_terms FROM marts.invoices WHERE invoice_number = %s", second) == [
        ("Avoir à déduire de votre prochain règlement",)]

    # an amount beyond what is left of the invoice is refused with both figures
    credited = sum(t for (t,) in tuples(conn, "SELECT grand_total FROM marts.invoices WHERE preceding_number = %s",
                                        number))
    left_net = tuples(conn, "SELECT i.tax_basis_total - coalesce(sum(c.tax_basis_total), 0) FROM marts.invoices i"
                            " LEFT JOIN marts.invoices c ON c.preceding_number = i.invoice_number"
                            " WHERE i.invoice_number = %s GROUP BY i.tax_basis_total", number)[0][0]
    code, message = cli(number, "--reason", "geste", "--amount", str(left_net + 1), "--run-id", "r4", capsys=capsys)
    assert code == 2 and f"more than the invoice's {total}" in message and f"({credited} already credited)" in message
    # a gesture within it: spread over the rates, releases nothing
    code, gesture = cli(number, "--reason", "geste commercial", "--amount", "10.00", "--run-id", "r5", capsys=capsys)
    assert code == 0, gesture
    assert tuples(conn, "SELECT tax_basis_total FROM marts.invoices WHERE invoice_number = %s", gesture) == [
        (Decimal("10.00"),)]
    assert all(line.startswith("R") for (line,) in tuples(
        conn, "SELECT line_id FROM marts.invoice_lines WHERE invoice_number = %s", gesture))
    # the sum of the credit notes never exceeds the invoice
    assert tuples(conn, "SELECT sum(grand_total) <= %s FROM marts.invoices WHERE preceding_number = %s",
                  total, number) == [(True,)]


def test_full_credit_then_nothing_is_left(february, capsys) -> None:
    conn = february
    number, total = tuples(conn, "SELECT invoice_number, grand_total FROM marts.invoices WHERE processing_rule ="
                                 " 'B2BINT' ORDER BY invoice_number LIMIT 1")[0]
    code, credit = cli(number, "--reason", "facture émise par erreur", "--run-id", "full", capsys=capsys)
    assert code == 0, credit
    assert tuples(conn, "SELECT grand_total, business_process FROM marts.invoices WHERE invoice_number = %s",
                  credit) == tuples(conn, "SELECT %s::numeric, business_process FROM marts.invoices"
                                          " WHERE invoice_number = %s", total, number)
    assert tuples(conn, "SELECT count(*) FROM billing.invoiced_items WHERE invoice_number = %s AND credited_by IS"
                        " NULL", number) == [(0,)]
    # the breakdown of the credit note carries the invoice's exemption texts
    assert tuples(conn, "SELECT vat_category, exemption_code, exemption_reason FROM marts.invoice_vat_breakdown"
                        " WHERE invoice_number = %s ORDER BY 1", credit) == \
        tuples(conn, "SELECT vat_category, exemption_code, exemption_reason FROM marts.invoice_vat_breakdown"
                     " WHERE invoice_number = %s ORDER BY 1", number)
    code, message = cli(number, "--reason", "encore", "--run-id", "again", capsys=capsys)
    assert code == 2 and message == f"invoice {number} is already fully credited"
    code, message = cli(credit, "--reason", "avoir d'avoir", capsys=capsys)
    assert code == 2 and "is a credit note; only invoices can be credited" in message
    code, message = cli("MS2026-999999", "--reason", "inconnue", capsys=capsys)
    assert code == 2 and "MS2026-999999 is not an issued invoice" in message


def test_a_credit_note_failing_validation_is_refused_with_its_rules_and_takes_no_number(february, validator) -> None:
    conn = february
    (number,), = tuples(conn, "SELECT min(invoice_number) FROM marts.invoices WHERE processing_rule = 'B2B'")
    with conn.cursor() as cur:  # the buyer's SIREN lost in the record: BR-FR-11 fails on the credit note
        cur.execute("UPDATE marts.invoices SET buyer_siren = NULL WHERE invoice_number = %s", (number,))
    conn.commit()
    before = tuples(conn, "SELECT last_sequence FROM audit.invoice_counters")
    with pytest.raises(CreditRefused, match=r"fails validation: .*BR-FR-11") as refused:
        credit_invoice(conn, example_seller(), validator, number, "erreur", "bad")
    assert any(rule.startswith("BR-FR-11") for rule in refused.value.rules)
    assert tuples(conn, "SELECT last_sequence FROM audit.invoice_counters") == before
    assert tuples(conn, "SELECT count(*) FROM marts.invoices WHERE preceding_number = %s", number) == [(0,)]
    assert tuples(conn, "SELECT count(*) > 0 FROM marts.invoice_findings WHERE invoice_key = %s AND invoice_number"
                        " IS NULL AND rule LIKE 'BR-FR-11%%'", f"credit:{number}:bad") == [(True,)]


def test_a_credit_note_is_committed_with_its_documents(february, validator, tmp_path) -> None:
    conn = february
    (number,), = tuples(conn, "SELECT min(invoice_number) FROM marts.invoices WHERE processing_rule = 'B2B'")
    credit = credit_invoice(conn, example_seller(), validator, number, "erreur", "with-documents")
    [(path, size)] = tuples(conn, "SELECT path, bytes FROM marts.invoice_documents WHERE invoice_number = %s", credit)
    assert path.startswith(str(tmp_path)) and Path(path).stat().st_size == size
    assert Path(path).read_bytes().startswith(b"%PDF")
    # a document that cannot be written rolls the credit note back: no number, no file
    before = tuples(conn, "SELECT last_sequence FROM audit.invoice_counters")
    (other,), = tuples(conn, "SELECT max(invoice_number) FROM marts.invoices WHERE processing_rule = 'B2B'"
                             " AND type_code = '380'")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the invoices folder should be")
    with pytest.raises(OSError):
        credit_invoice(conn, example_seller(), validator, other, "erreur", "blocked",
                       documents=DocumentPlan(("facturx",), blocked))
    assert tuples(conn, "SELECT last_sequence FROM audit.invoice_counters") == before
    assert tuples(conn, "SELECT count(*) FROM marts.invoices WHERE preceding_number = %s", other) == [(0,)]


@pytest.mark.parametrize(("params", "message"), [
    ({"invoice_number": "MS2026 1", "reason": "x"}, "invoice_number 'MS2026 1' is not an invoice number"),
    ({"invoice_number": "MS2026-000001", "reason": " "}, "reason is required"),
    ({"invoice_number": "MS2026-000001", "reason": "x", "settlement": "cash"}, "settlement 'cash' must be one of"),
    ({"invoice_number": "MS2026-000001", "reason": "x", "amount": "-5"}, "amount '-5' must be a positive amount"),
    ({"invoice_number": "MS2026-000001", "reason": "x", "amount": "1.005"}, "amount '1.005' must be a positive"),
    ({"invoice_number": "MS2026-000001", "reason": "x", "lines": [{"line_id": "1", "quantity": "0"}]},
     "line 1: quantity '0' must be a positive number"),
    ({"invoice_number": "MS2026-000001", "reason": "x", "lines": [{"line_id": "1", "quantity": "1"}],
      "amount": "10"}, "give either lines or an amount, not both"),
])
def test_bad_requests_are_refused_with_a_clear_message(params: dict, message: str) -> None:
    with pytest.raises(CreditRefused, match="credit note request refused") as refused:
        parse_request(params)
    assert message in str(refused.value)


def test_a_good_request_is_parsed_to_decimals() -> None:
    request = parse_request({"invoice_number": "MS2026-000001", "reason": " erreur ", "settlement": "refund",
                             "lines": [{"line_id": "2", "quantity": "1.25"}]})
    assert (request.reason, request.settlement, request.lines, request.amount) == (
        "erreur", "refund", {"2": Decimal("1.25")}, None)
