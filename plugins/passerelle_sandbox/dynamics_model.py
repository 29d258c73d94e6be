"""Dataverse tables, row rendering (ETag, timestamps, annotations), ``Prefer`` headers and error bodies.

The store keeps rows with canonical UTC timestamps; the Web API renders them to the second
(``2026-03-02T09:15:00Z``), puts ``@odata.etag`` (``W/"<versionnumber>"``) first and, when the client
asks for annotations, the French labels of option sets, lookups and money columns just before the
column they describe, as Dataverse does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from passerelle_sandbox.clock import is_canonical
from passerelle_sandbox.core import VendorError

Record = dict[str, Any]
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
STATE_ACTIVE = {0: "Actif", 1: "Inactif"}
STATUS_ACTIVE = {1: "Actif", 2: "Inactif"}


@dataclass(frozen=True)
class Table:
    """One entity set: its logical name, primary key and columns, and what the org tracks about it."""

    entity_set: str
    logical_name: str
    primary_name: str
    columns: tuple[str, ...]
    change_tracking: bool = True
    money: tuple[str, ...] = ()
    options: dict[str, dict[Any, str]] = field(default_factory=dict)
    lookups: dict[str, str] = field(default_factory=dict)
    """``_x_value`` column → target table logical name."""

    @property
    def pk(self) -> str:
        return f"{self.logical_name}id"


AUDIT = ("createdon", "modifiedon", "_createdby_value", "_modifiedby_value", "versionnumber")
STAMPS = {"_createdby_value": "systemuser", "_modifiedby_value": "systemuser"}
"""Who created and last modified a row (the application user for the API's writes)."""
OWNED = ("_ownerid_value", "statecode", "statuscode")
TABLES: dict[str, Table] = {t.entity_set: t for t in (
    Table("accounts", "account", "name", (
        "accountid", "name", "accountnumber", "telephone1", "websiteurl", "address1_line1", "address1_city",
        "address1_postalcode", "address1_country", "customertypecode", "_parentaccountid_value",
        "_transactioncurrencyid_value", "pa_siren", "pa_siret", "pa_vatnumber", "pa_einvoicingaddress",
        "pa_customertype", *OWNED, *AUDIT),
        options={"statecode": STATE_ACTIVE, "statuscode": STATUS_ACTIVE,
                 "customertypecode": {1: "Concurrent", 2: "Consultant", 3: "Client", 11: "Prospect", 12: "Autre"}},
        lookups={"_parentaccountid_value": "account", "_ownerid_value": "systemuser",
                 "_transactioncurrencyid_value": "transactioncurrency"}),
    Table("contacts", "contact", "fullname", (
        "contactid", "firstname", "lastname", "fullname", "emailaddress1", "telephone1", "jobtitle",
        "_parentcustomerid_value", *OWNED, *AUDIT),
        options={"statecode": STATE_ACTIVE, "statuscode": STATUS_ACTIVE},
        lookups={"_parentcustomerid_value": "account", "_ownerid_value": "systemuser"}),
    Table("opportunities", "opportunity", "name", (
        "opportunityid", "name", "description", "_customerid_value", "_parentaccountid_value",
        "_parentcontactid_value", "_transactioncurrencyid_value", "exchangerate", "estimatedvalue", "actualvalue",
        "estimatedclosedate", "actualclosedate", "closeprobability", "salesstage", "stepname",
        "isrevenuesystemcalculated", *OWNED, *AUDIT),
        money=("estimatedvalue", "actualvalue"),
        options={"statecode": {0: "Ouvert", 1: "Gagné", 2: "Perdu"},
                 "statuscode": {1: "En cours", 2: "En attente", 3: "Gagné", 4: "Annulé", 5: "Vendu par la concurrence"},
                 "salesstage": {0: "Qualifier", 1: "Développer", 2: "Proposer", 3: "Conclure"},
                 "isrevenuesystemcalculated": {False: "Fourni par l'utilisateur", True: "Calculé par le système"}},
        lookups={"_customerid_value": "account", "_parentaccountid_value": "account",
                 "_parentcontactid_value": "contact", "_transactioncurrencyid_value": "transactioncurrency",
                 "_ownerid_value": "systemuser"}),
    Table("opportunityproducts", "opportunityproduct", "productdescription", (
        "opportunityproductid", "_opportunityid_value", "_productid_value", "_uomid_value",
        "_transactioncurrencyid_value", "exchangerate", "productdescription", "quantity", "priceperunit",
        "baseamount", "manualdiscountamount", "tax", "extendedamount", "sequencenumber", "isproductoverridden",
        "ispriceoverridden", *AUDIT),
        money=("priceperunit", "baseamount", "manualdiscountamount", "tax", "extendedamount"),
        options={"isproductoverridden": {False: "Existant", True: "Remplacé"},
                 "ispriceoverridden": {False: "Utiliser le tarif par défaut", True: "Remplacer le tarif"}},
        lookups={"_opportunityid_value": "opportunity", "_productid_value": "product", "_uomid_value": "uom",
                 "_transactioncurrencyid_value": "transactioncurrency"}),
    Table("products", "product", "name", (
        "productid", "productnumber", "name", "description", "price", "_defaultuomid_value",
        "_transactioncurrencyid_value", "pa_vatrate", "productstructure", *OWNED, *AUDIT),
        money=("price",),
        options={"statecode": {0: "Actif", 1: "Retiré", 2: "Brouillon", 3: "En révision"},
                 "statuscode": {1: "Actif", 2: "Retiré", 0: "Brouillon", 3: "En révision"},
                 "productstructure": {1: "Produit", 2: "Famille de produits", 3: "Offre groupée"}},
        lookups={"_defaultuomid_value": "uom", "_transactioncurrencyid_value": "transactioncurrency",
                 "_ownerid_value": "systemuser"}),
    Table("systemusers", "systemuser", "fullname", (
        "systemuserid", "fullname", "firstname", "lastname", "internalemailaddress", "mobilephone", "title",
        "isdisabled", *AUDIT),
        options={"isdisabled": {False: "Activé", True: "Désactivé"}}),
    # Project for the web / Planner Premium and Project Operations (solution msdyn_): projects, their tasks
    # (msdyn_progress is a fraction, 1 = done) and time entries (msdyn_duration in minutes). The project's
    # deal is the org's custom lookup pa_opportunityid (Project Operations links deals through contracts).
    Table("msdyn_projects", "msdyn_project", "msdyn_subject", (
        "msdyn_projectid", "msdyn_subject", "msdyn_description", "_msdyn_customer_value", "_pa_opportunityid_value",
        "_msdyn_projectmanager_value", "msdyn_scheduledstart", "msdyn_finish", "msdyn_progress", "msdyn_effort",
        *OWNED, *AUDIT),
        options={"statecode": STATE_ACTIVE, "statuscode": {1: "Actif", 2: "Inactif", 192350000: "Fermé"}},
        lookups={"_msdyn_customer_value": "account", "_pa_opportunityid_value": "opportunity",
                 "_msdyn_projectmanager_value": "systemuser", "_ownerid_value": "systemuser"}),
    Table("msdyn_projecttasks", "msdyn_projecttask", "msdyn_subject", (
        "msdyn_projecttaskid", "msdyn_subject", "msdyn_description", "_msdyn_project_value", "_msdyn_parenttask_value",
        "msdyn_progress", "msdyn_effort", "msdyn_effortcompleted", "msdyn_scheduledstart", "msdyn_scheduledend",
        "msdyn_finish", "msdyn_priority", "msdyn_ismilestone", "msdyn_outlinelevel", *OWNED, *AUDIT),
        options={"statecode": STATE_ACTIVE, "statuscode": STATUS_ACTIVE,
                 "msdyn_ismilestone": {False: "Non", True: "Oui"}},
        lookups={"_msdyn_project_value": "msdyn_project", "_msdyn_parenttask_value": "msdyn_projecttask",
                 "_ownerid_value": "systemuser"}),
    Table("msdyn_timeentries", "msdyn_timeentry", "msdyn_description", (
        "msdyn_timeentryid", "msdyn_date", "msdyn_duration", "msdyn_description", "msdyn_externaldescription",
        "msdyn_type", "msdyn_entrystatus", "_msdyn_project_value", "_msdyn_projecttask_value", *OWNED, *AUDIT),
        options={"statecode": STATE_ACTIVE, "statuscode": STATUS_ACTIVE,
                 "msdyn_type": {192350000: "Travail", 192350001: "Absence", 192350002: "Vacances"},
                 "msdyn_entrystatus": {192350000: "Brouillon", 192350001: "Renvoyé", 192350002: "Approuvé",
                                       192350003: "Envoyé", 192350004: "Annulé"}},
        lookups={"_msdyn_project_value": "msdyn_project", "_msdyn_projecttask_value": "msdyn_projecttask",
                 "_ownerid_value": "systemuser"}),
    Table("transactioncurrencies", "transactioncurrency", "currencyname", (
        "transactioncurrencyid", "isocurrencycode", "currencyname", "currencysymbol", "exchangerate",
        "currencyprecision", "statecode", *AUDIT),
        change_tracking=False, options={"statecode": STATE_ACTIVE}),
)}
for _table in TABLES.values():
    _table.lookups.update(STAMPS)
BY_LOGICAL = {t.logical_name: t for t in TABLES.values()}
DATETIME_COLUMNS = frozenset({"createdon", "modifiedon"})


def odata_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> VendorError:
    """Dataverse's OData error body: ``{"error": {"code": "0x…", "message": …}}``."""
    return VendorError(status, {"error": {"code": code, "message": message}}, headers)


def unsupported(message: str) -> VendorError:
    return odata_error(400, "0x80060888", message)


def render_time(value: Any) -> Any:
    """Canonical ``2026-03-02T09:15:00.000Z`` → ``2026-03-02T09:15:00Z`` (Dataverse answers to the second)."""
    return value[:19] + "Z" if is_canonical(value) else value


def french_money(amount: Decimal, symbol: str) -> str:
    """``12 500,00 €``: two decimals, a space between thousands, a decimal comma, the currency symbol."""
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount).quantize(Decimal('0.01'), ROUND_HALF_UP):f}".split(".")
    groups = []
    while whole:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return f"{sign}{' '.join(groups)},{cents} {symbol}"


