"""Great Expectations: running a suite on a frame, and the file data context behind Data Docs.

The file context lives in ``state_dir()/gx`` (``$PASSERELLE_GX_DIR`` overrides it). Validation itself
runs on a pandas batch of an in-memory context; what is written to the file context is a *summary* of
each result (counts and at most 20 failing rows per expectation) plus the suite, and the Data Docs
pages of those two are rebuilt with the index. Writing the complete result would mean serialising
every failing row of a million-row table (GX converts each Decimal with a stack inspection: minutes),
and the complete list is in the warehouse anyway (``quality.quarantine``).

Data Docs are static HTML under ``uncommitted/data_docs/local_site``; building and reading them needs no
network (:mod:`passerelle.quality.offline_docs` serves GX's CDN assets from the site). A run's status there
is the one of its Airflow task: failed only when a critical rule failed (or a rule could not be
evaluated); failed warnings and quarantine rules are marked on their expectations. Only the last
``KEEP_RESULTS`` results of each suite are kept, so the index does not grow forever.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.execution_engine import pandas_execution_engine
from great_expectations.validator.v1_validator import Validator

from passerelle.paths import state_dir
from passerelle.quality import offline_docs
from passerelle.settings import settings

logger = logging.getLogger(__name__)

GX_DIR_ENV = "PASSERELLE_GX_DIR"
DATASOURCE = "passerelle_staging"
BATCH_DEFINITION = "whole_table"
KEEP_RESULTS = 30
SAMPLE_SIZE = 20
SUMMARY_KEYS = (
    "element_count", "unexpected_count", "unexpected_percent", "unexpected_percent_total",
    "unexpected_percent_nonmissing", "missing_count", "missing_percent", "observed_value",
    "partial_unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list",
    "unexpected_index_column_names", "details",
)


def gx_dir() -> Path:
    return settings().gx_dir or state_dir() / "gx"


def docs_index(root: Path | None = None) -> Path:
    """The local Data Docs home page."""
    return (root or gx_dir()) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


# GX fingerprints every pandas batch by hashing the whole frame (seconds per million object rows) for
# a batch marker nothing here reads; frames above this many bytes are not hashed.
pandas_execution_engine.HASH_THRESHOLD = 0


@cache
def _context(root: str) -> Any:
    Path(root).mkdir(parents=True, exist_ok=True)
    return gx.get_context(mode="file", project_root_dir=root)


def context() -> Any:
    """The file data context of ``gx_dir()`` (one per directory and process)."""
    return _context(str(gx_dir()))


@cache
def _validation_context() -> Any:
    """An in-memory context for validating frames: nothing about a run's data is written to disk, and
    parallel tasks never rewrite the file context's configuration."""
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def result_format(key: str) -> dict[str, Any]:
    """Every failing row, named by ``key``; samples of ``SAMPLE_SIZE`` rows."""
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": [key],
        "return_unexpected_index_query": False,
        "partial_unexpected_count": SAMPLE_SIZE,
    }


def run_suite(table: str, expectations: list[Any], frame: pd.DataFrame, key: str) -> ExpectationSuiteValidationResult:
    """Validate ``frame`` against ``expectations``; failing rows are reported by ``key`` (all of them)."""
    ctx = _validation_context()
    source = ctx.data_sources.all().get(DATASOURCE) or ctx.data_sources.add_pandas(DATASOURCE)
    asset = next((a for a in source.assets if a.name == table), None) or source.add_dataframe_asset(table)
    definition = next((d for d in asset.batch_definitions if d.name == BATCH_DEFINITION), None)
    definition = definition or asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
    # What ValidationDefinition.run does, without storing the complete result (see the module doc).
    validator = Validator(batch_definition=definition, batch_parameters={"dataframe": frame},
                          result_format=result_format(key))
    return validator.validate_expectation_suite(gx.ExpectationSuite(name=table, expectations=expectations))


