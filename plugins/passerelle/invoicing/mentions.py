"""The seller as a party and the legal mentions French law requires on every invoice (BR-FR-05/06).

PMD (late-payment penalties), PMT (the €40 recovery indemnity) and AAB (discount terms) are mandatory
notes; REG (legal form and capital) and ABL (RCS registration) carry the Code de commerce mentions
when the configuration has them. BT-8's débits option is also written out in words (AAI), since the
PDF reader sees the text, not the code.
"""

from __future__ import annotations

from datetime import date, timedelta

from passerelle.einvoice.model import Note, Party, PostalAddress, VatPoint
from passerelle.invoicing.seller import SellerConfig, VatRegime

DEDUCTION = "deduction"
REFUND = "refund"
SETTLEMENTS = (REFUND, DEDUCTION)


def seller_party(seller: SellerConfig) -> Party:
    return Party(
        name=seller.legal_name,
        address=PostalAddress(seller.address.street, seller.address.postcode, seller.address.city,
                              seller.address.country_code),
        siren=seller.siren,
        siret=seller.siret,
        vat_number=seller.vat_number,
        electronic_address=seller.electronic_address,
    )


def legal_notes(seller: SellerConfig) -> tuple[Note, ...]:
    rate = format(seller.late_penalty_rate.normalize(), "f").replace(".", ",")
    notes = [
        Note("PMD", f"Pénalités de retard : taux annuel de {rate} % appliqué au montant TTC dû à compter du "
                    "lendemain de la date d'échéance (art. L441-10 C. com.)"),
        Note("PMT", seller.recovery_indemnity_text),
        Note("AAB", seller.discount_terms),
    ]
    if seller.legal_form or seller.share_capital is not None:
        capital = f" au capital de {seller.share_capital:,.2f} €".replace(",", " ").replace(".", ",") \
            if seller.share_capital is not None else ""
        notes.append(Note("REG", f"{seller.legal_form or 'Société'}{capital}"))
    if seller.rcs:
        notes.append(Note("ABL", seller.rcs))
    if seller.vat_on_debits:
        notes.append(Note("AAI", "Option pour le paiement de la taxe d'après les débits"))
    return tuple(notes)


def vat_point(seller: SellerConfig, *, has_services: bool) -> VatPoint:
    """BT-8: delivery for goods only; for services, the invoice date under the débits option, else payment."""
    if not has_services:
        return VatPoint.DELIVERY
    return VatPoint.INVOICE if seller.vat_on_debits else VatPoint.PAYMENT


def one_vat_point(seller: SellerConfig, *, has_goods: bool, has_services: bool) -> bool:
    """Whether one document (one BT-8) can date the VAT of all its lines.

    Goods are taxed on delivery, services on payment or, under the débits option, on the invoice: a
    document mixing both would state a wrong VAT point for one part, so the drafts split it in two. Under
    the franchise en base no VAT becomes due, and nothing needs dating.
    """
    if seller.vat_regime is VatRegime.FRANCHISE or not (has_goods and has_services):
        return True
    return vat_point(seller, has_services=False) is vat_point(seller, has_services=True)


def due_date(seller: SellerConfig, issue_date: date) -> date:
    """BT-9: the configured payment terms from the issue date (at most 60 days, L441-10)."""
    return issue_date + timedelta(days=seller.payment_terms_days)


def payment_terms(seller: SellerConfig) -> str:
    """BT-20."""
    if seller.payment_terms_days == 0:
        return "Paiement à réception de facture, par virement"
    return f"Paiement à {seller.payment_terms_days} jours date de facture, par virement"


def credit_terms(settlement: str, refund_days: int) -> str:
    """BT-20 of a credit note: how it is settled, so it never reads as a demand for payment."""
    if settlement == DEDUCTION:
        return "Avoir à déduire de votre prochain règlement"
    if settlement == REFUND:
        if refund_days == 0:
            return "Avoir remboursé par virement à réception"
        return f"Avoir remboursé par virement sous {refund_days} jours"
    raise ValueError(f"settlement {settlement!r} must be one of {', '.join(SETTLEMENTS)}")
