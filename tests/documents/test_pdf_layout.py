"""Long invoices lay out: designations wrap in their cell in full, the table headings repeat on every page,
no heading is left alone at a page foot; credit notes read as credits, and the operation category is printed."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace

import pytest
from pypdf import PdfReader

from passerelle.documents.pdf import render_pdf
from passerelle_dev import samples
from passerelle.einvoice.model import Invoice

TABLE_HEADINGS = "Désignation Qté Unité PU HT TVA Total HT"
HEADINGS = {TABLE_HEADINGS, "TVA Base HT Montant TVA", "Remises et frais sur le total TVA Montant HT", "Règlement",
            "Règlement de l'avoir", "Mentions légales"}


def pages(pdf: bytes) -> list[list[str]]:
    """Each page's text lines (spaces folded), without the footer line."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        lines = [" ".join(line.split()) for line in page.extract_text().splitlines()]
        lines = [line for line in lines if line]
        assert " — page " in lines[-1]
        found.append(lines[:-1])
    return found


def description(line: int, characters: int) -> str:
    """Words that say where they belong (``l7w12``), so a lost or repeated word is seen."""
    words, size = [], 0
    while size < characters:
        words.append(f"l{line}w{len(words)}")
        size += len(words[-1]) + 1
    return " ".join(words)


def long_invoice(count: int, characters: int) -> Invoice:
    invoice = samples.b2b_multi_rate()
    lines = tuple(replace(invoice.lines[index % 5], line_id=str(index + 1),
                          description=description(index + 1, characters if index % 10 == 0 else characters // 10))
                  for index in range(count))
    return replace(invoice, lines=lines)


def assert_laid_out(invoice: Invoice) -> list[list[str]]:
    laid_out = pages(render_pdf(invoice))
    words = " ".join(" ".join(page) for page in laid_out).split()
    counts = Counter(words)
    position = {word: index for index, word in enumerate(words)}
    for line in invoice.lines:
        expected = (line.description or "").split()
        assert all(counts[word] == 1 for word in expected), f"line {line.line_id}: a word is lost or repeated"
        assert [position[word] for word in expected] == sorted(position[word] for word in expected), line.line_id
    last_table_page = max((number for number, page in enumerate(laid_out)
                          if any(word.startswith("l") and "w" in word for line in page for word in line.split())),
                          default=0)
    for number, page in enumerate(laid_out):
        assert page[-1] not in HEADINGS, f"page {number + 1} ends on its heading {page[-1]!r}"
        if number <= last_table_page:
            assert page.count(TABLE_HEADINGS) == 1, f"page {number + 1} has no table headings"
    return laid_out


@pytest.mark.parametrize(("count", "characters"), [(1, 2000), (1, 12000), (40, 2000), (300, 2000)])
def test_long_invoices_keep_every_word_and_repeat_the_headings(count: int, characters: int) -> None:
    laid_out = assert_laid_out(long_invoice(count, characters))
    first_page = " ".join(laid_out[0])
    assert TABLE_HEADINGS in first_page and "l1w0" in first_page  # the table starts on page 1, under the parties


def test_no_heading_is_orphaned_whatever_the_length_of_the_table() -> None:
    """Lengthening one designation a line at a time walks every section over a page foot."""
    invoice = samples.b2b_multi_rate()
    feet = set()
    for lines in range(0, 60, 2):
        text = description(1, 62 * lines)
        document = assert_laid_out(replace(invoice, lines=(replace(invoice.lines[0], description=text),
                                                           *invoice.lines[1:])))
        feet.add(document[0][-1])
    assert len(feet) > 5  # the page foot did fall on many different parts


def credit_note(terms: str) -> Invoice:
    return replace(samples.credit_note(), payment_terms=terms)


@pytest.mark.parametrize("terms", ["Avoir à déduire de votre prochain règlement",
                                   "Remboursement par virement sous 30 jours"])
def test_a_credit_note_says_how_it_is_settled_and_asks_for_no_payment(terms: str) -> None:
    note = credit_note(terms)
    text = " ".join(" ".join(page) for page in pages(render_pdf(note)))
    assert "Avoir" in text and "Facture" not in text
    assert "Avoir sur la facture n° MS2026-000001 du 31/03/2026" in text
    assert f"Règlement de l'avoir {terms}" in text
    for payable in ("Date d'échéance", "Échéance :", "IBAN", "BIC", note.bic, "FR76", "Moyen de paiement", "Net à payer"):
        assert payable not in text, payable
    invoice_text = " ".join(" ".join(page) for page in pages(render_pdf(samples.b2b_multi_rate())))
    assert "Date d'échéance : 30/04/2026" in invoice_text and "IBAN : FR76" in invoice_text


@pytest.mark.parametrize(("process", "printed"), [("B1", "Livraison de biens"), ("S1", "Prestation de services"),
                                                  ("M1", "Livraison de biens et prestation de services")])
def test_the_operation_category_is_printed_in_the_identity_block(process: str, printed: str) -> None:
    invoice = replace(samples.b2b_multi_rate(), business_process=process)
    first_page = pages(render_pdf(invoice))[0]
    assert f"Opération : {printed}" in first_page[:first_page.index("Client")]
    assert sum(line.startswith("Opération :") for line in first_page) == 1
