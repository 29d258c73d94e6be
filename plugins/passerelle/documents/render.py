"""CII and UBL renderings of an invoice, both produced by ``facturx.generate_xml`` at the EN 16931 level.

``factur-x``'s own checks are switched off: its schematron step needs an HTTP Saxon server and does
nothing without one, so validation is :mod:`passerelle.documents.validation`'s job, run on the result.
"""

from __future__ import annotations

from typing import Any

from facturx import generate_xml
from lxml import etree

from passerelle.documents.facturx_data import data_dict
from passerelle.einvoice.model import EUR, Invoice

CII = "factur-x"
UBL = "ubl-2.1"
LEVEL = "en16931"
UBL_ROUNDING = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}PayableRoundingAmount"


def render_cii(invoice: Invoice) -> bytes:
    """The UN/CEFACT CII document (also the XML a Factur-X PDF embeds)."""
    return render_data(data_dict(invoice), CII)


def render_ubl(invoice: Invoice) -> bytes:
    """The UBL 2.1 document: an ``Invoice``, or a ``CreditNote`` for type 381."""
    return render_data(data_dict(invoice), UBL)


def render_data(data: dict[str, Any], flavor: str) -> bytes:
    """Render a :func:`~passerelle.documents.facturx_data.data_dict` (which it consumes) in ``flavor``."""
    currency, rounding = data["BT-5"], data.get("BT-114")
    xml = generate_xml(data, flavor=flavor, level=LEVEL, check_xsd=False, check_schematron=False)
    if flavor == UBL and rounding and currency != EUR:
        xml = _rounding_in(xml, currency)
    return xml


def _rounding_in(xml: bytes, currency: str) -> bytes:
    """factur-x 7.8 writes the UBL rounding amount (BT-114) in EUR whatever the invoice currency."""
    root = etree.fromstring(xml)
    for node in root.iter(UBL_ROUNDING):
        node.set("currencyID", currency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
