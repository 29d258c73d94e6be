"""Identifier and code checks over a Series of distinct values, returning one verdict per value.

python-stdnum is the reference for SIREN, SIRET and VAT numbers, but it costs tens of microseconds a
value: seconds for 100,000 customers. The shapes nearly every value has are therefore checked with
numpy by the same rules stdnum applies (the tests compare both on thousands of numbers):

- SIREN: 9 ASCII digits, Luhn checksum.
- SIRET: 14 digits, Luhn checksum over the 14 and over the SIREN part (La Poste establishments, which
  use a different checksum, go to stdnum).
- French VAT number: ``FR`` + 2-digit key + SIREN, key = (SIREN × 100 + 12) mod 97, SIREN Luhn-valid
  unless it starts with 000 (Monaco).

Every other value (foreign VAT numbers, French keys with letters) is checked by stdnum one by one.
Values must already be compact (staging removes spaces): '732 829 320' is not a valid SIREN here.

A tax identifier (BT-48) is an EU VAT number only for EU buyers. Outside the EU it is the buyer's own
national number, prefixed with its country (BR-CO-09): checked by that country's python-stdnum scheme
where one exists (``US`` EIN, ``CH`` UID/MWST, ``GB`` VAT, ``NO`` MVA...), otherwise accepted as given
with its country (:func:`tax_id_problem`). Flux 10 carries it as the buyer's identifier (scheme 0227).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pycountry
from stdnum import get_cc_module, iban, vatin
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.fr import siren, siret
from stdnum.us import ein

CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)
LA_POSTE = "356000000"
# VAT prefixes of the EU member states (Greece is EL) and Northern Ireland for goods (XI).
EU_VAT_PREFIXES = frozenset("AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI"
                            .split())
# Non-EU countries whose usual business tax identifier stdnum knows under another name than "vat".
NON_EU_SCHEMES: dict[str, Any] = {"US": ein}
FREE_FORM = r"[A-Z0-9]{1,30}"  # a tax identifier without a known scheme: letters and digits, as given


def _shape(values: pd.Series, pattern: str) -> np.ndarray:
    """Which values are text fully matching ``pattern``."""
    text = values.map(lambda value: value if isinstance(value, str) else "")
    return text.str.fullmatch(pattern).to_numpy(dtype=bool)


def luhn(numbers: pd.Series | np.ndarray) -> np.ndarray:
    """Luhn check of equal-length ASCII digit strings."""
    numbers = np.asarray(numbers, dtype=object)
    if not len(numbers):
        return np.zeros(0, dtype=bool)
    width = len(numbers[0])
    digits = (np.frombuffer("".join(numbers).encode("ascii"), dtype=np.uint8).reshape(-1, width) - 48).astype(np.int64)
    doubled = digits[:, width - 2::-2] * 2  # every second digit from the right
    digits[:, width - 2::-2] = np.where(doubled > 9, doubled - 9, doubled)
    return digits.sum(axis=1) % 10 == 0


def siren_valid(values: pd.Series) -> np.ndarray:
    valid = np.zeros(len(values), dtype=bool)
    plain = _shape(values, r"[0-9]{9}")
    valid[plain] = luhn(values[plain])
    return valid


def siret_valid(values: pd.Series) -> np.ndarray:
    valid = np.zeros(len(values), dtype=bool)
    plain = _shape(values, r"[0-9]{14}")
    text = values.to_numpy(dtype=object)
    la_poste = plain & np.array([v.startswith(LA_POSTE) if isinstance(v, str) else False for v in text], dtype=bool)
    usual = plain & ~la_poste
    numbers = text[usual]
    valid[usual] = luhn(numbers) & luhn(np.array([n[:9] for n in numbers], dtype=object))
    valid[la_poste] = [siret.is_valid(v) for v in text[la_poste]]
    return valid


def vat_valid(values: pd.Series) -> np.ndarray:
    valid = np.zeros(len(values), dtype=bool)
    text = values.to_numpy(dtype=object)
    french = _shape(values, r"FR[0-9]{11}")
    numbers = text[french]
    sirens = np.array([n[4:] for n in numbers], dtype=object)
    keys = np.array([int(n[2:4]) for n in numbers], dtype=np.int64)
    monaco = np.array([s.startswith("000") for s in sirens], dtype=bool)
    expected = (np.array([int(s) for s in sirens], dtype=np.int64) * 100 + 12) % 97
    valid[french] = (monaco | luhn(sirens)) & (keys == expected)
    others = ~french
    valid[others] = [is_valid_vat_slow(v) for v in text[others]]
    return valid


def is_valid_vat_slow(value: Any) -> bool:
    """Any country's tax identifier with its ISO prefix (``DE136695976``, ``EL…``, ``CHE…``, ``US…``)."""
    return tax_id_problem(value) == "valid"


