"""Millions of Salesforce Accounts for benchmarks, streamed in constant memory.

Faker is only used once, to fill small pools of names, streets and phone numbers; each row is then
assembled from the pools with ``random()`` draws of one seeded :class:`random.Random`. Ids come from
an increasing sequence, so they are unique without being remembered. SIREN and SIRET check digits
come from precomputed Luhn sums of 4-digit blocks, and the VAT key from the SIREN as the French
rule says, so python-stdnum accepts all of them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from faker import Faker

from passerelle_sandbox.dataset_ids import SALESFORCE_PODS, SF_PREFIXES, SalesforceIds
from passerelle_sandbox.dataset_model import slug
from passerelle_sandbox.dataset_refdata import FR_LEGAL_FORM_WEIGHTS, FR_LEGAL_FORMS, FR_TOWNS, INDUSTRIES
from passerelle_sandbox.dataset_time import WINDOW_DAYS, Clock, iso_date

POOL_SIZE = 500
B2C_SHARE = 0.05
OWNERS = 5
MAX_AGE_SECONDS = 400 * 86_400
LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _block_sum(block: int, double_last: bool) -> int:
    """Luhn contribution of a 4-digit block; ``double_last`` when its last digit is doubled."""
    total = 0
    for position, char in enumerate(reversed(f"{block:04d}")):
        digit = int(char)
        total += LUHN_DOUBLED[digit] if (position % 2 == 0) == double_last else digit
    return total


LUHN_DOUBLED_LAST = tuple(_block_sum(block, True) for block in range(10_000))
LUHN_PLAIN_LAST = tuple(_block_sum(block, False) for block in range(10_000))


def siren_from_blocks(high: int, low: int) -> str:
    """SIREN whose first 8 digits are ``high`` (1000-9999) then ``low`` (0-9999)."""
    check = -(LUHN_DOUBLED_LAST[high] + LUHN_DOUBLED_LAST[low]) % 10
    return f"{high:04d}{low:04d}{check}"


def siret_from_blocks(high: int, low: int, siren: str, nic: int) -> str:
    """SIRET of that SIREN with NIC ``nic`` (1-9999) and its Luhn check digit over all 14 digits."""
    siren_check = int(siren[8])
    total = LUHN_DOUBLED[siren_check] + LUHN_PLAIN_LAST[high] + LUHN_PLAIN_LAST[low] + LUHN_DOUBLED_LAST[nic]
    return f"{siren}{nic:04d}{-total % 10}"


def iso_seconds(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    return f"{iso_date(days)}T{hours:02d}:{minutes:02d}:{rest:02d}.000Z"


@dataclass(frozen=True, slots=True)
class Pools:
    """Precomputed draws; company names come with their website so no row needs slugifying."""

    companies: tuple[tuple[str, str, str], ...]
    people: tuple[str, ...]
    streets: tuple[str, ...]
    phones: tuple[str, ...]

    @classmethod
    def build(cls, rng: random.Random) -> Pools:
        fake = Faker("fr_FR")
        fake.seed_instance(rng.getrandbits(64))
        companies = []
        for _ in range(POOL_SIZE):
            surname, industry = fake.last_name(), rng.choice(INDUSTRIES)
            base = f"{rng.choice(industry.name_words)} {surname}" if rng.random() < 0.6 else surname
            form = rng.choices(FR_LEGAL_FORMS, FR_LEGAL_FORM_WEIGHTS)[0]
            companies.append((f"{base} {form}", f"www.{slug(base)}.fr", industry.salesforce))
        return cls(
            companies=tuple(companies),
            people=tuple(f"{fake.first_name()} {fake.last_name()}" for _ in range(POOL_SIZE)),
            streets=tuple(fake.street_address() for _ in range(POOL_SIZE)),
            phones=tuple(fake.phone_number() for _ in range(POOL_SIZE)),
        )


class BulkAccounts:
    """Row factory with the same fields, in the same order, as the dataset's Accounts."""

    def __init__(self, seed: int, clock: str) -> None:
        rng = random.Random(f"passerelle:{seed}:bulk")
        self.random = rng.random
        self.pools = Pools.build(rng)
        pod = rng.choice(SALESFORCE_PODS)
        users = SalesforceIds(SF_PREFIXES["User"], pod, rng)
        self.owner_ids = tuple(users() for _ in range(OWNERS))
        self.account_ids = SalesforceIds(SF_PREFIXES["Account"], pod, rng, max_gap=8)
        self.now = Clock.parse(clock).now // 1000

    def __call__(self) -> dict[str, Any]:
        random_, pools = self.random, self.pools
        street = pools.streets[int(random_() * POOL_SIZE)]
        postcode, city = FR_TOWNS[int(random_() * len(FR_TOWNS))]
        modified = self.now - int(random_() * WINDOW_DAYS * 86_400)
        created = modified - int(random_() * MAX_AGE_SECONDS)
        last_modified = iso_seconds(modified)
        if random_() < B2C_SHARE:
            name = pools.people[int(random_() * POOL_SIZE)]
            website = industry = siren = siret = vat = None
            kind = "B2C"
        else:
            name, website, industry = pools.companies[int(random_() * POOL_SIZE)]
            high, low = 1000 + int(random_() * 9000), int(random_() * 10_000)
            if high == 3560 and low == 0:
                low = 1
            siren = siren_from_blocks(high, low)
            siret = siret_from_blocks(high, low, siren, 1 + int(random_() * 120))
            vat = f"FR{(int(siren) * 100 + 12) % 97:02d}{siren}"
            kind = "B2B"
        return {
            "Id": self.account_ids(),
            "Name": name,
            "BillingStreet": street,
            "BillingCity": city,
            "BillingPostalCode": postcode,
            "BillingCountry": "France",
            "BillingCountryCode": "FR",
            "ShippingStreet": street,
            "ShippingCity": city,
            "ShippingPostalCode": postcode,
            "ShippingCountry": "France",
            "Phone": pools.phones[int(random_() * POOL_SIZE)],
            "Website": website,
            "Industry": industry,
            "Type": "Customer",
            "OwnerId": self.owner_ids[int(random_() * OWNERS)],
            "SIREN__c": siren,
            "SIRET__c": siret,
            "VAT_Number__c": vat,
            "Electronic_Address__c": siren,
            "Customer_Type__c": kind,
            "CreatedDate": iso_seconds(created),
            "LastModifiedDate": last_modified,
            "SystemModstamp": last_modified,
            "IsDeleted": False,
        }


def generate_bulk_salesforce(n_accounts: int, *, seed: int, clock: str) -> Iterator[dict[str, Any]]:
    """Yield ``n_accounts`` Account records shaped like the dataset's, 95 % valid B2B, 5 % B2C."""
    make = BulkAccounts(seed, clock)
    for _ in range(n_accounts):
        yield make()
