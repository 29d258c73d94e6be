"""The issuing company (the seller on every invoice), checked completely before anything is issued.

Invoices are legal records: a wrong SIREN, an IBAN with a typo or payment terms beyond what the Code
de commerce allows would be printed on every one of them. So the configuration is validated as a
whole at start-up and every problem is reported at once, each naming its field
(``seller.siret: '73282932000075' is not a valid SIRET (check digit)``).

Sources, first found wins: the mapping given to :func:`load_seller`, the JSON file named by
``PASSERELLE_SELLER_FILE``, or the JSON text in ``PASSERELLE_SELLER`` (an Airflow Variable exported
as an environment variable works the same way).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from stdnum import bic, iban
from stdnum.exceptions import ValidationError
from stdnum.fr import siren, siret, tva

from passerelle.errors import PasserelleError
from passerelle.settings import settings

# BT-1 must fit the PPF's current 20-character limit: the prefix leaves room for "YYYY-NNNNNN".
NUMBER_CHARSET = re.compile(r"^[A-Za-z0-9+\-_/]+$")
MAX_PREFIX_LENGTH = 20 - len("2026-000001")
# BR-FR-23: electronic addresses use these characters, 125 at most.
ADDRESS_CHARSET = re.compile(r"^[A-Za-z0-9+\-_.]{1,125}$")
MAX_PAYMENT_DAYS = 60  # Code de commerce L441-10: 60 days from the invoice date at most
DEFAULT_RECOVERY_INDEMNITY = (
    "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 € (art. D441-5 C. com.)"
)
DEFAULT_DISCOUNT_TERMS = "Pas d'escompte pour paiement anticipé"


class VatRegime(str, Enum):
    """How the seller files VAT, which sets the e-reporting calendar."""

    REEL_NORMAL_MENSUEL = "reel_normal_mensuel"
    REEL_NORMAL_TRIMESTRIEL = "reel_normal_trimestriel"
    REEL_SIMPLIFIE = "reel_simplifie"
    FRANCHISE = "franchise"


class SellerConfigError(PasserelleError):
    """The seller configuration is incomplete or invalid; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid seller configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Address:
    street: str
    postcode: str
    city: str
    country_code: str


@dataclass(frozen=True)
class SellerConfig:
    legal_name: str
    siren: str
    siret: str
    vat_number: str | None
    address: Address
    electronic_address: str
    iban: str
    bic: str | None
    vat_regime: VatRegime
    vat_on_debits: bool
    invoice_prefix: str
    payment_terms_days: int
    late_penalty_rate: Decimal
    recovery_indemnity_text: str
    discount_terms: str
    legal_form: str | None = None
    share_capital: Decimal | None = None
    rcs: str | None = None

    @property
    def electronic_address_scheme(self) -> str:
        """EAS scheme of BT-34: 0225 is the French directory's SIREN-based addressing."""
        return "0225"


