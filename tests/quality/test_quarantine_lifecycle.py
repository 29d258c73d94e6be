"""Bad data made at the sources travels through extract, staging and validation into quarantine,
stays out of everything downstream, and is released by a later run once fixed at the source."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from passerelle.quality.validate import validate_staging, validate_table
from passerelle.transform.models import IDENTITY_FILES, run_staging
from passerelle.warehouse.sql_files import run_sql_file
from tests.connectors.helpers import DAY1, extract_day
from tests.db import tuples as query

STREAMS = (("salesforce", "Account"), ("salesforce", "Opportunity"), ("hubspot", "deals"))


def run_transform(conn: Any, sandbox: Any, day: int, run_id: str) -> None:
    """Extract the edited streams for ``day``, then what transform_staging does, in its order."""
    for source, stream in STREAMS:
        extract_day(conn, sandbox, source, stream, day)
    run_staging(conn)
    validate_staging(conn, run_id)
    for path in IDENTITY_FILES:
        run_sql_file(conn, path)
    validate_table(conn, "project_links", run_id)


def test_bad_rows_are_quarantined_kept_out_of_downstream_and_released_when_fixed(sandbox, raw_conn) -> None:
    sf, hs = sandbox.vendors["salesforce"].control, sandbox.vendors["hubspot"].control
    # a valid French company with deals, a deal of another customer, a HubSpot deal
    account = next(a for a in sf.records("Account") if a["Customer_Type__c"] == "B2B" and a["SIREN__c"]
                   and any(o["AccountId"] == a["Id"] for o in sf.records("Opportunity")))
    opportunity = next(o for o in sf.records("Opportunity") if o["AccountId"] != account["Id"])
    deal, doomed = [d for d in hs.records("deals") if Decimal(d["properties"]["amount"] or 0) > 0][:2]
    good_siren, good_currency = account["SIREN__c"], opportunity["CurrencyIsoCode"]
    good_amount = deal["properties"]["amount"]
    bad_siren = good_siren[:-1] + str((int(good_siren[-1]) + 1) % 10)

    for control in (sf, hs):
        control.set_clock(DAY1 + timedelta(days=1, hours=10))
    sf.update("Account", account["Id"], {"SIREN__c": bad_siren})
    sf.update("Opportunity", opportunity["Id"], {"CurrencyIsoCode": "XYZ"})
    hs.update("deals", deal["id"], {"amount": "-" + good_amount})
    hs.update("deals", doomed["id"], {"amount": "-1.00"})
    run_transform(raw_conn, sandbox, 1, "run-bad")

    open_entries = {(key, rule): reason for key, rule, reason in query(
        raw_conn, "SELECT record_key, rule, reason FROM quality.quarantine WHERE released_at IS NULL")}
    customer, opp, hs_deal = f"salesforce:{account['Id']}", f"salesforce:{opportunity['Id']}", f"hubspot:{deal['id']}"
    assert f"invalid SIREN '{bad_siren}'" in open_entries[(customer, "customers.siren_checksum")]
    assert "'XYZ'" in open_entries[(opp, "deals.currency_iso4217")]
    assert f"negative amount -{Decimal(good_amount)}" in open_entries[(hs_deal, "deals.amount_non_negative")]
    gone = f"hubspot:{doomed['id']}"
    assert (gone, "deals.amount_non_negative") in open_entries
    # the customer's own deals follow it into quarantine as orphans
    own_deals = {f"salesforce:{o['Id']}" for o in sf.records("Opportunity") if o["AccountId"] == account["Id"]}
    assert {(key, "deals.customer_exists") for key in own_deals} <= set(open_entries)
    # nothing downstream sees them: not in staging, not in the identity mapping
    assert not query(raw_conn, "SELECT 1 FROM staging.customers WHERE customer_key = %s", customer)
    assert not query(raw_conn, "SELECT 1 FROM staging.deals WHERE deal_key = ANY(%s)", [opp, hs_deal, *own_deals])
    assert not query(raw_conn, "SELECT 1 FROM staging.project_links WHERE customer_key = %s OR deal_key = ANY(%s)",
                     customer, [opp, hs_deal, *own_deals])

    # fixed at the sources the next day: the next run releases every entry and the rows are back
    for control in (sf, hs):
        control.set_clock(DAY1 + timedelta(days=2, hours=10))
    sf.update("Account", account["Id"], {"SIREN__c": good_siren})
    sf.update("Opportunity", opportunity["Id"], {"CurrencyIsoCode": good_currency})
    hs.update("deals", deal["id"], {"amount": good_amount})
    hs.delete("deals", doomed["id"])  # nothing left to fix: its entry closes, keeping the row it held
    run_transform(raw_conn, sandbox, 2, "run-fixed")

    released = query(raw_conn, "SELECT record_key, released_run_id FROM quality.quarantine "
                               "WHERE record_key = ANY(%s)", [customer, opp, hs_deal, gone, *own_deals])
    assert released and {run for _, run in released} == {"run-fixed"}
    assert gone in {key for key, _ in released}
    assert query(raw_conn, "SELECT row_data->>'amount' FROM quality.quarantine WHERE record_key = %s", gone) == [
        ("-1.00",)]
    assert query(raw_conn, "SELECT siren FROM staging.customers WHERE customer_key = %s", customer) == [(good_siren,)]
    assert len(query(raw_conn, "SELECT 1 FROM staging.deals WHERE deal_key = ANY(%s)",
                     [opp, hs_deal, *own_deals])) == len(own_deals) + 2
