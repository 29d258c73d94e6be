"""Validators compiled once per module (about a second each), and the sample invoices in their compliant form."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from passerelle.documents.validation import CiiValidator, UblValidator
from passerelle.einvoice.model import Invoice
from passerelle_dev import samples

# BR-FR-12 makes the buyer's electronic address (BT-49) mandatory on every invoice, foreign buyers included;
# these two samples have none. A Belgian company is reached through its enterprise number (EAS 0208), the
# Swiss one through an e-mail address (EAS EM).
FOREIGN_BUYER_ADDRESSES = {
    "intra_eu": ("0403170701", "0208"),
    "export_chf": ("factures@zuerich-handels.example", "EM"),
}


@pytest.fixture(scope="module")
def cii_validator() -> Iterator[CiiValidator]:
    with CiiValidator() as validator:
        yield validator


@pytest.fixture(scope="module")
def ubl_validator() -> Iterator[UblValidator]:
    with UblValidator() as validator:
        yield validator


def compliant_sample(name: str) -> Invoice:
    """``samples.ALL[name]()``, with a buyer electronic address where the sample lacks one."""
    invoice = samples.ALL[name]()
    if name in FOREIGN_BUYER_ADDRESSES and invoice.buyer.electronic_address is None:
        address, scheme = FOREIGN_BUYER_ADDRESSES[name]
        invoice = replace(invoice, buyer=replace(invoice.buyer, electronic_address=address,
                                                 electronic_address_scheme=scheme))
    return invoice


@pytest.fixture(scope="session")
def sample() -> Callable[[str], Invoice]:
    """``sample(name)``: the named sample, compliant (see :data:`FOREIGN_BUYER_ADDRESSES`)."""
    return compliant_sample
