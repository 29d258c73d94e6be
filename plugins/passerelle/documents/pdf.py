"""The human-readable invoice, and the Factur-X PDF/A-3 that carries its CII.

The page is drawn with fpdf2 in PDF/A-3b mode: fonts embedded and subset (DejaVu Sans from matplotlib's
data, Noto Sans CJK faces when the text needs them, so no system font is needed; see
:mod:`passerelle.documents.fonts`), an sRGB output intent, no core fonts. A character no font has stops
the rendering with :class:`UnrenderableTextError` naming it and its field, never a silent gap.
:func:`render_facturx` then attaches ``factur-x.xml`` with the XMP (``pdfaid:part`` 3, the ``fx:``
extension schema) and the ``/AF`` entry in one pass, every date the issue date and the file ``/ID`` from
the content (see :mod:`passerelle.documents.facturx_pdf`), so rendering the same invoice twice gives the
same bytes.

Text is broken into lines once, by :mod:`passerelle.documents.line_wrap` (the lines fpdf2's ``multi_cell``
would give), and written straight into the page in fpdf2's fonts and positions; the tables are drawn the
same way (borders, grey bold heading repeated on each page, never alone at a page foot). fpdf2's own line
breaking, quadratic in the line length and run twice per table cell, was most of the drawing time.

Everything printed comes from the invoice and :func:`passerelle.einvoice.amounts.compute`, formatted
the French way with Babel (``1 234,56 €``; the ISO code for any other currency).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal

from babel import Locale
from babel.numbers import format_currency, format_decimal
from fpdf import FPDF
from fpdf.enums import PDFResourceType
from fpdf.fonts import TTFFont
from stdnum import iban as iban_number

from passerelle.documents import fonts
from passerelle.documents.facturx_pdf import DocumentInfo, embed_cii
from passerelle.documents.line_wrap import Line, wrap
from passerelle.documents.parsed_fonts import add_parsed_font
from passerelle.documents.printed_text import (
    SKIPPED_NOTES, UnrenderableTextError, first_unrenderable, glyph_codepoints, printed_fields,
)
from passerelle.einvoice.amounts import Computed, VatBreakdown, allowance_amount, compute
from passerelle.einvoice.model import (
    AllowanceCharge, Invoice, InvoiceLine, Party, PostalAddress, VatCategory, VatPoint,
)

LOCALE = "fr_FR"
EUR = "EUR"
FONT = "DejaVu"
GREY = 235
VAT_LABELS = {
    VatCategory.ZERO: "Taux zéro",
    VatCategory.EXEMPT: "Exonéré",
    VatCategory.REVERSE_CHARGE: "Autoliquidation",
    VatCategory.INTRA_EU: "Intracommunautaire",
    VatCategory.EXPORT: "Export",
    VatCategory.OUT_OF_SCOPE: "Hors champ",
}
VAT_SHORT_LABELS = VAT_LABELS | {VatCategory.REVERSE_CHARGE: "Autoliq.", VatCategory.INTRA_EU: "Intracom."}
UNITS = {"DAY": "jour", "HUR": "heure", "C62": "unité", "LS": "forfait", "MON": "mois", "KGM": "kg"}
PAYMENT_MEANS = {"30": "Virement", "58": "Virement SEPA", "49": "Prélèvement", "48": "Carte bancaire",
                 "10": "Espèces", "20": "Chèque"}
DEBITS = "Option pour le paiement de la taxe d'après les débits"
FRENCH = Locale.parse(LOCALE)
OPERATIONS = {"B": "Livraison de biens", "S": "Prestation de services",
              "M": "Livraison de biens et prestation de services"}  # BT-23's first letter
CELL_PADDING = 1.2
LINE_HEIGHT = 4.5
DESIGNATION_WIDTH = 80
ROW_LINES = 10  # a long designation is cut into table rows of this many lines, so no row outgrows a page
NBSP, SOFT_HYPHEN = "\u00a0", "\u00ad"
TEXT_RISE = 0.3  # the baseline sits 0.3 font size below the middle of its line, as fpdf2 places it
__all__ = ["UnrenderableTextError", "money", "render_facturx", "render_pdf"]


def render_pdf(invoice: Invoice, computed: Computed | None = None) -> bytes:
    """The invoice as a PDF/A-3b page set, before the CII is attached.

    Drawn with the fonts its printed text needs (the European cut of DejaVu Sans for nearly every invoice).
    Raises :class:`UnrenderableTextError` for a character that no font has, rather than leaving it out.
    """
    computed = computed or compute(invoice)
    fields = printed_fields(invoice, computed)
    typeset, missing = fonts.typeset_for(set().union(*(glyph_codepoints(text) for _, text in fields)))
    if missing:
        raise first_unrenderable(fields, missing)
    pdf = _draw(invoice, computed, typeset)
    if missing := pdf.missing_glyphs():  # printed text the field list does not know of
        raise first_unrenderable(fields, missing)
    return bytes(pdf.output())


def _draw(invoice: Invoice, computed: Computed, typeset: fonts.Typeset) -> _Document:
    pdf = _Document(invoice, typeset)
    pdf.add_page()
    pdf.header_blocks(invoice)
    pdf.lines_table(invoice, computed)
    pdf.document_allowances(invoice)
    pdf.vat_and_totals(invoice, computed)
    pdf.payment(invoice)
    pdf.mentions(invoice, computed)
    return pdf


def render_facturx(invoice: Invoice, cii_xml: bytes) -> bytes:
    """The Factur-X (EN 16931) PDF/A-3: :func:`render_pdf` with ``cii_xml`` embedded as ``factur-x.xml``."""
    title = f"{_document_name(invoice)} {invoice.number}"
    info = DocumentInfo(title=f"{invoice.seller.name} : {title}", author=invoice.seller.name,
                        subject=f"{title} du {_date(invoice.issue_date)} à {invoice.buyer.name}", lang="fr-FR",
                        when=_timestamp(invoice.issue_date))
    return embed_cii(render_pdf(invoice), cii_xml, info)


class _Document(FPDF):
    """A4 portrait in millimetres, DejaVu Sans (CJK faces as fallbacks), page numbers in the footer."""

    def __init__(self, invoice: Invoice, typeset: fonts.Typeset) -> None:
        super().__init__(orientation="P", unit="mm", format="A4", enforce_compliance="PDFA_3B")
        self._footer_text = f"{_document_name(invoice)} {invoice.number} — {invoice.seller.name}"
        self._identity = f"{invoice.seller.siren}/{invoice.type_code}/{invoice.number}/{invoice.issue_date}"
        self.set_creation_date(_timestamp(invoice.issue_date))
        self.set_lang("fr-FR")
        self.set_title(f"{_document_name(invoice)} {invoice.number}")
        self.set_author(invoice.seller.name)
        self.set_creator("Passerelle")
        for style in fonts.STYLES:
            add_parsed_font(self, FONT, style, typeset.main(style))
        for family in typeset.fallbacks:
            add_parsed_font(self, family, "", fonts.cjk(family))
        if typeset.fallbacks:  # bold CJK text is drawn in the regular weight rather than lost
            self.set_fallback_fonts(typeset.fallbacks, exact_match=False)
        self.set_font(FONT, size=9)
        self.set_auto_page_break(auto=True, margin=18)
        self.alias_nb_pages()
        self._fallbacks = [self.fonts[family.lower()] for family in typeset.fallbacks]
        self._glyphs: dict[str, dict[str, tuple[TTFFont, int]]] = {style: {} for style in fonts.STYLES}

    def missing_glyphs(self) -> set[int]:
        """The code points drawn so far that had no glyph in any font."""
        return {code for font in self.fonts.values() for code in font.missing_glyphs}

    def file_id(self) -> str:
        """The /ID from the document's identity: fpdf2's default hashes the wall-clock XMP date."""
        digest = hashlib.md5(self._identity.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
        return f"<{digest}><{digest}>"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.cell(0, 4, f"{self._footer_text} — page {self.page_no()}/{{nb}}", align="C")
        self.set_font(FONT, size=9)

    def header_blocks(self, invoice: Invoice) -> None:
        """Seller (left) and document identity (right), then the buyer and delivery blocks."""
        top = self.get_y()
        self._paragraph(self.l_margin, 90, 6, invoice.seller.name, style="B", size=13)
        self._paragraph(self.l_margin, 90, 4.5, "\n".join(_party_lines(invoice.seller)))
        left_bottom = self.get_y()
        self.set_y(top)
        self._show_in(105, self.w - self.r_margin - 105, 9, _document_name(invoice), "R", style="B", size=20)
        self.set_y(top + 9)
        identity = [f"N° {invoice.number}", f"Date d'émission : {_date(invoice.issue_date)}"]
        if not invoice.is_credit_note:  # a credit note is settled, never due
            identity.append(f"Date d'échéance : {_date(invoice.due_date)}")
        identity += [f"Avoir sur la facture n° {ref.number} du {_date(ref.issue_date)}" for ref in invoice.preceding]
        if operation := OPERATIONS.get(invoice.business_process[:1]):
            identity.append(f"Opération : {operation}")
        self._paragraph(105, self.w - self.r_margin - 105, 4.5, "\n".join(identity), align="R")
        self.set_y(max(left_bottom, self.get_y()) + 6)

        top = self.get_y()
        self._block(10, top, 90, "Client", [invoice.buyer.name, *_party_lines(invoice.buyer)])
        buyer_bottom = self.get_y()
        details = []
        if invoice.delivery_address is not None:
            details += ["Adresse de livraison :", invoice.delivery_name or invoice.buyer.name,
                        *_address_lines(invoice.delivery_address)]
        if invoice.delivery_date:
            details.append(f"Date de livraison : {_date(invoice.delivery_date)}")
        if invoice.period_start and invoice.period_end:
            details.append(f"Période : du {_date(invoice.period_start)} au {_date(invoice.period_end)}")
        references = (("Votre référence", invoice.buyer_reference), ("Projet", invoice.project_reference),
                      ("Contrat", invoice.contract_reference), ("Bon de commande", invoice.purchase_order))
        details += [f"{label} : {value}" for label, value in references if value]
        self._block(110, top, 90, "Livraison et références", details)
        self.set_y(max(buyer_bottom, self.get_y()) + 6)

    def lines_table(self, invoice: Invoice, computed: Computed) -> None:
        """One row per line, its designation wrapped in the cell; a designation longer than
        :data:`ROW_LINES` lines goes on in rows of its own, so the table flows from page to page (headings
        repeated) instead of a row that cannot fit a page."""
        table = _Table(self.l_margin, (DESIGNATION_WIDTH, 14, 16, 26, 24, 30), "LRLRRR",
                       ("Désignation", "Qté", "Unité", "PU HT", "TVA", "Total HT"))
        for line, net in zip(invoice.lines, computed.line_nets):
            designation = self._cell_lines(_line_text(line, invoice.currency), DESIGNATION_WIDTH)
            first = [self._cell_lines(text, width) for text, width in zip(
                (_quantity(line.quantity), UNITS.get(line.unit_code, line.unit_code),
                 _price(line.net_price, invoice.currency), _vat_label(line.vat_category, line.vat_rate),
                 money(net, invoice.currency)), table.widths[1:])]
            table.rows.append(([designation[:ROW_LINES], *first], False))
            for start in range(ROW_LINES, len(designation), ROW_LINES):
                table.rows.append(([designation[start:start + ROW_LINES], *([[]] * 5)], False))
        self._draw_table(table)
        self.ln(4)

    def document_allowances(self, invoice: Invoice) -> None:
        if not invoice.allowances_charges:
            return
        table = _Table(self.l_margin, (120, 30, 40), "LRR", ("Remises et frais sur le total", "TVA", "Montant HT"))
        for item in invoice.allowances_charges:
            amount = money(allowance_amount(item), invoice.currency)
            table.add(self, (_allowance_text(item, invoice.currency), _vat_label(item.vat_category, item.vat_rate),
                             amount if item.is_charge else f"−{amount}"))
        self._draw_table(table)
        self.ln(4)

    def vat_and_totals(self, invoice: Invoice, computed: Computed) -> None:
        """The VAT breakdown (left) beside the totals (right), kept together on one page."""
        if self.will_page_break(7.5 * max(len(computed.vat_breakdown) + 1, 10)):
            self.add_page()
        top = self.get_y()
        self._vat_table(invoice, computed)
        vat_bottom = self.get_y()
        self.set_y(top)
        self._totals(invoice, computed)
        self.set_y(max(vat_bottom, self.get_y()) + 5)

    def _vat_table(self, invoice: Invoice, computed: Computed) -> None:
        table = _Table(self.l_margin, (38, 28, 26), "LRR", ("TVA", "Base HT", "Montant TVA"))
        for row in computed.vat_breakdown:
            table.add(self, (_vat_long_label(row), money(row.taxable_amount, invoice.currency),
                             money(row.tax_amount, invoice.currency)))
        self._draw_table(table)

    def _totals(self, invoice: Invoice, computed: Computed) -> None:
        totals, currency = computed.totals, invoice.currency
        rows: list[tuple[str, str]] = [("Total HT des lignes", money(totals.line_total, currency))]
        if any(not item.is_charge for item in invoice.allowances_charges):
            rows.append(("Remises", f"−{money(totals.allowance_total, currency)}"))
        if any(item.is_charge for item in invoice.allowances_charges):
            rows.append(("Frais", money(totals.charge_total, currency)))
        rows += [("Total HT", money(totals.tax_basis_total, currency)),
                 ("Total TVA", money(totals.tax_total, currency))]
        if totals.tax_total_eur is not None:
            rows.append((f"Total TVA en euros (1 {currency} = {_rate(invoice.eur_per_unit)} EUR)",
                         money(totals.tax_total_eur, EUR)))
        rows.append(("Total TTC", money(totals.grand_total, currency)))
        if totals.prepaid:
            rows.append(("Déjà réglé", f"−{money(totals.prepaid, currency)}"))
        if totals.rounding:
            rows.append(("Arrondi", money(totals.rounding, currency)))
        due_label = "Net à déduire" if invoice.is_credit_note else "Net à payer"
        table = _Table(self.w - self.r_margin - 88, (58, 30), "LR", None)
        for label, value in rows:
            table.add(self, (label, value))
        table.add(self, (due_label, money(totals.due_payable, currency)), strong=True)
        self._draw_table(table)

    def payment(self, invoice: Invoice) -> None:
        """How the amount is paid; for a credit note, how it is settled (BT-20), with no due date, means or
        bank account that would read as a demand for payment."""
        if invoice.is_credit_note:
            self._section("Règlement de l'avoir", [invoice.payment_terms])
            return
        lines = [f"Échéance : {_date(invoice.due_date)}", invoice.payment_terms,
                 f"Moyen de paiement : {PAYMENT_MEANS.get(invoice.payment_means_code, invoice.payment_means_code)}"]
        if invoice.iban:
            lines.append(f"IBAN : {iban_number.format(invoice.iban)}")
        if invoice.bic:
            lines.append(f"BIC : {invoice.bic}")
        if invoice.payment_reference:
            lines.append(f"Référence à rappeler : {invoice.payment_reference}")
        self._section("Règlement", lines)

    def mentions(self, invoice: Invoice, computed: Computed) -> None:
        """VAT mentions (débits option, exemption texts) then the notes: PMD, PMT, AAB, REG, ABL..."""
        texts = [DEBITS] if invoice.vat_point is VatPoint.INVOICE else []
        texts += [row.exemption.reason for row in computed.vat_breakdown if row.exemption is not None]
        texts += [note.text for note in invoice.notes if note.subject not in SKIPPED_NOTES]
        self._section("Mentions légales", list(dict.fromkeys(texts)), size=7.5)

    def _block(self, x: float, y: float, width: float, title: str, lines: list[str]) -> None:
        self.set_y(y)
        self._show_in(x, width, 5, title, "L", style="B")
        self.set_y(y + 5)
        self._paragraph(x, width, 4.5, "\n".join(lines) or "—")

    def _section(self, title: str, lines: list[str], size: float = 9) -> None:
        """A bold title over its lines, never left alone at a page foot: the section moves to the next page
        whole when it fits there, else with at least its first line."""
        width = self.w - self.r_margin - self.l_margin
        wrapped = [self._wrap(text, width - 2 * self.c_margin, "", size) for text in lines]
        heights = [len(text_lines) * size * 0.45 for text_lines in wrapped] or [0.0]
        usable = self.h - self.t_margin - self.b_margin
        keep = 5 + (sum(heights) if 5 + sum(heights) <= usable else heights[0])
        if self.will_page_break(keep):
            self.add_page()
        self._show_in(self.l_margin, width, 5, title, "L", style="B")
        self.set_y(self.get_y() + 5)
        for text_lines in wrapped:
            self._lines(self.l_margin, width, size * 0.45, text_lines, "J", "", size)
        self.ln(3)

    # Text drawn without fpdf2's line breaking: each text is broken once (line_wrap), then its lines are
    # written straight into the page as PDF text objects, in the same fonts, at fpdf2's positions.

    def _glyph(self, style: str, character: str) -> tuple[TTFFont, int]:
        """The font that draws ``character`` in ``style`` (a CJK fallback when DejaVu Sans lacks it; DejaVu
        Sans, which then records it as missing, when no font has it) and its advance in thousandths of an em."""
        found = self._glyphs[style].get(character)
        if found is None:
            main = self.fonts[f"{FONT.lower()}{style}"]
            code = ord(character)
            font = main if code in main.cmap else next((f for f in self._fallbacks if code in f.cmap), main)
            found = self._glyphs[style][character] = (font, font.cw[code])
        return found

    def _wrap(self, text: str, width: float, style: str, size: float) -> list[Line]:
        """``text`` in lines that fit ``width`` millimetres at ``size`` points."""
        glyphs = self._glyphs[style]

        def advance(character: str) -> int:
            found = glyphs.get(character)
            return (found or self._glyph(style, character))[1]

        return wrap(text.replace("\r", "").replace(SOFT_HYPHEN, ""), width * self.k * 1000 / size, advance)

    def _cell_lines(self, text: str, width: float, style: str = "") -> list[Line]:
        return self._wrap(text, width - 2 * CELL_PADDING, style, 9)

    def _paragraph(self, x: float, width: float, height: float, text: str, align: str = "J", style: str = "",
                   size: float = 9) -> None:
        """What ``multi_cell(width, height, text)`` at ``x`` prints, a page break before a line that would
        cross the page foot; leaves ``y`` under the text."""
        self._lines(x, width, height, self._wrap(text, width - 2 * self.c_margin, style, size), align, style, size)

    def _lines(self, x: float, width: float, height: float, lines: list[Line], align: str, style: str,
               size: float) -> None:
        for line in lines:
            if self.will_page_break(height):
                self.add_page()
            self._show_in(x, width, height, line, "L" if align == "J" and not line.wrapped else align, style, size)
            self.set_y(self.get_y() + height)
        self.x = x

    def _show_in(self, x: float, width: float, height: float, line: Line | str, align: str, style: str = "",
                 size: float = 9, padding: float | None = None) -> None:
        """One line of text in the box ``width`` × ``height`` at (``x``, current ``y``), as ``cell`` aligns it."""
        if isinstance(line, str):
            line = Line(line, sum(self._glyph(style, character)[1] for character in line), False)
        margin = self.c_margin if padding is None else padding
        text_width = line.units * size * 0.001 / self.k
        spacing = 0.0
        if align == "R":
            left = x + width - margin - text_width
        else:
            left = x + margin
            if align == "J" and (spaces := line.text.count(" ") + line.text.count(NBSP)):
                spacing = (width - 2 * margin - text_width) / spaces
        self._show(left, self.y + 0.5 * height + TEXT_RISE * size / self.k, line.text, style, size, spacing)

    def _show(self, x: float, baseline: float, text: str, style: str, size: float, spacing: float = 0.0) -> None:
        """``text`` with its baseline starting at (``x``, ``baseline``), each run in the font that has it."""
        if not text:
            return
        text = text.replace(NBSP, " ")  # fpdf2 prints a no-break space as a space
        k = self.k
        ops = [f"q BT {x * k:.2f} {(self.h - baseline) * k:.2f} Td"]
        runs: list[tuple[TTFFont, list[str]]] = []
        for character in text:
            font = self._glyph(style, character)[0]
            if runs and runs[-1][0] is font:
                runs[-1][1].append(character)
            else:
                runs.append((font, [character]))
        for font, characters in runs:
            self._resource_catalog.add(PDFResourceType.FONT, font.i, self.page)
            pick = font.subset.pick
            ops.append(f"/F{font.i} {size:.2f} Tf")
            codes = [pick(ord(character)) for character in characters]
            mapped = "".join(chr(code) for code in codes if code)
            if spacing and " " in characters:  # a space adjustment per word: Tw skips two-byte codes
                space = chr(pick(32) or 0)
                adjust, escaped_space = f"{-(spacing * k) * 1000 / size:.3f}", font.escape_text(space)
                first, *words = mapped.split(space)
                ops.append("[" + " ".join([f"({font.escape_text(first)})"] + [
                    f"{adjust}({escaped_space}{font.escape_text(word)})" for word in words]) + "] TJ")
            else:
                ops.append(f"({font.escape_text(mapped)}) Tj")
        ops.append("ET Q")
        self._out(" ".join(ops))

    def _draw_table(self, table: _Table) -> None:
        """Bordered rows at ``table.x`` from the current ``y``; a row that would cross the page foot starts
        a new page, where the heading row is drawn again; the heading never ends a page on its own."""
        heading = ([self._cell_lines(text, width, "B") for text, width in zip(table.heading, table.widths)]
                   if table.heading else None)
        for index, (cells, strong) in enumerate(table.rows):
            height = _row_height(cells)
            if self.will_page_break(height + (_row_height(heading) if heading and index == 0 else 0)):
                self.add_page()
                if heading:
                    self._draw_row(table, heading, True)
            elif heading and index == 0:
                self._draw_row(table, heading, True)
            self._draw_row(table, cells, strong)
        self.x = self.l_margin

    def _draw_row(self, table: _Table, cells: list[list[Line]], strong: bool) -> None:
        k, top, height = self.k, self.y, _row_height(cells)
        style, x = ("B" if strong else ""), table.x
        boxes = []
        for width in table.widths:
            boxes.append(f"{x * k:.2f} {(self.h - top) * k:.2f} {width * k:.2f} {-height * k:.2f} re")
            x += width
        paint = f"{GREY / 255:.3f} g " if strong else ""
        self._out(f"q {paint}" + " ".join(boxes) + (" B Q" if strong else " S Q"))
        x = table.x
        for width, align, lines in zip(table.widths, table.aligns, cells):
            self.y = top + (height - len(lines) * LINE_HEIGHT) / 2
            for line in lines:
                self._show_in(x, width, LINE_HEIGHT, line, align, style, 9, padding=CELL_PADDING)
                self.y += LINE_HEIGHT
            x += width
        self.y = top + height


@dataclass
class _Table:
    """Columns (widths in millimetres, ``L``/``R`` alignments), an optional heading row, and rows: each a
    list of cells (a cell is its wrapped lines) and whether it is strong (bold on grey, like the heading)."""

    x: float
    widths: tuple[float, ...]
    aligns: str
    heading: tuple[str, ...] | None
    rows: list[tuple[list[list[Line]], bool]] = field(default_factory=list)

    def add(self, pdf: _Document, texts: tuple[str, ...], strong: bool = False) -> None:
        style = "B" if strong else ""
        self.rows.append(([pdf._cell_lines(text, width, style) for text, width in zip(texts, self.widths)], strong))


def _row_height(cells: list[list[Line]] | None) -> float:
    return max(len(lines) for lines in cells) * LINE_HEIGHT + 2 * CELL_PADDING if cells else 0.0


def _party_lines(party: Party) -> list[str]:
    lines = _address_lines(party.address)
    identifiers = (("SIREN", party.siren), ("SIRET", party.siret), ("N° TVA", party.vat_number),
                   ("E-mail", party.email))
    return lines + [f"{label} : {value}" for label, value in identifiers if value]


def _address_lines(address: PostalAddress) -> list[str]:
    lines = [address.street or "", " ".join(part for part in (address.postcode, address.city) if part)]
    if address.country_code != "FR":
        lines.append(FRENCH.territories.get(address.country_code, address.country_code))
    return [line for line in lines if line]


def _line_text(line: InvoiceLine, currency: str) -> str:
    parts = [line.item_name] + [text for text in (line.description, line.note) if text]
    parts += [_allowance_text(item, currency, with_amount=True) for item in line.allowances_charges]
    if line.period_start and line.period_end:
        parts.append(f"du {_date(line.period_start)} au {_date(line.period_end)}")
    return "\n".join(parts)


def _allowance_text(item: AllowanceCharge, currency: str, with_amount: bool = False) -> str:
    text = item.reason
    if item.percent is not None:
        text += f" ({_quantity(item.percent)} %)"
    if with_amount:
        sign = "+" if item.is_charge else "−"
        text += f" : {sign}{money(allowance_amount(item), currency)}"
    return text


def _vat_label(category: VatCategory | None, rate: Decimal | None) -> str:
    """The short form for a table column: the rate, or the category when it carries no VAT."""
    if category is VatCategory.STANDARD or category is None:
        return f"{_quantity(rate or Decimal(0))} %"
    return VAT_SHORT_LABELS[category]


def _vat_long_label(row: VatBreakdown) -> str:
    if row.category is VatCategory.STANDARD:
        return f"TVA à {_quantity(row.rate or Decimal(0))} %"
    return VAT_LABELS[row.category]


def _document_name(invoice: Invoice) -> str:
    return "Avoir" if invoice.is_credit_note else "Facture"


def money(amount: Decimal, currency: str) -> str:
    """``1 234,56 €`` in euros, ``1 234,56 CHF`` otherwise (the code is unambiguous where symbols are not)."""
    pattern = "#,##0.00\u00a0¤" if currency == EUR else "#,##0.00\u00a0¤¤"
    return format_currency(amount, currency, format=pattern, locale=LOCALE, currency_digits=False)


def _price(amount: Decimal, currency: str) -> str:
    """Unit prices keep up to six decimals (BT-146), never fewer than two."""
    pattern = "#,##0.00####\u00a0¤" if currency == EUR else "#,##0.00####\u00a0¤¤"
    return format_currency(amount, currency, format=pattern, locale=LOCALE, currency_digits=False)


def _quantity(value: Decimal) -> str:
    return format_decimal(value, format="#,##0.####", locale=LOCALE)


def _rate(value: Decimal | None) -> str:
    return format_decimal(value or Decimal(0), format="0.######", locale=LOCALE)


def _date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _timestamp(value: date) -> datetime:
    """The issue date at midnight UTC: the document's creation date, the same on every rendering."""
    return datetime.combine(value, time(0, 0), tzinfo=timezone.utc)
