"""The invoice as EN 16931 sees it: one immutable model that the marts store and every format renders.

Field comments give the business term (BT/BG) each attribute carries. Amounts are ``Decimal``; the ones
the norm computes (line nets, VAT breakdown, totals) are not stored here but derived by
:mod:`passerelle.einvoice.amounts`, so a document can never disagree with its own arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum

PROFILE_EN16931 = "urn:cen.eu:en16931:2017"  # BT-24
INVOICE = "380"
CREDIT_NOTE = "381"
EUR = "EUR"


class VatCategory(str, Enum):
    """UNTDID 5305 categories France accepts (BR-FR-15)."""

    STANDARD = "S"
    ZERO = "Z"
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    INTRA_EU = "K"
    EXPORT = "G"
    OUT_OF_SCOPE = "O"


class ProcessingRule(str, Enum):
    """The ``BAR`` note (BR-FR-20): how the platform routes the invoice and whether it is e-reported."""

    B2B = "B2B"  # domestic: e-invoiced through the platforms
    B2BINT = "B2BINT"  # buyer outside France: e-reported (Flux 10.1)
    B2C = "B2C"  # individual: e-reported aggregated (Flux 10.3)


class VatPoint(str, Enum):
    """BT-8: when VAT becomes due. Debits (on invoice) when the seller opted for it, else on payment for services."""

    INVOICE = "invoice"  # CII 5 / UBL 3
    DELIVERY = "delivery"  # CII 29 / UBL 35
    PAYMENT = "payment"  # CII 72 / UBL 432


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """BG-5 / BG-8 / BG-15."""

    street: str | None
    postcode: str | None
    city: str | None
    country_code: str  # BT-40 / BT-55 / BT-80


@dataclass(frozen=True, slots=True)
class Party:
    """Seller (BG-4) or buyer (BG-7)."""

    name: str  # BT-27 / BT-44
    address: PostalAddress
    siren: str | None = None  # BT-30 / BT-47, scheme 0002
    siret: str | None = None  # BT-29 / BT-46, scheme 0009
    vat_number: str | None = None  # BT-31 / BT-48
    electronic_address: str | None = None  # BT-34 / BT-49
    electronic_address_scheme: str = "0225"  # EAS: 0225 French directory, EM e-mail
    trading_name: str | None = None  # BT-28 / BT-45
    email: str | None = None  # BT-43 / BT-58 contact e-mail


@dataclass(frozen=True, slots=True)
class AllowanceCharge:
    """Line level (BG-27/BG-28) or document level (BG-20/BG-21) allowance or charge.

    ``amount`` is the BT-92/BT-99/BT-136/BT-141 figure; when ``percent`` and ``base_amount`` are given the
    amount is ``round2(base × percent / 100)`` (see :func:`passerelle.einvoice.amounts.allowance_amount`).
    Document-level ones carry their own VAT category and rate (BT-95/96, BT-102/103); line-level ones take
    the line's.
    """

    is_charge: bool
    amount: Decimal
    reason: str  # BT-97 / BT-104 / BT-139 / BT-144
    reason_code: str | None = None  # UNTDID 5189 (allowances, e.g. 95 discount) / 7161 (charges, e.g. FC freight)
    base_amount: Decimal | None = None
    percent: Decimal | None = None
    vat_category: VatCategory | None = None  # document level only
    vat_rate: Decimal | None = None  # document level only


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """BG-25. ``net_amount`` (BT-131) is computed: round2(quantity × net price) − allowances + charges."""

    line_id: str  # BT-126
    item_name: str  # BT-153
    quantity: Decimal  # BT-129
    unit_code: str  # BT-130, UN/ECE Rec. 20 (HUR, DAY, C62, LS...)
    net_price: Decimal  # BT-146, excluding VAT, at most 6 decimals, never negative
    vat_category: VatCategory  # BT-151
    vat_rate: Decimal | None  # BT-152 (None only for category O)
    description: str | None = None  # BT-154
    seller_item_id: str | None = None  # BT-155
    allowances_charges: tuple[AllowanceCharge, ...] = ()  # BG-27 / BG-28
    period_start: date | None = None  # BT-134
    period_end: date | None = None  # BT-135
    is_goods: bool = False  # goods or services: gives BT-23's first letter
    note: str | None = None  # BT-127


@dataclass(frozen=True, slots=True)
class Exemption:
    """BT-120 / BT-121 for one VAT category of the breakdown."""

    reason: str
    code: str | None = None  # VATEX code


@dataclass(frozen=True, slots=True)
class PrecedingInvoice:
    """BG-3: what a credit note or a corrective invoice refers to."""

    number: str  # BT-25
    issue_date: date  # BT-26


@dataclass(frozen=True, slots=True)
class Note:
    """BG-1: BT-22 text with its BT-21 subject code (PMT, PMD, AAB, BAR, REG, ABL, AAI, TXD...)."""

    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class Invoice:
    """Everything an invoice or credit note carries, before computed amounts."""

    number: str  # BT-1
    issue_date: date  # BT-2
    type_code: str  # BT-3: 380 invoice, 381 credit note
    currency: str  # BT-5
    seller: Party
    buyer: Party
    lines: tuple[InvoiceLine, ...]
    processing_rule: ProcessingRule  # BAR note
    vat_point: VatPoint  # BT-8
    due_date: date  # BT-9
    payment_terms: str  # BT-20
    notes: tuple[Note, ...] = ()  # PMD / PMT / AAB / REG / ABL... (BAR is added from processing_rule)
    profile: str = PROFILE_EN16931  # BT-24
    business_process: str = "S1"  # BT-23, first letter B/S/M from the lines (see amounts.business_process)
    allowances_charges: tuple[AllowanceCharge, ...] = ()  # BG-20 / BG-21
    exemptions: dict[tuple[VatCategory, Decimal | None], Exemption] = field(default_factory=dict)  # BT-120/121
    eur_per_unit: Decimal | None = None  # exchange rate giving BT-111 when BT-5 is not EUR
    buyer_reference: str | None = None  # BT-10
    purchase_order: str | None = None  # BT-13
    contract_reference: str | None = None  # BT-12
    project_reference: str | None = None  # BT-11
    period_start: date | None = None  # BT-73
    period_end: date | None = None  # BT-74
    delivery_date: date | None = None  # BT-72
    delivery_address: PostalAddress | None = None  # BG-15, when it differs from the buyer's address
    delivery_name: str | None = None  # BT-70
    payment_means_code: str = "58"  # BT-81: 58 SEPA credit transfer
    iban: str | None = None  # BT-84
    bic: str | None = None  # BT-86
    payment_reference: str | None = None  # BT-83
    preceding: tuple[PrecedingInvoice, ...] = ()  # BG-3
    prepaid_amount: Decimal = Decimal("0")  # BT-113
    rounding_amount: Decimal = Decimal("0")  # BT-114

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE

    @property
    def tax_currency(self) -> str | None:
        """BT-6: EUR whenever the invoice currency is not (BR-FR-CO-12)."""
        return EUR if self.currency != EUR else None
