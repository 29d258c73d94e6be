"""Payment data for VAT due on receipt: the cashed amount split per VAT rate, and the lifecycle statuses.

Status 212 "Encaissée" (and Flux 10.2/10.4) must state the amount received per VAT rate (BR-FR-CDV-14:
MDT-215 amount with MDT-224 rate). A partial payment is split in proportion to each rate's VAT-inclusive total;
the parts are cents exact and always add up to the amount received, any rounding cent going to the largest
part. The VAT inside a part is the same proportion of that rate's invoice VAT, so a full payment gives back
the invoice's own VAT per rate, to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple, Protocol

from passerelle.einvoice.amounts import VatBreakdown, compute
from passerelle.einvoice.model import Invoice

CENT = Decimal("0.01")

# MDT-105 status codes (BR-FR-CDV-CL-06) with their labels (XP Z12-014 Annex B).
STATUS_LABELS: dict[int, str] = {
    200: "Déposée", 201: "Émise par la plateforme", 202: "Reçue par la plateforme", 203: "Mise à disposition",
    204: "Prise en charge", 205: "Approuvée", 206: "Approuvée partiellement", 207: "En litige", 208: "Suspendue",
    209: "Complétée", 210: "Refusée", 211: "Paiement transmis", 212: "Encaissée", 213: "Rejetée", 214: "Visée",
    220: "Annulée", 221: "Erreur de routage", 224: "Demande de paiement direct", 225: "Affacturée",
    226: "Affacturée confidentiel", 227: "Changement de compte à payer", 228: "Non affacturée", 501: "Irrecevable",
}
MANDATORY_STATUSES = frozenset({200, 210, 212, 213})  # the ones that must reach the PPF
CASHED = 212
_REASON_REQUIRED = frozenset({206, 207, 208, 210, 213, 501})  # BR-FR-CDV-15

# MDT-113 reason codes (BR-FR-CDV-CL-09, CDAR schematron v1.4.0), in the list's order.
REASON_CODES: tuple[str, ...] = (
    "RETRAIT_MAN_SERV", "ST_CT_NON_DECLAR", "SUPPR_COMP_AVOIR", "TRANSF_PMNT_REGIE", "CONTACT_ACHTR",
    "NON_TRANSMISE", "JUSTIF_ABS", "ROUTAGE_ERR", "AUTRE", "COORD_BANC_ERR", "TX_TVA_ERR", "MONTANTTOTAL_ERR",
    "CALCUL_ERR", "NON_CONFORME", "DOUBLON", "DEST_INC", "DEST_ERR", "TRANSAC_INC", "EMMET_INC", "CONTRAT_TERM",
    "DOUBLE_FACT", "CMD_ERR", "ADR_ERR", "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_CT_ABSENT", "REF_ERR", "PU_ERR",
    "REM_ERR", "QTE_ERR", "ART_ERR", "MODPAI_ERR", "QUALITE_ERR", "LIVR_INCOMP", "REJ_SEMAN", "REJ_UNI",
    "REJ_COH", "REJ_ADR", "REJ_CONT_B2G", "REJ_REF_PJ", "REJ_ASS_PJ", "IRR_VIDE_F", "IRR_TYPE_F", "IRR_SYNTAX",
    "IRR_TAILLE_PJ", "IRR_NOM_PJ", "IRR_VID_PJ", "IRR_EXT_DOC", "IRR_TAILLE_F", "IRR_ANTIVIRUS", "IRR_NOM_F",
)
# The reasons each status accepts (BR-FR-CDV-CL-09_MDT-113_<status>; 210 as between platforms, not B2G).
REASONS_BY_STATUS: dict[int, frozenset[str]] = {
    200: frozenset({"NON_TRANSMISE"}),
    206: frozenset({"AUTRE", "CMD_ERR", "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_CT_ABSENT", "REF_ERR", "PU_ERR",
                    "REM_ERR", "QTE_ERR", "ART_ERR", "MODPAI_ERR", "QUALITE_ERR", "LIVR_INCOMP"}),
    207: frozenset({"AUTRE", "COORD_BANC_ERR", "TX_TVA_ERR", "MONTANTTOTAL_ERR", "CALCUL_ERR", "NON_CONFORME",
                    "DOUBLON", "DEST_INC", "DEST_ERR", "TRANSAC_INC", "EMMET_INC", "CONTRAT_TERM", "DOUBLE_FACT",
                    "CMD_ERR", "ADR_ERR", "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_CT_ABSENT", "REF_ERR", "PU_ERR",
                    "REM_ERR", "QTE_ERR", "ART_ERR", "MODPAI_ERR", "QUALITE_ERR", "LIVR_INCOMP"}),
    208: frozenset({"JUSTIF_ABS", "COORD_BANC_ERR", "CMD_ERR", "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_CT_ABSENT",
                    "REF_ERR"}),
    210: frozenset({"TX_TVA_ERR", "MONTANTTOTAL_ERR", "CALCUL_ERR", "NON_CONFORME", "DOUBLON", "DEST_ERR",
                    "TRANSAC_INC", "EMMET_INC", "CONTRAT_TERM", "DOUBLE_FACT", "CMD_ERR", "ADR_ERR",
                    "REF_CT_ABSENT"}),
    213: frozenset({"MONTANTTOTAL_ERR", "CALCUL_ERR", "DOUBLON", "DEST_INC", "ADR_ERR", "REJ_SEMAN", "REJ_UNI",
                    "REJ_COH", "REJ_ADR", "REJ_CONT_B2G", "REJ_REF_PJ", "REJ_ASS_PJ"}),
    221: frozenset({"ROUTAGE_ERR"}),
    501: frozenset({"IRR_VIDE_F", "IRR_TYPE_F", "IRR_SYNTAX", "IRR_TAILLE_PJ", "IRR_NOM_PJ", "IRR_VID_PJ",
                    "IRR_EXT_DOC", "IRR_TAILLE_F", "IRR_ANTIVIRUS", "IRR_NOM_F"}),
}


class HasBreakdown(Protocol):
    """The computed amounts of an invoice, or the stored ones of an issued invoice."""

    @property
    def vat_breakdown(self) -> Sequence[VatBreakdown]: ...


class CashedPart(NamedTuple):
    """The part of a payment at one VAT rate (MDG-43: MDT-224 rate, MDT-215 amount)."""

    rate: Decimal
    amount_incl_vat: Decimal
    vat_amount: Decimal


def requires_reason(code: int) -> bool:
    """BR-FR-CDV-15: refused, rejected, inadmissible, disputed, partly approved and suspended need a reason."""
    return code in _REASON_REQUIRED


def reason_allowed(code: int, reason: str) -> bool:
    """Whether ``reason`` is in BR-FR-CDV-CL-09 and, when the list restricts ``code``'s reasons, among them."""
    return reason in REASON_CODES and reason in REASONS_BY_STATUS.get(code, frozenset(REASON_CODES))