def publish(result: ExpectationSuiteValidationResult, run_id: str,
            failing: dict[str, list[str]] | None = None, passed: bool | None = None) -> Path:
    """Store a summary of ``result`` and its suite in the context, rebuild their Data Docs pages.

    ``failing`` maps a rule id to lines describing its failing rows ("<key>: <reason>"): Data Docs
    list those instead of the bare values (a computed check's values are all just ``False``).
    ``passed`` is the run's status shown in Data Docs (default: every expectation succeeded).
    """
    ctx = context()
    suite_name = result.suite_name
    failing = failing or {}
    summary = [_summary(item, failing.get(item.expectation_config.meta.get("rule"))) for item in result.results]
    ctx.suites.add_or_update(gx.ExpectationSuite(
        name=suite_name,
        expectations=[item.expectation_config.to_domain_obj() for item in summary]))
    suite_id = ExpectationSuiteIdentifier(name=suite_name)
    run = RunIdentifier(run_name=run_id, run_time=datetime.datetime.now(datetime.UTC))
    result_id = ValidationResultIdentifier(
        expectation_suite_identifier=suite_id, run_id=run, batch_identifier=result.batch_id or suite_name,
    )
    meta = {key: value for key, value in result.meta.items() if key in ("active_batch_definition", "batch_markers")}
    # The data asset Data Docs name (GX leaves "None" for a dataframe batch).
    meta["batch_spec"] = {"data_asset_name": suite_name, "datasource": DATASOURCE}
    stored = ExpectationSuiteValidationResult(
        success=result.success if passed is None else passed, results=summary, suite_name=suite_name,
        statistics=result.statistics,
        meta={**jsonable(meta), "run_id": run, "validation_time": run.run_time,
              "great_expectations_version": gx.__version__},
        batch_id=result.batch_id,
    )
    with _site_lock():
        ctx.validation_results_store.set(result_id, stored)
        _prune(ctx, suite_name)
        ctx.build_data_docs(resource_identifiers=[suite_id, result_id])
        site = docs_index().parent
        pages = [docs_index(), site.joinpath("expectations", *suite_name.split(".")).with_suffix(".html"),
                 _page(site, result_id)]
        left = offline_docs.localise(site, pages)
    if left:
        logger.warning("Data Docs still load %d asset(s) from the network: %s", len(left), "; ".join(left))
    return docs_index()


_THREAD_LOCK = threading.Lock()


@contextmanager
def _site_lock() -> Iterator[None]:
    """One publisher at a time per GX directory, across processes: the index is rebuilt from the stored
    results and then rewritten, so two tables validated at once would otherwise each write an index that
    lacks the other's run."""
    with _THREAD_LOCK, open(gx_dir() / ".data_docs.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _page(site: Path, key: ValidationResultIdentifier) -> Path:
    """The Data Docs page of one stored result."""
    page = site.joinpath("validations", *key.to_tuple())
    return page.with_name(page.name + ".html")


def _summary(item: ExpectationValidationResult, failing: list[str] | None) -> ExpectationValidationResult:
    config = item.expectation_config
    summary_config = type(config)(
        type=config.type, kwargs=jsonable(config.kwargs), meta=config.meta, notes=config.notes,
        description=config.description, severity=config.severity,
    )
    result = {key: jsonable(value) for key, value in item.result.items() if key in SUMMARY_KEYS}
    if failing:
        result["partial_unexpected_list"] = failing[:SAMPLE_SIZE]
        result["partial_unexpected_counts"] = [{"value": line, "count": 1} for line in failing[:SAMPLE_SIZE]]
        result.pop("partial_unexpected_index_list", None)
    return ExpectationValidationResult(
        success=item.success, expectation_config=summary_config, result=result,
        meta=item.meta, exception_info=item.exception_info,
    )


def _prune(ctx: Any, suite_name: str) -> None:
    """Drop all but the newest ``KEEP_RESULTS`` stored results of the suite, with their pages."""
    store = ctx.validation_results_store
    keys = [key for key in store.list_keys() if key.expectation_suite_identifier.name == suite_name]
    keys.sort(key=lambda key: key.run_id.run_time or datetime.datetime.min.replace(tzinfo=datetime.UTC))
    site = docs_index().parent
    for key in keys[:-KEEP_RESULTS]:
        store.remove_key(key)
        page = _page(site, key)
        page.unlink(missing_ok=True)
        for folder in (page.parent, page.parent.parent):  # the run time, then the run name
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def jsonable(value: Any) -> Any:
    """JSON-ready copy: Decimal as its exact text, dates in ISO 8601, containers recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value
