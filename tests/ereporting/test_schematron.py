"""The schematron engine on a small schema written here (asserts, reports, lets, first rule wins, namespaces),
then on the PPF's Flux 10 schema."""

from __future__ import annotations

import csv

import pytest

from passerelle.ereporting.schematron import FLUX10_SCHEMATRON, Schematron, SchematronError
from tests.ereporting import SHARED_FLUX10, flux10_artefacts

ORDERS = b"""<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="o" uri="urn:example:order"/>
  <let name="limit" value="100"/>
  <pattern id="lines">
    <rule context="o:line[@kind = 'gift']">
      <assert test="number(o:price) = 0" id="GIFT-FREE" flag="warning"
        >gift <value-of select="@id"/> must be free</assert>
    </rule>
    <rule context="o:line">
      <let name="total" value="number(o:price) * number(o:qty)"/>
      <let name="over" value="$total - $limit"/>
      <assert test="$total le $limit" id="LINE-LIMIT">line <value-of select="@id"/> totals <value-of
        select="$total"/>, <value-of select="$over"/> over "<value-of select="$limit"/>"</assert>
      <report test="number(o:qty) gt 10" role="information">[BULK] <name/> <value-of select="@id"/> is bulk</report>
    </rule>
  </pattern>
  <pattern id="ids">
    <rule context="o:line | o:note">
      <assert test="starts-with(@id, 'L')" id="ID-PREFIX">id <value-of select="@id"/> must start with L</assert>
    </rule>
  </pattern>
  <pattern id="order">
    <rule context="/o:order">
      <assert test="o:line">[ORD-1] an order has lines</assert>
    </rule>
  </pattern>
</schema>"""

ORDER = b"""<order xmlns="urn:example:order">
  <line id="G1" kind="gift"><price>5</price><qty>30</qty></line>
  <line id="L2"><price>20</price><qty>6</qty></line>
  <line id="L3"><price>1</price><qty>12</qty></line>
  <line id="L4"><price>1</price><qty>1</qty></line>
</order>"""


@pytest.fixture(scope="module")
def orders() -> Schematron:
    return Schematron(ORDERS, layer="orders")


def test_asserts_reports_and_lets_give_rule_severity_location_and_message(orders: Schematron) -> None:
    found = [(f.rule, f.severity, f.location, f.message) for f in orders.validate(ORDER)]
    assert found == [
        ("GIFT-FREE", "warning", "/o:order[1]/o:line[1]", "gift G1 must be free"),
        ("LINE-LIMIT", "fatal", "/o:order[1]/o:line[2]", 'line L2 totals 120, 20 over "100"'),
        ("BULK", "information", "/o:order[1]/o:line[3]", "[BULK] line L3 is bulk"),
        ("ID-PREFIX", "fatal", "/o:order[1]/o:line[1]", "id G1 must start with L"),
    ]
    assert {f.layer for f in orders.validate(ORDER)} == {"orders"}


def test_first_matching_rule_of_a_pattern_wins_but_other_patterns_still_see_the_node(orders: Schematron) -> None:
    """The gift line (total 150, quantity 30) is taken by the gift rule: the line rule's limit and bulk checks
    never run on it, while the "ids" pattern does check it."""
    gift = [f.rule for f in orders.validate(ORDER) if f.location == "/o:order[1]/o:line[1]"]
    assert gift == ["GIFT-FREE", "ID-PREFIX"]


def test_one_compiled_schema_checks_many_documents(orders: Schematron) -> None:
    assert orders.validate(b'<order xmlns="urn:example:order"><line id="L1"><price>1</price><qty>1</qty>'
                           b"</line></order>") == []
    assert [f.rule for f in orders.validate(b'<order xmlns="urn:example:order"/>')] == ["ORD-1"]
    assert orders.validate(b"<order/>") == []  # wrong namespace: no rule context matches


@pytest.mark.parametrize("schema, problem", [
    (b'<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt"><pattern/></schema>',
     "queryBinding"),
    (b'<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">'
     b'<include href="other.sch"/></schema>', "include"),
    (b'<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2"><pattern abstract="true" id="a">'
     b'<rule context="x"><assert test="$p">p</assert></rule></pattern></schema>', "abstract"),
    (b'<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2"><pattern>'
     b'<rule context="x"><assert test="count(">broken</assert></rule></pattern></schema>', "does not compile"),
])
def test_unsupported_or_broken_schemas_are_refused_with_the_reason(schema: bytes, problem: str) -> None:
    with pytest.raises(SchematronError, match=problem):
        Schematron(schema, layer="bad")


def test_every_flux10_rule_of_the_reference_list_is_compiled() -> None:
    """The 150 asserts of PPF_Flux10_v1.0.sch, each with the flag and test the published rule list gives."""
    schema = Schematron(flux10_artefacts() / FLUX10_SCHEMATRON, layer="flux10")
    listed = SHARED_FLUX10.parents[1] / "rules" / "PPF_Flux10_v1.0.tsv"  # ../shared/reference/rules
    with listed.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(schema.checks) == len(rows) == 150
    assert [(_words(check.context), _words(check.test)) for check in schema.checks] == \
        [(_words(row["context"]), _words(row["test"])) for row in rows]
    assert {check.severity for check in schema.checks} == {"fatal"}
    assert all(row["message"].startswith(f"[{check.rule}]") for check, row in zip(schema.checks, rows))


def _words(text: str) -> str:
    return " ".join(text.split())
