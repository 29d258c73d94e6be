"""Identifiers for the sandbox dataset: Salesforce and HubSpot record ids, SIREN/SIRET and VAT numbers.

Record ids come from strictly increasing sequences (with random gaps, as real ids look), so they
are unique without remembering the ones already issued: the bulk generator stays O(1) in memory.
Legal identifiers get real check digits computed with python-stdnum, so connectors can validate
them with the same library.
"""

from __future__ import annotations

import random

from stdnum import luhn
from stdnum.ch import uid as ch_uid
from stdnum.ch import vat as ch_vat
from stdnum.fr import siren as fr_siren
from stdnum.iso7064 import mod_11_10

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
SALESFORCE_PODS = ("5g", "8d", "Dn", "7Q", "4x", "Hb")

SF_PREFIXES = {
    "Organization": "00D",
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityLineItem": "00k",
    "Pricebook2": "01s",
    "Product2": "01t",
    "PricebookEntry": "01u",
}


def salesforce_suffix(id15: str) -> str:
    """The 3-character case-safe suffix of an 18-character Salesforce id.

    Each 5-character chunk gives a 5-bit mask of which positions hold an upper-case letter,
    encoded as one character of ``A-Z0-5``.
    """
    chars = []
    for start in (0, 5, 10):
        mask = 0
        for bit, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                mask |= 1 << bit
        chars.append(_SUFFIX_CHARS[mask])
    return "".join(chars)


def base62(number: int, width: int) -> str:
    """``number`` in Salesforce's base 62 (digits, upper case, lower case), left-padded with 0."""
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def salesforce_id(prefix: str, pod: str, number: int) -> str:
    """18-character id: key prefix, pod, reserved ``0``, 9-character record number, suffix."""
    id15 = f"{prefix}{pod}0{base62(number, 9)}"
    return id15 + salesforce_suffix(id15)


def _upper_mask(chars: str, shift: int = 0) -> int:
    return sum(1 << (bit + shift) for bit, char in enumerate(chars) if "A" <= char <= "Z")


_PAIRS = tuple(
    (BASE62[first] + BASE62[second], _upper_mask(BASE62[first] + BASE62[second], 3))
    for first in range(62)
    for second in range(62)
)
"""The 62² two-character endings of an id, with their bits of the last suffix character."""


class SalesforceIds:
    """Increasing ids for one object type in one org.

    Same ids as :func:`salesforce_id`, but the first 13 characters and their suffix bits are
    reused until the number crosses a multiple of 62²: the bulk generator issues millions.
    """

    def __init__(self, prefix: str, pod: str, rng: random.Random, max_gap: int = 40) -> None:
        self.prefix, self.pod, self._rng, self._max_gap = prefix, pod, rng, max_gap
        self._number = rng.randrange(62**4, 62**5)
        self._high = -1
        self._head = self._suffix_head = ""
        self._tail_mask = 0

    def __call__(self) -> str:
        self._number += 1 + int(self._rng.random() * self._max_gap)
        high, low = divmod(self._number, 62**2)
        if high != self._high:
            self._high = high
            self._head = f"{self.prefix}{self.pod}0{base62(high, 7)}"
            head_masks = _upper_mask(self._head[:5]), _upper_mask(self._head[5:10])
            self._suffix_head = _SUFFIX_CHARS[head_masks[0]] + _SUFFIX_CHARS[head_masks[1]]
            self._tail_mask = _upper_mask(self._head[10:])
        chars, mask = _PAIRS[low]
        return f"{self._head}{chars}{self._suffix_head}{_SUFFIX_CHARS[self._tail_mask | mask]}"


class HubSpotIds:
    """Increasing numeric ids (as strings) for one object type in one portal."""

    def __init__(self, base: int, rng: random.Random, max_gap: int = 900) -> None:
        self._number, self._rng, self._max_gap = base + rng.randrange(10**7), rng, max_gap

    def __call__(self) -> str:
        self._number += 1 + int(self._rng.random() * self._max_gap)
        return str(self._number)


def new_siren(rng: random.Random) -> str:
    """A random SIREN with a valid Luhn check digit (never La Poste's, which has its own rule)."""
    while True:
        body = f"{rng.randint(1, 9)}{rng.randrange(10**7):07d}"
        if body != "35600000":
            return body + str(luhn.calc_check_digit(body))


def new_siret(rng: random.Random, siren: str) -> str:
    """A SIRET of ``siren``: 4 random NIC digits, then the Luhn digit over all 14."""
    body = f"{siren}{rng.randint(1, 120):04d}"
    return body + str(luhn.calc_check_digit(body))


def fr_vat(siren: str) -> str:
    """French VAT number ``FR`` + key + SIREN; the key is ``(SIREN * 100 + 12) mod 97``."""
    return "FR" + str(fr_siren.to_tva(siren))


def break_luhn(number: str) -> str:
    """``number`` with its check digit changed, so the Luhn check fails."""
    last = int(number[-1])
    return number[:-1] + str((last + 1 + int(number[-3]) % 8) % 10)


def be_vat(rng: random.Random) -> str:
    """Belgian VAT: ``BE0`` + 7 digits + two check digits ``97 - (n mod 97)``."""
    body = rng.randrange(2_000_000, 9_999_999)
    return f"BE0{body:07d}{97 - body % 97:02d}"


def de_vat(rng: random.Random) -> str:
    """German USt-IdNr: ``DE`` + 8 digits + ISO 7064 mod 11,10 check digit."""
    body = f"{rng.randint(1, 9)}{rng.randrange(10**7):07d}"
    return "DE" + body + str(mod_11_10.calc_check_digit(body))


def it_vat(rng: random.Random) -> str:
    """Italian partita IVA: ``IT`` + 7-digit number + province office + Luhn check digit."""
    body = f"{rng.randrange(1, 10**7):07d}{rng.randint(1, 100):03d}"
    return "IT" + body + str(luhn.calc_check_digit(body))


def ch_vat_number(rng: random.Random) -> str:
    """Swiss VAT: the UID ``CHE`` + 8 digits + check digit, then ``MWST``/``TVA``, as printed."""
    while True:
        body = f"{rng.randint(1, 9)}{rng.randrange(10**7):07d}"
        check = str(ch_uid.calc_check_digit(body))
        if len(check) == 1:
            return str(ch_vat.format(f"CHE{body}{check}{rng.choice(('MWST', 'TVA'))}"))


FOREIGN_VAT = {"BE": be_vat, "DE": de_vat, "IT": it_vat, "CH": ch_vat_number}
