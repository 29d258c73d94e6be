"""Identity resolution (include/sql/identity) against the sandbox dataset's truth of project ↔ CRM links."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle_sandbox.dataset_asana import build_asana_dataset
from passerelle_sandbox.dataset_dynamics import build_dynamics_dataset
from passerelle_sandbox.dataset_jira import build_jira_dataset
from passerelle_sandbox.dataset_monday import build_monday_dataset
from passerelle_sandbox.dataset_planner import build_planner_dataset
from passerelle_sandbox.dataset_trello import build_trello_dataset
from passerelle.transform.models import run_staging
from passerelle.warehouse.sql_files import run_sql_file
from passerelle.warehouse.ddl import normalise
from tests.db import rows

IDENTITY_FILE = "identity/project_identity.sql"
INPUT_MODELS = ["customers", "deals", "projects"]
TOOLS = {"trello": build_trello_dataset, "asana": build_asana_dataset, "jira": build_jira_dataset,
         "monday": build_monday_dataset, "planner": build_planner_dataset,
         "project_for_the_web": lambda crm: {"links": build_dynamics_dataset(crm)["project_links"]}}


@pytest.fixture(scope="module")
def truth() -> list[dict[str, Any]]:
    """Every project's link truth with the warehouse keys of its deal and of that deal's customer."""
    crm = load(default_dataset_path())
    sf = crm["salesforce"]["objects"]
    account_of = {o["Id"]: o["AccountId"] for o in sf["Opportunity"]}
    company_of = {str(a["from_id"]): str(a["to_id"]) for a in crm["hubspot"]["associations"]
                  if a["from_type"] == "deals" and a["to_type"] == "companies"}
    deal_names = {o["Id"]: o["Name"] for o in sf["Opportunity"]}
    deal_names |= {d["id"]: d["properties"]["dealname"] for d in crm["hubspot"]["objects"]["deals"]}
    opportunities = build_dynamics_dataset(crm)["tables"]["opportunities"]  # Planner and Project link Dynamics deals
    customer_of = {o["opportunityid"]: o["_customerid_value"] for o in opportunities}
    deal_names |= {o["opportunityid"]: o["name"] for o in opportunities}
    links = []
    for tool, build in TOOLS.items():
        for link in build(crm)["links"]:
            row = {**link, "project_key": f"{tool}:{link['project_id']}"}
            if link["deal_id"]:
                owner = {"salesforce": account_of, "hubspot": company_of, "dynamics": customer_of}[link["crm"]]
                row |= {"deal_key": f"{link['crm']}:{link['deal_id']}", "deal_name": deal_names[link["deal_id"]],
                        "customer_key": f"{link['crm']}:{owner[link['deal_id']]}"}
            links.append(row)
    return links


@pytest.fixture
def conn(raw_conn: Any) -> Any:
    """The sandbox's raw layer with the staging models identity resolution reads."""
    run_staging(raw_conn, INPUT_MODELS)
    return raw_conn


