"""The model graph: run order derived from the declared upstreams, and declarations that match the SQL and suites."""

from __future__ import annotations

import re
from datetime import date

import pytest

from passerelle.quality.suites import BUILDERS, build_suite
from passerelle.transform.models import MODELS, STAGING_MODELS, Model, ModelGraphError, ordered
from passerelle.warehouse.sql_files import render


def names(models: tuple[Model, ...]) -> list[str]:
    return [model.name for model in models]


def test_every_model_runs_after_its_upstreams() -> None:
    position = {model.name: number for number, model in enumerate(MODELS)}
    assert len(position) == len(MODELS)
    for model in MODELS:
        assert all(position[parent] < position[model.name] for parent in model.upstream), model.name
    assert names(MODELS)[-2:] == ["project_identity", "ledger_customer_identity"]
    assert STAGING_MODELS == tuple(model for model in MODELS if model.layer == "staging")


def test_order_comes_from_the_upstreams_not_the_declaration() -> None:
    child = Model("deal_lines", "staging.deal_lines", upstream=("deals", "products"))
    deals = Model("deals", "staging.deals", upstream=("customers",))
    assert names(ordered([child, deals, Model("customers", "staging.customers"),
                          Model("products", "staging.products")])) == ["customers", "deals", "products", "deal_lines"]
    # independent models keep the order they are declared in
    assert names(ordered([Model("b", "s.b"), Model("a", "s.a"), Model("c", "s.c", upstream=("a",))])) == ["b", "a", "c"]


def test_a_cycle_is_refused_with_the_models_in_it() -> None:
    with pytest.raises(ModelGraphError, match="cycle") as refused:
        ordered([Model("customers", "staging.customers"),
                 Model("deals", "staging.deals", upstream=("customers", "deal_lines")),
                 Model("deal_lines", "staging.deal_lines", upstream=("deals",))])
    assert "deals" in str(refused.value) and "deal_lines" in str(refused.value)
    assert "customers" not in str(refused.value).partition("cycle")[2]


def test_a_model_reading_itself_is_a_cycle() -> None:
    with pytest.raises(ModelGraphError, match="cycle"):
        ordered([Model("deals", "staging.deals", upstream=("deals",))])


@pytest.mark.parametrize(("models", "message"), [
    ([Model("deals", "staging.deals", upstream=("customer",))], r"unknown upstream model\(s\) \['customer'\]"),
    ([Model("deals", "staging.deals"), Model("deals", "staging.deals_again")], "declared twice"),
    ([Model("project_identity", "staging.project_links", layer="identity"),
      Model("projects", "staging.projects", upstream=("project_identity",))], "a later layer"),
])
def test_declarations_that_cannot_run_are_refused(models: list[Model], message: str) -> None:
    with pytest.raises(ModelGraphError, match=message):
        ordered(models)


def tables_read(model: Model) -> set[str]:
    """Tables of other models named in the model's SQL (comments left out)."""
    text = re.sub(r"--[^\n]*", "", render(model.sql_path))
    return {other.table for other in MODELS
            if other.table != model.table and re.search(rf"\b{re.escape(other.table)}\b", text)}


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.name)
def test_the_declared_upstreams_cover_what_the_sql_and_the_suite_read(model: Model) -> None:
    upstream_tables = {other.table for other in MODELS if other.name in model.upstream}
    read_by_sql = tables_read(model)
    if model.layer == "staging":
        assert read_by_sql == set()  # staging builds read raw only, so the DAG runs them all in parallel
    else:
        assert read_by_sql and read_by_sql <= upstream_tables
    suite = model.table.removeprefix("staging.")
    assert suite in BUILDERS
    referenced = {reference.parent for reference in build_suite(model.table, date(2026, 3, 2)).references}
    assert referenced <= upstream_tables, f"{model.name}: the suite checks orphans against {referenced}"