def cashed_per_rate(invoice: Invoice, amount: Decimal, computed: HasBreakdown | None = None) -> list[CashedPart]:
    """Split ``amount`` (received, VAT included, invoice currency) over the invoice's VAT rates.

    ``computed`` gives the breakdown: an issued invoice's stored one
    (:class:`passerelle.ereporting.invoice_amounts.IssuedAmounts`), else the one computed from its lines.

    Rates are merged across categories (E, AE and K all at 0 % make one 0 % part), largest total first.
    """
    computed = computed or compute(invoice)
    amount = Decimal(amount)
    totals: dict[Decimal, list[Decimal]] = {}  # rate -> [VAT-inclusive total, VAT]
    for row in computed.vat_breakdown:
        rate = (row.rate or Decimal(0)).quantize(CENT)
        total = totals.setdefault(rate, [Decimal(0), Decimal(0)])
        total[0] += row.taxable_amount + row.tax_amount
        total[1] += row.tax_amount
    grand_total = sum((total for total, _ in totals.values()), Decimal(0))
    if grand_total <= 0:
        raise ValueError(f"invoice {invoice.number}: total {grand_total} leaves nothing to cash")
    if amount != amount.quantize(CENT) or not 0 < amount <= grand_total:
        raise ValueError(f"invoice {invoice.number}: amount received {amount} must be in cents, above 0 and at "
                         f"most the VAT-inclusive total {grand_total}")
    rows = sorted(totals.items(), key=lambda item: item[1][0], reverse=True)
    shares = [_round(amount * total / grand_total) for _, (total, _) in rows]
    shares[0] += amount - sum(shares, Decimal(0))  # the rounding cent(s) go to the largest part
    return [CashedPart(rate, share, _round(share * vat / total) if total else Decimal("0.00"))
            for (rate, (total, vat)), share in zip(rows, shares)]


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
