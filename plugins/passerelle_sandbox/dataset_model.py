"""Vendor-neutral content of one CRM (customers, contacts, deals, lines, users), drawn with Faker.

The Salesforce and HubSpot renderers turn a :class:`Crm` into each API's records, so both sides
share the same business rules: valid French identifiers, deliberate anomalies, consistent amounts.
All randomness comes from one seeded :class:`random.Random` per CRM plus Faker instances seeded from
it, in a fixed order.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from faker import Faker

from passerelle_sandbox.dataset_ids import (
    FOREIGN_VAT,
    break_luhn,
    fr_vat,
    new_siren,
    new_siret,
)
from passerelle_sandbox.dataset_refdata import (
    BILLING_MODES,
    CATALOGUE,
    DEAL_NOTES,
    DEAL_TOPICS,
    EXCHANGE_RATES,
    FOREIGN_COUNTRIES,
    FR_LEGAL_FORM_WEIGHTS,
    FR_LEGAL_FORMS,
    FR_TOWNS,
    INDUSTRIES,
    JOB_TITLES,
    PERSONAL_MAIL_DOMAINS,
    STAGE_WEIGHTS,
    STAGES,
    Country,
    Industry,
    Product,
    Stage,
)
from passerelle_sandbox.dataset_time import Clock, Stamps, day_of, iso_date

ANOMALIES = (
    "invalid_siren_checksum",
    "missing_siren",
    "vat_siren_mismatch",
    "missing_address",
    "missing_einvoicing_address",
    "invalid_siret",
)
CENT = Decimal("0.01")
LOCALES = ("fr_FR", "nl_BE", "de_DE", "it_IT", "de_CH")


@dataclass(slots=True)
class Address:
    street: str | None
    city: str | None
    postcode: str | None
    country: str
    country_code: str


@dataclass(slots=True)
class Person:
    """A contact, or a sales user / owner of the CRM."""

    first_name: str
    last_name: str
    email: str
    phone: str | None
    title: str | None
    stamps: Stamps


@dataclass(slots=True)
class Line:
    product_index: int
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    total: Decimal
    vat_rate: Decimal
    service_day: int | None
    description: str | None
    stamps: Stamps

    @property
    def product(self) -> Product:
        return CATALOGUE[self.product_index]


@dataclass(slots=True)
class Deal:
    name: str
    stage: Stage
    currency: str
    close_day: int
    description: str | None
    owner: int
    stamps: Stamps
    lines: list[Line] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0.00"))


@dataclass(slots=True)
class Customer:
    """A company (``B2B``, ``B2B_INTL``) or an individual (``B2C``) billed by the CRM's owner."""

    kind: str
    name: str
    billing: Address
    shipping: Address
    phone: str | None
    domain: str | None
    industry: Industry | None
    siren: str | None
    siret: str | None
    vat: str | None
    einvoicing: str | None
    currency: str
    owner: int
    stamps: Stamps
    anomaly: str | None = None
    contacts: list[Person] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)


@dataclass(slots=True)
class Crm:
    users: list[Person]
    product_stamps: list[Stamps]
    customers: list[Customer]


