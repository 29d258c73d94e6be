"""The invoice's own text that the page prints, field by field, and the error for a character no font has.

A legal document must never lose text silently: before drawing, every printed field is checked against
the fonts (see :func:`passerelle.documents.fonts.typeset_for`); a character none of them has stops the
rendering with :class:`UnrenderableTextError`, which names the character and the field so the draft can
be held with that reason and corrected at the source.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterator

from passerelle.errors import PasserelleError
from passerelle.einvoice.amounts import Computed
from passerelle.einvoice.model import AllowanceCharge, Invoice, Party, PostalAddress

SKIPPED_NOTES = {"BAR"}  # routing hint for the platforms, not a mention for the reader
SELLER = {"name": "BT-27", "street": "BT-35", "city": "BT-37", "postcode": "BT-38", "siren": "BT-30",
          "siret": "BT-29", "vat_number": "BT-31", "email": "BT-43"}
BUYER = {"name": "BT-44", "street": "BT-50", "city": "BT-52", "postcode": "BT-53", "siren": "BT-47",
         "siret": "BT-46", "vat_number": "BT-48", "email": "BT-58"}
DELIVERY = {"street": "BT-75", "city": "BT-77", "postcode": "BT-78"}
REFERENCES = (("buyer reference", "BT-10", "buyer_reference"), ("project reference", "BT-11", "project_reference"),
              ("contract reference", "BT-12", "contract_reference"), ("purchase order", "BT-13", "purchase_order"),
              ("payment terms", "BT-20", "payment_terms"), ("payment reference", "BT-83", "payment_reference"),
              ("BIC", "BT-86", "bic"), ("delivery name", "BT-70", "delivery_name"))


class UnrenderableTextError(PasserelleError):
    """A printed field holds a character that none of the invoice fonts can draw."""

    def __init__(self, field: str, character: str) -> None:
        self.field, self.character = field, character
        super().__init__(f"{field}: character {describe(character)} has no glyph in the invoice fonts; "
                         "the PDF would lose it")


def describe(character: str) -> str:
    """``U+1F600 GRINNING FACE``."""
    return f"U+{ord(character):04X} {unicodedata.name(character, 'UNNAMED CHARACTER')}"


def printed_fields(invoice: Invoice, computed: Computed) -> list[tuple[str, str]]:
    """``(field, text)`` for every text from the invoice that the page prints, the field named with its BT."""
    return [(field, text) for field, text in _fields(invoice, computed) if text]


def glyph_codepoints(text: str) -> set[int]:
    """The code points of ``text`` that need a glyph: line breaks and tabs are layout, not ink."""
    return {ord(character) for character in text if unicodedata.category(character) != "Cc"}


def first_unrenderable(fields: list[tuple[str, str]], missing: Collection[int]) -> UnrenderableTextError:
    """The error for the first character of ``missing`` met in field order (``document text`` if none is)."""
    for field, text in fields:
        for character in text:
            if ord(character) in missing:
                return UnrenderableTextError(field, character)
    return UnrenderableTextError("document text", chr(min(missing)))


def _fields(invoice: Invoice, computed: Computed) -> Iterator[tuple[str, str | None]]:
    yield "invoice number (BT-1)", invoice.number
    yield from _party("seller", invoice.seller, SELLER)
    yield from _party("buyer", invoice.buyer, BUYER)
    if invoice.delivery_address is not None:
        yield from _address("delivery", invoice.delivery_address, DELIVERY)
    for label, term, attribute in REFERENCES:
        yield f"{label} ({term})", getattr(invoice, attribute)
    for reference in invoice.preceding:
        yield "preceding invoice number (BT-25)", reference.number
    for line in invoice.lines:
        where = f"line {line.line_id}"
        yield f"{where} item name (BT-153)", line.item_name
        yield f"{where} description (BT-154)", line.description
        yield f"{where} note (BT-127)", line.note
        for item in line.allowances_charges:
            yield f"{where} {_reason(item, 'BT-144', 'BT-139')}", item.reason
    for item in invoice.allowances_charges:
        yield f"document {_reason(item, 'BT-104', 'BT-97')}", item.reason
    for row in computed.vat_breakdown:
        if row.exemption is not None:
            yield "VAT exemption reason (BT-120)", row.exemption.reason
    for note in invoice.notes:
        if note.subject not in SKIPPED_NOTES:
            yield f"note {note.subject} (BT-22)", note.text


def _party(role: str, party: Party, terms: dict[str, str]) -> Iterator[tuple[str, str | None]]:
    yield f"{role} name ({terms['name']})", party.name
    yield from _address(role, party.address, terms)
    for attribute in ("siren", "siret", "vat_number", "email"):
        yield f"{role} {attribute.replace('_', ' ')} ({terms[attribute]})", getattr(party, attribute)


def _address(role: str, address: PostalAddress, terms: dict[str, str]) -> Iterator[tuple[str, str | None]]:
    for attribute in ("street", "postcode", "city"):
        yield f"{role} {attribute} ({terms[attribute]})", getattr(address, attribute)


def _reason(item: AllowanceCharge, charge: str, allowance: str) -> str:
    return f"charge reason ({charge})" if item.is_charge else f"allowance reason ({allowance})"