class _Checker:
    """Collects problems field by field instead of stopping at the first one."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data, self.problems = data, []

    def fail(self, field: str, problem: str) -> None:
        self.problems.append(f"seller.{field}: {problem}")

    def text(self, field: str, required: bool = True) -> str | None:
        value = self.data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str):
            self.fail(field, f"must be text, got {value!r}")
            return None
        return value.strip()

    def identifier(self, field: str, module: Any, label: str, required: bool = True) -> str | None:
        value = self.text(field, required)
        if value is None:
            return None
        try:
            return module.validate(value)
        except ValidationError as error:
            self.fail(field, f"{value!r} is not a valid {label} ({error.message.rstrip('.').lower()})")
            return None

    def decimal(self, field: str, required: bool = True) -> Decimal | None:
        value = self.data.get(field)
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if isinstance(value, float):  # 10.15 as a float is not 10.15: money and rates are written as text
            self.fail(field, f"write it as a string ('{value}'), not a JSON float")
            return None
        try:
            return Decimal(str(value))
        except InvalidOperation:
            self.fail(field, f"{value!r} is not a number")
            return None


def load_seller(data: Mapping[str, Any] | None = None) -> SellerConfig:
    """Validate ``data`` (default: from the environment) into a :class:`SellerConfig`.

    Raises :class:`SellerConfigError` listing every problem found.
    """
    data = seller_data_from_environment() if data is None else data
    check = _Checker(data)
    legal_name = check.text("legal_name")
    siren_value = check.identifier("siren", siren, "SIREN")
    siret_value = check.identifier("siret", siret, "SIRET")
    if siren_value and siret_value and not siret_value.startswith(siren_value):
        check.fail("siret", f"'{siret_value}' does not start with the SIREN '{siren_value}'")

    regime = None
    regime_text = check.text("vat_regime")
    if regime_text is not None:
        try:
            regime = VatRegime(regime_text)
        except ValueError:
            check.fail("vat_regime", f"{regime_text!r} is not one of {', '.join(r.value for r in VatRegime)}")
    franchise = regime is VatRegime.FRANCHISE
    vat_value = check.identifier("vat_number", tva, "French VAT number", required=not franchise)
    if vat_value:
        vat_value = "FR" + vat_value  # python-stdnum returns the number without its country prefix
    if vat_value and siren_value and vat_value[-9:] != siren_value:
        check.fail("vat_number", f"'{vat_value}' is not built on the SIREN '{siren_value}'")
    vat_on_debits = data.get("vat_on_debits", False)
    if not isinstance(vat_on_debits, bool):
        check.fail("vat_on_debits", f"must be true or false, got {vat_on_debits!r}")
    elif vat_on_debits and franchise:
        check.fail("vat_on_debits", "a seller under the franchise regime charges no VAT: the débits option does not apply")

    address = _address(check)
    electronic = check.text("electronic_address", required=False) or siren_value or ""
    if electronic and not ADDRESS_CHARSET.match(electronic):
        check.fail("electronic_address", f"{electronic!r} must be 1 to 125 characters among A-Z a-z 0-9 + - _ .")
    iban_value = check.identifier("iban", iban, "IBAN")
    bic_value = check.identifier("bic", bic, "BIC", required=False)

    prefix = check.text("invoice_prefix")
    if prefix is not None and (not NUMBER_CHARSET.match(prefix) or len(prefix) > MAX_PREFIX_LENGTH):
        check.fail("invoice_prefix", f"{prefix!r} must be 1 to {MAX_PREFIX_LENGTH} characters among "
                                     "A-Z a-z 0-9 + - _ / (invoice numbers are limited to 20 characters)")
    days = data.get("payment_terms_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_PAYMENT_DAYS:
        check.fail("payment_terms_days", f"{days!r} must be a whole number of days from 0 to {MAX_PAYMENT_DAYS}")
    penalty = check.decimal("late_penalty_rate")
    if penalty is not None and penalty <= 0:
        check.fail("late_penalty_rate", f"{penalty} must be a positive yearly rate in percent")
    indemnity = check.text("recovery_indemnity_text", required=False) or DEFAULT_RECOVERY_INDEMNITY
    if "40" not in indemnity:
        check.fail("recovery_indemnity_text", "must state the 40 € fixed recovery indemnity")
    capital = check.decimal("share_capital", required=False)

    if check.problems:
        raise SellerConfigError(check.problems)
    assert legal_name and siren_value and siret_value and address and regime and iban_value and prefix
    assert penalty is not None and isinstance(days, int)
    return SellerConfig(
        legal_name=legal_name, siren=siren_value, siret=siret_value, vat_number=vat_value, address=address,
        electronic_address=electronic, iban=iban_value, bic=bic_value, vat_regime=regime,
        vat_on_debits=bool(vat_on_debits), invoice_prefix=prefix, payment_terms_days=days,
        late_penalty_rate=penalty, recovery_indemnity_text=indemnity,
        discount_terms=check.text("discount_terms", required=False) or DEFAULT_DISCOUNT_TERMS,
        legal_form=check.text("legal_form", required=False), share_capital=capital,
        rcs=check.text("rcs", required=False),
    )


def _address(check: _Checker) -> Address | None:
    raw = check.data.get("address")
    if not isinstance(raw, Mapping):
        check.fail("address", "is required: {street, postcode, city, country_code}")
        return None
    nested = _Checker(raw)
    street, postcode, city = nested.text("street"), nested.text("postcode"), nested.text("city")
    country = nested.text("country_code")
    if country is not None and country != "FR":
        nested.fail("country_code", f"{country!r}: the seller must be established in France (FR)")
    if postcode is not None and country == "FR" and not re.fullmatch(r"\d{5}", postcode):
        nested.fail("postcode", f"{postcode!r} is not a French postcode (5 digits)")
    check.problems += [problem.replace("seller.", "seller.address.", 1) for problem in nested.problems]
    if nested.problems:
        return None
    assert street and postcode and city and country
    return Address(street, postcode, city, country)


def seller_data_from_environment() -> Mapping[str, Any]:
    """The seller mapping from ``PASSERELLE_SELLER_FILE`` (a JSON file) or ``PASSERELLE_SELLER`` (JSON)."""
    configured = settings()
    path = configured.seller_file
    if path:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise SellerConfigError([f"PASSERELLE_SELLER_FILE {str(path)!r}: {error}"]) from error
    text = configured.seller
    if not text:
        raise SellerConfigError(["no seller configured: set PASSERELLE_SELLER_FILE (a JSON file) or PASSERELLE_SELLER"])
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SellerConfigError([f"PASSERELLE_SELLER is not valid JSON: {error}"]) from error
