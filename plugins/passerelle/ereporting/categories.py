"""The B2C operation categories of Flux 10 (TT-81), shared by the amounts and the XML writer."""

from __future__ import annotations

from enum import Enum


class B2cCategory(str, Enum):
    """TT-81 (G1.68)."""

    GOODS = "TLB1"  # deliveries of goods subject to French VAT
    SERVICES = "TPS1"  # services subject to French VAT
    NOT_TAXABLE = "TNT1"  # not subject to French VAT (intra-EU distance sales included)
    MARGIN = "TMA1"  # margin scheme