def slug(text: str) -> str:
    """ASCII, lower-case, hyphenated form of ``text`` for domains and e-mail local parts."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    words = "".join(char if char.isalnum() else " " for char in ascii_text).split()
    return "-".join(words)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def line_total(quantity: Decimal, unit_price: Decimal, discount: Decimal) -> Decimal:
    """``quantity × unit_price × (1 − discount/100)``, rounded half-up to the cent."""
    return cents(quantity * unit_price * (1 - discount / 100))


def customer_profiles(rng: random.Random, count: int) -> list[str]:
    """Which kind of customer each slot gets: anomalies, foreign and foreign-currency first, then B2C."""
    special = [f"anomaly:{problem}" for problem in ANOMALIES]
    special += [f"intl:{code}" for code in FOREIGN_COUNTRIES]
    special += ["fr:USD", "fr:GBP"] + ["b2c"] * max(1, count // 8)
    profiles = special[:count] + ["fr:EUR"] * max(0, count - len(special))
    rng.shuffle(profiles)
    return profiles


class CrmBuilder:
    """Draws one CRM's content; call :meth:`build` once."""

    def __init__(self, rng: random.Random, clock: Clock) -> None:
        self.rng, self.clock = rng, clock
        self.fakers = {locale: Faker(locale) for locale in LOCALES}
        for locale in LOCALES:
            self.fakers[locale].seed_instance(rng.getrandbits(64))
        self.fake = self.fakers["fr_FR"]
        self._domains: set[str] = set()
        self._emails: set[str] = set()
        self.users: list[Person] = []

    def build(self, count: int) -> Crm:
        self.users = self._users()
        product_stamps = [self.clock.stamps(self.rng, max_age_days=800) for _ in CATALOGUE]
        customers = [self._customer(profile) for profile in customer_profiles(self.rng, count)]
        return Crm(self.users, product_stamps, customers)

    def _users(self) -> list[Person]:
        seller = self._domain(f"{self.fake.last_name()} solutions", "fr")
        users = []
        for _ in range(self.rng.randint(3, 5)):
            first, last = self.fake.first_name(), self.fake.last_name()
            stamps = self.clock.stamps(self.rng, max_age_days=900)
            email = self._email(first, last, seller)
            users.append(Person(first, last, email, self.fake.phone_number(), "Commercial", stamps))
        return users

    def _customer(self, profile: str) -> Customer:
        kind, _, detail = profile.partition(":")
        if kind == "b2c":
            customer, person = self._individual()
        elif kind == "intl":
            customer, person = self._foreign(FOREIGN_COUNTRIES[detail]), None
        else:
            customer, person = self._french(detail if kind == "fr" else "EUR"), None
            if kind == "anomaly":
                self._spoil(customer, detail)
        customer.contacts = [person] if person else self._contacts(customer)
        customer.deals = self._deals(customer)
        return customer

    def _french(self, currency: str) -> Customer:
        rng, fake = self.rng, self.fake
        industry = rng.choice(INDUSTRIES)
        surname = fake.last_name()
        if rng.random() < 0.3:
            surname = f"{surname} & {fake.last_name()}"
        base = f"{rng.choice(industry.name_words)} {surname}" if rng.random() < 0.6 else surname
        form = rng.choices(FR_LEGAL_FORMS, FR_LEGAL_FORM_WEIGHTS)[0]
        billing = self._french_address()
        shipping = self._french_address() if rng.random() < 0.2 else billing
        siren = new_siren(rng)
        return Customer(
            kind="B2B", name=f"{base} {form}", billing=billing, shipping=shipping,
            phone=fake.phone_number(), domain=self._domain(base, "fr"), industry=industry,
            siren=siren, siret=new_siret(rng, siren), vat=fr_vat(siren), einvoicing=siren,
            currency=currency, owner=rng.randrange(len(self.users)), stamps=self.clock.stamps(rng),
        )

    def _french_address(self) -> Address:
        postcode, city = self.rng.choice(FR_TOWNS)
        return Address(self.fake.street_address(), city, postcode, "France", "FR")

    def _individual(self) -> tuple[Customer, Person]:
        rng, fake = self.rng, self.fake
        first, last = fake.first_name(), fake.last_name()
        billing = self._french_address()
        phone = fake.phone_number()
        customer = Customer(
            kind="B2C", name=f"{first} {last}", billing=billing, shipping=billing, phone=phone,
            domain=None, industry=None, siren=None, siret=None, vat=None, einvoicing=None,
            currency="EUR", owner=rng.randrange(len(self.users)), stamps=self.clock.stamps(rng),
        )
        email = self._email(first, last, rng.choice(PERSONAL_MAIL_DOMAINS))
        stamps = self.clock.stamps(rng, not_before=customer.stamps.created)
        return customer, Person(first, last, email, phone, None, stamps)

    def _foreign(self, country: Country) -> Customer:
        rng, fake = self.rng, self.fakers[country.locale]
        surname = fake.last_name()
        postcode, city = rng.choice(country.towns)
        address = Address(fake.street_address(), city, postcode, country.name, country.code)
        return Customer(
            kind="B2B_INTL", name=f"{surname} {rng.choice(country.legal_forms)}", billing=address,
            shipping=address, phone=fake.phone_number(), domain=self._domain(surname, country.tld),
            industry=rng.choice(INDUSTRIES), siren=None, siret=None, vat=FOREIGN_VAT[country.code](rng),
            einvoicing=None, currency=country.currency, owner=rng.randrange(len(self.users)),
            stamps=self.clock.stamps(rng),
        )

    def _spoil(self, customer: Customer, problem: str) -> None:
        """Make ``customer`` fail exactly the check named by ``problem``."""
        customer.anomaly = problem
        assert customer.siren is not None and customer.siret is not None
        if problem == "invalid_siren_checksum":
            customer.siren = customer.einvoicing = break_luhn(customer.siren)
            customer.siret = new_siret(self.rng, customer.siren)
            customer.vat = fr_vat(customer.siren)
        elif problem == "missing_siren":
            customer.siren = customer.siret = customer.vat = customer.einvoicing = None
        elif problem == "vat_siren_mismatch":
            customer.vat = fr_vat(new_siren(self.rng))
        elif problem == "missing_address":
            customer.billing = customer.shipping = Address(None, None, None, "France", "FR")
        elif problem == "missing_einvoicing_address":
            customer.einvoicing = None
        elif problem == "invalid_siret":
            customer.siret = break_luhn(customer.siret)
        else:
            raise ValueError(f"unknown anomaly {problem!r}")

    def _contacts(self, customer: Customer) -> list[Person]:
        rng = self.rng
        locale = "fr_FR" if customer.billing.country_code == "FR" else FOREIGN_COUNTRIES[
            customer.billing.country_code
        ].locale
        fake = self.fakers[locale]
        count = rng.choices((1, 2, 3, 4), (30, 35, 20, 15))[0]
        contacts = []
        assert customer.domain is not None
        for _ in range(count):
            female = rng.random() < 0.5
            first = fake.first_name_female() if female else fake.first_name_male()
            last = fake.last_name()
            email = self._email(first, last, customer.domain)
            title = rng.choice(JOB_TITLES)[1 if female else 0]
            stamps = self.clock.stamps(rng, not_before=customer.stamps.created)
            contacts.append(Person(first, last, email, fake.phone_number(), title, stamps))
        return contacts

    def _deals(self, customer: Customer) -> list[Deal]:
        rng = self.rng
        if customer.kind == "B2C":
            count = 1
        else:
            count = rng.choices((0, 1, 2, 3), (15, 35, 30, 20))[0]
            if customer.currency != "EUR":
                count = max(count, 1)
        return [self._deal(customer) for _ in range(count)]

    def _deal(self, customer: Customer) -> Deal:
        rng = self.rng
        stage = rng.choices(STAGES, STAGE_WEIGHTS)[0]
        stamps = self.clock.stamps(rng, not_before=customer.stamps.created)
        if stage.is_closed:
            close_day = rng.randint(day_of(stamps.created), day_of(stamps.modified))
        else:
            close_day = self.clock.today + rng.randint(7, 90)
        topic = rng.choice(DEAL_TOPICS)
        owner = customer.owner if rng.random() < 0.8 else rng.randrange(len(self.users))
        deal = Deal(
            name=f"{customer.name} - {topic}", stage=stage, currency=customer.currency,
            close_day=close_day, description=self._deal_description(topic, close_day),
            owner=owner, stamps=stamps,
        )
        count = rng.choices((1, 2, 3, 4, 5), (30, 25, 20, 15, 10))[0]
        for index in rng.sample(range(len(CATALOGUE)), count):
            deal.lines.append(self._line(customer, deal, index))
        return deal

    def _deal_description(self, topic: str, close_day: int) -> str | None:
        """About a third of deals carry a project code, for project-based billing later."""
        draw = self.rng.random()
        if draw < 0.35:
            code = f"PRJ-{iso_date(close_day)[:4]}-{self.rng.randint(1, 999):03d}"
            return f"Projet {code} : {topic.lower()}. Facturation {self.rng.choice(BILLING_MODES)}."
        if draw < 0.6:
            return self.rng.choice(DEAL_NOTES)
        return None

    def _line(self, customer: Customer, deal: Deal, index: int) -> Line:
        """VAT is the product's rate in France; 0 abroad (intra-EU reverse charge, export)."""
        rng, product = self.rng, CATALOGUE[index]
        quantity = self._quantity(product)
        unit_price = cents(product.price * EXCHANGE_RATES[deal.currency])
        discount = Decimal(rng.choices((0, 5, 10, 15), (75, 8, 12, 5))[0])
        vat_rate = product.vat_rate if customer.billing.country_code == "FR" else Decimal("0")
        service_day = None
        if deal.stage.is_won and rng.random() < 0.6:
            service_day = deal.close_day - rng.randint(0, 10)
        description = product.description if rng.random() < 0.4 else None
        stamps = self.clock.stamps(rng, not_before=deal.stamps.created, not_after=deal.stamps.modified)
        return Line(
            index, quantity, unit_price, discount, line_total(quantity, unit_price, discount),
            vat_rate, service_day, description, stamps,
        )

    def _quantity(self, product: Product) -> Decimal:
        rng = self.rng
        if product.unit == "heure":
            return Decimal(rng.randint(2, 80)) / 2
        if product.unit == "jour":
            return Decimal(rng.randint(1, 15))
        if product.unit == "forfait":
            return Decimal(rng.choice((1, 1, 1, 3, 6, 12)))
        return Decimal(rng.randint(1, 40))

    def _domain(self, name: str, tld: str) -> str:
        base = slug(name) or "client"
        domain, number = f"{base}.{tld}", 1
        while domain in self._domains:
            number += 1
            domain = f"{base}-{number}.{tld}"
        self._domains.add(domain)
        return domain

    def _email(self, first: str, last: str, domain: str) -> str:
        local = f"{slug(first)}.{slug(last)}".replace("-", "")
        email, number = f"{local}@{domain}", 1
        while email in self._emails:
            number += 1
            email = f"{local}{number}@{domain}"
        self._emails.add(email)
        return email


def build_crm(seed: int, vendor: str, count: int, clock: Clock) -> Crm:
    """The content of ``vendor``'s CRM, independent of the other vendor's size."""
    rng = random.Random(f"passerelle:{seed}:{vendor}")
    return CrmBuilder(rng, clock).build(count)