def tax_id_problem(value: Any, country: str | None = None) -> str:
    """``"valid"`` or why ``value`` is not a valid tax identifier (BT-48) of a buyer in ``country``.

    An EU prefix means an EU VAT number (stdnum ``vatin``). Any other ISO country prefix is that country's
    scheme: stdnum's VAT module of the country or :data:`NON_EU_SCHEMES`, else accepted as given
    (letters and digits). ``country``, when known, must be the prefix's country unless the prefix is
    EU (an EU subsidiary may bill under its own VAT number) and may not be EU for a non-EU-prefixed number.
    """
    if not isinstance(value, str):
        return "not text"
    prefix = value[:2]
    if prefix in EU_VAT_PREFIXES or (prefix not in COUNTRY_CODES and prefix != "EL"):
        return identifier_problem("vat", value)
    if country and country != prefix:
        return f"prefix {prefix} is not the buyer's country {country}"
    if prefix in NON_EU_SCHEMES:
        return _stdnum_problem(NON_EU_SCHEMES[prefix], value[2:], "invalid component")
    if get_cc_module(prefix.lower(), "vat") is not None:
        return _stdnum_problem(vatin, value, "invalid component")
    return "valid" if re.fullmatch(FREE_FORM, value[2:]) else "format"


def iban_problem(value: Any) -> str:
    """``"valid"`` or why ``value`` is not a compact IBAN (BT-84), by stdnum (country length, mod-97)."""
    if not isinstance(value, str):
        return "not text"
    return _stdnum_problem(iban, value, "invalid component")


def currency_valid(values: pd.Series) -> np.ndarray:
    return values.isin(CURRENCY_CODES).to_numpy(dtype=bool)


def country_valid(values: pd.Series) -> np.ndarray:
    return values.isin(COUNTRY_CODES).to_numpy(dtype=bool)


def one(check: Any, value: Any) -> bool:
    """``check`` (one of the functions above) on a single value."""
    return bool(check(pd.Series([value], dtype=object))[0])


def identifier_problem(kind: str, value: Any) -> str:
    """Why ``value`` is not a valid ``kind`` (siren, siret, vat), in the words of a quarantine reason."""
    module = {"siren": siren, "siret": siret, "vat": vatin}[kind]
    if not isinstance(value, str):
        return "not text"
    if kind == "vat" and value[:2] not in EU_VAT_PREFIXES and value[:2] in COUNTRY_CODES:
        return tax_id_problem(value)
    return _stdnum_problem(module, value, "unknown country prefix" if kind == "vat" else "invalid component")


def _stdnum_problem(module: Any, value: str, component: str) -> str:
    try:
        if module.compact(value) != value:
            return "not compact"
        module.validate(value)
    except InvalidChecksum:
        return "checksum"
    except InvalidLength:
        return "length"
    except InvalidComponent:
        return component
    except InvalidFormat:
        return "format"
    except ValidationError:
        return "invalid"
    return "valid"