@dataclass(frozen=True)
class Preferences:
    """What the ``Prefer`` headers ask for."""

    max_page_size: int | None = None
    track_changes: bool = False
    annotations: str | None = None

    @property
    def formatted(self) -> bool:
        """FormattedValue (and with it the lookups' table names, as the contract states) requested."""
        wanted = [p.strip() for p in (self.annotations or "").split(",")]
        return any(p in ("*", FORMATTED, "OData.Community.Display.V1.*") for p in wanted)


def split_preferences(text: str) -> list[str]:
    """Split a ``Prefer`` header on the commas outside quoted values."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def parse_preferences(headers: list[str], cap: int) -> Preferences:
    size, track, annotations = None, False, None
    for item in (p for header in headers for p in split_preferences(header)):
        name, _, value = item.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if name == "odata.maxpagesize" and value.isdigit() and int(value) > 0:
            size = min(int(value), cap)
        elif name == "odata.track-changes":
            track = True
        elif name == "odata.include-annotations":
            annotations = value
    return Preferences(size, track, annotations)


def render_row(table: Table, row: Record, columns: tuple[str, ...], annotate: bool,
               names: Any = None, symbol: Any = None) -> Record:
    """One row as the Web API shows it: ETag first, then ``columns`` (annotations before each column).

    ``names(logical_name, id)`` gives a lookup's display name and ``symbol(row)`` the row's currency symbol.
    """
    out: Record = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
    for column in columns:
        value = row.get(column)
        if annotate and value is not None:
            if column in table.options:
                out[f"{column}@{FORMATTED}"] = table.options[column].get(value, str(value))
            elif column in table.lookups:
                target = table.lookups[column]
                out[f"{column}@{FORMATTED}"] = names(target, value) if names else None
                out[f"{column}@{NAVIGATION}"] = f"{column[1:-6]}_{target}" if column.startswith("_") else column
                out[f"{column}@{LOOKUP_TABLE}"] = target
            elif column in table.money and symbol is not None:
                out[f"{column}@{FORMATTED}"] = french_money(value, symbol(row))
        out[column] = render_time(value) if column in DATETIME_COLUMNS else value
    return out


def entity_definitions() -> list[Record]:
    """``EntityDefinitions`` rows for the org's tables (what a client reads to know which track changes)."""
    return [{"LogicalName": t.logical_name, "EntitySetName": t.entity_set, "SchemaName": t.logical_name.capitalize(),
             "PrimaryIdAttribute": t.pk, "PrimaryNameAttribute": t.primary_name,
             "ChangeTrackingEnabled": t.change_tracking, "MetadataId": metadata_id(t.logical_name)}
            for t in TABLES.values()]


def metadata_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse:{name}"))