def execute(conn: Any, statement: str, *params: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(statement, params)
    conn.commit()


def of_tools(key: str) -> bool:
    """Projects of the tools whose dataset records this truth (Zoho Projects' links to Zoho CRM are checked
    in tests/transform/test_staging_zoho_projects.py)."""
    return key.split(":", 1)[0] in TOOLS


def resolve(conn: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Run identity resolution; links and exceptions by project key."""
    run_sql_file(conn, IDENTITY_FILE)
    links = {r["project_key"]: r for r in rows(conn, "SELECT * FROM staging.project_links") if of_tools(r["project_key"])}
    exceptions = {r["project_key"]: r for r in rows(conn, "SELECT * FROM staging.identity_exceptions")
                  if of_tools(r["project_key"])}
    return links, exceptions


def named(text: str, part: str) -> bool:
    return f" {normalise(part)} " in f" {normalise(text)} "


def of_kind(truth: list[dict[str, Any]], kind: str, tool: str | None = None) -> list[dict[str, Any]]:
    return [t for t in truth if t["kind"] == kind and (tool is None or t["project_key"].startswith(f"{tool}:"))]


def test_every_project_maps_as_the_dataset_says(conn: Any, truth: list[dict[str, Any]]) -> None:
    links, exceptions = resolve(conn)
    projects = {r["project_key"]: r["name"] for r in rows(conn, "SELECT project_key, name FROM staging.projects")
                if of_tools(r["project_key"])}
    customers = {r["customer_key"] for r in rows(conn, "SELECT customer_key FROM staging.customers")}
    deals = {r["deal_key"] for r in rows(conn, "SELECT deal_key FROM staging.deals")}
    assert set(projects) == {t["project_key"] for t in truth}
    assert set(links) | set(exceptions) == set(projects) and not set(links) & set(exceptions)

    for t in of_kind(truth, "explicit"):
        assert t["deal_key"] in deals and t["customer_key"] in customers, t  # day 1: nothing deleted yet
        link = links[t["project_key"]]
        assert (link["customer_key"], link["deal_key"], link["method"], link["confidence"]) == (
            t["customer_key"], t["deal_key"], "explicit_link", Decimal("1.00")), t
    topic_deals = 0
    for t in of_kind(truth, "name"):
        assert t["customer_key"] in customers, t
        link = links[t["project_key"]]
        assert (link["customer_key"], link["method"], link["confidence"]) == (
            t["customer_key"], "name_domain", Decimal("0.80")), t
        assert link["deal_key"] in (t["deal_key"], None), t
        if named(projects[t["project_key"]], t["deal_name"].split(" - ", 1)[1]):
            assert link["deal_key"] == t["deal_key"], t
            topic_deals += 1
    for t in of_kind(truth, "ambiguous"):
        exception = exceptions[t["project_key"]]
        names = {c["legal_name"] for c in exception["candidates"]}
        assert exception["problem"] == "ambiguous" and len(names) >= 2, t
        assert set(t.get("candidates", [])) <= names, t
        assert all(named(projects[t["project_key"]], name.split()[0]) for name in names), t
    for t in of_kind(truth, "missing"):
        assert exceptions[t["project_key"]]["problem"] == "unmapped", t

    kinds = Counter(t["kind"] for t in truth)
    assert min(kinds.values()) >= 6 and len(kinds) == 4 and topic_deals > 0
    assert len(links) == kinds["explicit"] + kinds["name"]
    assert Counter(e["problem"] for e in exceptions.values()) == {"unmapped": kinds["missing"],
                                                                  "ambiguous": kinds["ambiguous"]}


def test_a_customer_or_deal_missing_from_staging(conn: Any, truth: list[dict[str, Any]]) -> None:
    """A quarantined or deleted customer/deal is never replaced by a guess: the project waits for review."""
    name_only = next(t for t in of_kind(truth, "name", "trello") if t["customer_key"].startswith("salesforce:"))
    explicit = next(t for t in of_kind(truth, "explicit", "jira") if t["customer_key"] != name_only["customer_key"])
    execute(conn, "DELETE FROM staging.customers WHERE customer_key = %s", name_only["customer_key"])
    execute(conn, "DELETE FROM staging.deals WHERE deal_key = %s", explicit["deal_key"])
    links, exceptions = resolve(conn)

    waiting = exceptions[name_only["project_key"]]
    assert name_only["project_key"] not in links
    assert (waiting["problem"], waiting["candidates"]) == ("unmapped", []), waiting
    # Every project of that customer, explicit ones too, now dangles or waits.
    for t in truth:
        if t.get("customer_key") == name_only["customer_key"]:
            assert t["project_key"] in exceptions, t
            if t["kind"] == "explicit":
                assert exceptions[t["project_key"]]["problem"] == "dangling_link"
                assert name_only["customer_key"] in exceptions[t["project_key"]]["detail"]
    dangling = exceptions[explicit["project_key"]]
    assert dangling["problem"] == "dangling_link" and explicit["deal_id"] in dangling["detail"]
    assert {c["customer_key"] for c in dangling["candidates"]} == {explicit["customer_key"]}  # named by the project


def test_an_override_wins_and_survives_a_staging_rebuild(conn: Any, truth: list[dict[str, Any]]) -> None:
    ambiguous = of_kind(truth, "ambiguous", "trello")[0]["project_key"]
    internal, other = (t["project_key"] for t in of_kind(truth, "missing", "jira")[:2])
    _, exceptions = resolve(conn)
    chosen = exceptions[ambiguous]["candidates"][1]
    execute(conn, "INSERT INTO staging.identity_overrides (project_key, customer_key, note) VALUES (%s, %s, %s), "
                  "(%s, NULL, 'internal work'), (%s, 'hubspot:404', 'typo')",
            ambiguous, chosen["customer_key"], "audit confirmed by sales", internal, other)

    for rebuild in (False, True):
        if rebuild:
            run_staging(conn, INPUT_MODELS)
        links, exceptions = resolve(conn)
        link = links[ambiguous]
        assert (link["customer_key"], link["deal_key"], link["method"], link["confidence"]) == (
            chosen["customer_key"], None, "override", Decimal("1.00"))
        assert "audit confirmed by sales" in link["evidence"] and ambiguous not in exceptions
        assert links[internal]["customer_key"] is None and links[internal]["method"] == "override"
        assert exceptions[other]["problem"] == "dangling_link" and "hubspot:404" in exceptions[other]["detail"]
    assert len(rows(conn, "SELECT * FROM staging.identity_overrides")) == 3


def test_identifiers_and_domains_in_the_description(conn: Any, truth: list[dict[str, Any]]) -> None:
    siren_p, siret_p, vat_p, domain_p = (t["project_key"] for t in of_kind(truth, "missing")[:4])
    customers = rows(conn, "SELECT customer_key, siren, siret, vat_number, email_domain FROM staging.customers "
                           "WHERE customer_type = 'B2B' AND left(siret, 9) = siren AND vat_number LIKE 'FR__' || siren "
                           "ORDER BY customer_key LIMIT 4")
    a, b, c, d = customers
    texts = {siren_p: f"Bon de commande client, SIREN {a['siren'][:3]} {a['siren'][3:6]} {a['siren'][6:]}.",
             siret_p: f"Établissement facturé : SIRET {b['siret']} (tél. 0145678912345)",
             vat_p: f"tva intracom. {c['vat_number'].lower()}",
             domain_p: f"Échanges avec compta@{d['email_domain']} chaque semaine."}
    for project_key, text in texts.items():
        execute(conn, "UPDATE staging.projects SET description = %s WHERE project_key = %s", text, project_key)
    links, _ = resolve(conn)

    expected = {siren_p: (a, "siren", "0.95"), siret_p: (b, "siret", "0.97"), vat_p: (c, "vat", "0.95"),
                domain_p: (d, "name_domain", "0.80")}
    for project_key, (customer, method, confidence) in expected.items():
        link = links[project_key]
        assert (link["customer_key"], link["method"], link["confidence"]) == (
            customer["customer_key"], method, Decimal(confidence)), project_key
    assert a["siren"] in links[siren_p]["evidence"] and d["email_domain"] in links[domain_p]["evidence"]


def test_name_and_domain_agreeing_raise_confidence(conn: Any, truth: list[dict[str, Any]]) -> None:
    t = of_kind(truth, "name", "trello")[0]
    domain = rows(conn, "SELECT email_domain FROM staging.customers WHERE customer_key = %s", t["customer_key"])[0]
    execute(conn, "UPDATE staging.projects SET description = %s WHERE project_key = %s",
            f"https://{domain['email_domain']}/extranet", t["project_key"])
    links, _ = resolve(conn)
    link = links[t["project_key"]]
    assert (link["customer_key"], link["method"], link["confidence"]) == (
        t["customer_key"], "name_domain", Decimal("0.90"))


def test_an_explicit_link_contradicting_the_name_is_a_conflict(conn: Any, truth: list[dict[str, Any]]) -> None:
    explicit = of_kind(truth, "explicit", "monday")
    project, foreign = explicit[0], next(t for t in explicit if t["customer_key"] != explicit[0]["customer_key"])
    typo = explicit[1]
    execute(conn, "UPDATE staging.projects SET crm_system = %s, crm_deal_id = %s WHERE project_key = %s",
            foreign["crm"], foreign["deal_id"], project["project_key"])
    execute(conn, "UPDATE staging.projects SET crm_deal_id = '0068d00000XXXXXAAA' WHERE project_key = %s",
            typo["project_key"])
    links, exceptions = resolve(conn)

    conflict = exceptions[project["project_key"]]
    assert project["project_key"] not in links and conflict["problem"] == "conflict"
    assert {(c["customer_key"], c["method"]) for c in conflict["candidates"]} == {
        (project["customer_key"], "name_domain"), (foreign["customer_key"], "explicit_link")}
    dangling = exceptions[typo["project_key"]]
    assert dangling["problem"] == "dangling_link" and "0068d00000XXXXXAAA" in dangling["detail"]
    assert Counter(e["problem"] for e in exceptions.values())["conflict"] == 1
