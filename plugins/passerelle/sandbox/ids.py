"""Record identifiers in the vendors' own formats, for records the sandbox creates itself.

New ids continue the dataset's sequences (greater than every existing id of the object), so they
look like the ids the vendor would hand out next and never collide with dataset ids.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_VALUE = {char: index for index, char in enumerate(BASE62)}
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

SALESFORCE_KEY_PREFIXES = {
    "Organization": "00D",
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityLineItem": "00k",
    "Pricebook2": "01s",
    "Product2": "01t",
    "PricebookEntry": "01u",
    "Order": "801",
    "OrderItem": "802",
    "QueryLocator": "01g",
}
DEFAULT_POD = "5g"


def salesforce_suffix(id15: str) -> str:
    """The 3-character case-safe suffix that turns a 15-character id into its 18-character form."""
    chars = []
    for start in (0, 5, 10):
        mask = 0
        for bit, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                mask |= 1 << bit
        chars.append(_SUFFIX_CHARS[mask])
    return "".join(chars)


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def base62_value(text: str) -> int:
    value = 0
    for char in text:
        value = value * 62 + _BASE62_VALUE[char]
    return value


def salesforce_id(prefix: str, pod: str, number: int) -> str:
    id15 = f"{prefix}{pod}0{base62(number, 9)}"
    return id15 + salesforce_suffix(id15)


def normalize_salesforce_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None if ``value`` is not an id."""
    if len(value) not in (15, 18) or not all(char in _BASE62_VALUE for char in value):
        return None
    if len(value) == 15:
        return value + salesforce_suffix(value)
    return value


class SalesforceIdSequence:
    """Ids for one sObject, continuing after the greatest existing one."""

    def __init__(self, prefix: str, existing: Iterable[str]) -> None:
        self._lock = threading.Lock()
        highest = max((i for i in existing if isinstance(i, str) and len(i) >= 15), default=None)
        if highest is not None and all(char in _BASE62_VALUE for char in highest[6:15]):
            self._prefix, self._pod, self._number = highest[:3], highest[3:5], base62_value(highest[6:15])
        else:
            self._prefix, self._pod, self._number = prefix, DEFAULT_POD, 62**5

    def __call__(self) -> str:
        with self._lock:
            self._number += 1
            return salesforce_id(self._prefix, self._pod, self._number)


class NumericIdSequence:
    """HubSpot-style numeric ids (as strings), continuing after the greatest existing one."""

    def __init__(self, existing: Iterable[str], start: int = 10_000_000_000) -> None:
        self._lock = threading.Lock()
        self._number = max((int(i) for i in existing if str(i).isdigit()), default=start)

    def __call__(self) -> str:
        with self._lock:
            self._number += 1
            return str(self._number)
