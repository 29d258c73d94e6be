"""The human-readable invoice, and the Factur-X PDF/A-3 that carries its CII.

The page is drawn with fpdf2 in PDF/A-3b mode: fonts embedded and subset (DejaVu Sans from matplotlib's
data, Noto Sans CJK faces when the text needs them, so no system font is needed; see
:mod:`passerelle.documents.fonts`), an sRGB output intent, no core fonts. A character no font has stops
the rendering with :class:`UnrenderableTextError` naming it and its field, never a silent gap.
:func:`render_facturx` then attaches ``factur-x.xml`` with the XMP (``pdfaid:part`` 3, the ``fx:``
extension schema) and the ``/AF`` entry in one pass, every date the issue date and the file ``/ID`` from
the content (see :mod:`passerelle.documents.facturx_pdf`), so rendering the same invoice twice gives the
same bytes.

Everything printed comes from the invoice and :func:`passerelle.invoicing.amounts.compute`, formatted
the French way with Babel (``1 234,56 €``; the ISO code for any other currency).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timezone
from decimal import Decimal

from babel import Locale
from babel.numbers import format_currency, format_decimal
from fpdf import FPDF, FontFace
from stdnum import iban as iban_number

from passerelle.documents import fonts
from passerelle.documents.facturx_pdf import DocumentInfo, embed_cii
from passerelle.documents.parsed_fonts import add_parsed_font
from passerelle.documents.printed_text import (
    SKIPPED_NOTES, UnrenderableTextError, first_unrenderable, glyph_codepoints, printed_fields,
)
from passerelle.invoicing.amounts import Computed, VatBreakdown, allowance_amount, compute
from passerelle.invoicing.model import (
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
        self.set_font(FONT, "B", 13)
        self.multi_cell(90, 6, invoice.seller.name, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=9)
        self.multi_cell(90, 4.5, "\n".join(_party_lines(invoice.seller)), new_x="LMARGIN", new_y="NEXT")
        left_bottom = self.get_y()
        self.set_xy(105, top)
        self.set_font(FONT, "B", 20)
        self.cell(0, 9, _document_name(invoice), align="R", new_x="LEFT", new_y="NEXT")
        self.set_font(FONT, size=9)
        identity = [f"N° {invoice.number}", f"Date d'émission : {_date(invoice.issue_date)}"]
        if not invoice.is_credit_note:  # a credit note is settled, never due
            identity.append(f"Date d'échéance : {_date(invoice.due_date)}")
        identity += [f"Avoir sur la facture n° {ref.number} du {_date(ref.issue_date)}" for ref in invoice.preceding]
        if operation := OPERATIONS.get(invoice.business_process[:1]):
            identity.append(f"Opération : {operation}")
        self.multi_cell(0, 4.5, "\n".join(identity), align="R")
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
        headings = ("Désignation", "Qté", "Unité", "PU HT", "TVA", "Total HT")
        with self.table(col_widths=(DESIGNATION_WIDTH, 14, 16, 26, 24, 30), width=190,
                        text_align=("LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT"), line_height=LINE_HEIGHT,
                        headings_style=_HEADINGS, padding=CELL_PADDING) as table:
            table.row(headings)
            for line, net in zip(invoice.lines, computed.line_nets):
                first, *rest = self._row_texts(_line_text(line, invoice.currency))
                table.row((first, _quantity(line.quantity), UNITS.get(line.unit_code, line.unit_code),
                           _price(line.net_price, invoice.currency), _vat_label(line.vat_category, line.vat_rate),
                           money(net, invoice.currency)))
                for text in rest:
                    table.row((text, "", "", "", "", ""))
        self.ln(4)

    def _row_texts(self, text: str) -> list[str]:
        """``text`` wrapped as the designation cell wraps it, in pieces of at most :data:`ROW_LINES` lines."""
        width = DESIGNATION_WIDTH - 0.5  # a hair narrower than the cell, so it never wraps a piece again
        if text.count("\n") + 2 + len(text) * self.font_size / (width - 2 * CELL_PADDING) <= ROW_LINES:
            return [text]  # short enough whatever its glyphs (none is wider than 1 em): no trial layout
        lines = self.multi_cell(width, LINE_HEIGHT, text, dry_run=True, output="LINES", padding=CELL_PADDING)
        if len(lines) <= ROW_LINES:
            return [text]
        return ["\n".join(lines[start:start + ROW_LINES]) for start in range(0, len(lines), ROW_LINES)]

    def document_allowances(self, invoice: Invoice) -> None:
        if not invoice.allowances_charges:
            return
        with self.table(col_widths=(120, 30, 40), text_align=("LEFT", "RIGHT", "RIGHT"), line_height=4.5,
                        headings_style=_HEADINGS, padding=1.2) as table:
            table.row(("Remises et frais sur le total", "TVA", "Montant HT"))
            for item in invoice.allowances_charges:
                amount = money(allowance_amount(item), invoice.currency)
                table.row((_allowance_text(item, invoice.currency), _vat_label(item.vat_category, item.vat_rate),
                           amount if item.is_charge else f"−{amount}"))
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
        with self.table(col_widths=(38, 28, 26), width=92, align="LEFT", text_align=("LEFT", "RIGHT", "RIGHT"),
                        line_height=4.5, headings_style=_HEADINGS, padding=1.2) as table:
            table.row(("TVA", "Base HT", "Montant TVA"))
            for row in computed.vat_breakdown:
                table.row((_vat_long_label(row), money(row.taxable_amount, invoice.currency),
                           money(row.tax_amount, invoice.currency)))

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
        with self.table(col_widths=(58, 30), width=88, align="RIGHT", text_align=("LEFT", "RIGHT"),
                        line_height=4.5, first_row_as_headings=False, padding=1.2) as table:
            for label, value in rows:
                table.row((label, value))
            table.row((due_label, money(totals.due_payable, currency)), style=_HEADINGS)

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
        self.set_xy(x, y)
        self.set_font(FONT, "B", 9)
        self.cell(width, 5, title, new_x="LEFT", new_y="NEXT")
        self.set_font(FONT, size=9)
        self.multi_cell(width, 4.5, "\n".join(lines) or "—", new_x="LEFT", new_y="NEXT")

    def _section(self, title: str, lines: list[str], size: float = 9) -> None:
        """A bold title over its lines, never left alone at a page foot: the section moves to the next page
        whole when it fits there, else with at least its first line."""
        self.set_font(FONT, size=size)
        em = size / self.k  # no glyph is wider: a bound on the height that spares the trial layout
        if not self.will_page_break(5 + sum(size * 0.45 * (text.count("\n") + 2 + len(text) * em / self.epw)
                                            for text in lines)):
            heights = [0.0]
        else:
            heights = [self.multi_cell(0, size * 0.45, text, dry_run=True, output="HEIGHT") for text in lines]
        usable = self.h - self.t_margin - self.b_margin
        keep = 5 + (sum(heights) if 5 + sum(heights) <= usable else (heights[:1] or [0])[0])
        if self.will_page_break(keep):
            self.add_page()
        self.set_font(FONT, "B", 9)
        self.cell(0, 5, title, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=size)
        for text in lines:
            self.multi_cell(0, size * 0.45, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=9)
        self.ln(3)


_HEADINGS = FontFace(family=FONT, emphasis="BOLD", fill_color=GREY)


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
