"""Record identifiers in the vendors' own formats, for records the sandbox creates itself.

New ids continue the dataset's sequences (greater than every existing id of the object), so they
look like the ids the vendor would hand out next and never collide with dataset ids.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from passerelle_sandbox.dataset_ids import BASE62, SF_PREFIXES, salesforce_id, salesforce_suffix

_BASE62_VALUE = {char: index for index, char in enumerate(BASE62)}

SALESFORCE_KEY_PREFIXES = {**SF_PREFIXES, "Order": "801", "OrderItem": "802", "QueryLocator": "01g"}
DEFAULT_POD = "5g"


def base62_value(text: str) -> int:
    value = 0
    for char in text:
        value = value * 62 + _BASE62_VALUE[char]
    return value


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
        highest = max(existing, default=None)
        if isinstance(highest, str) and len(highest) >= 15 and all(char in _BASE62_VALUE for char in highest[6:15]):
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
