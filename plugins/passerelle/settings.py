"""Passerelle's environment settings: every ``PASSERELLE_*`` variable, typed, documented and checked at once.

:func:`settings` reads them all the first time any is needed, so one bad value stops a run at its start
with one line naming the variable, its value and what is accepted (:class:`SettingsError`) instead of
failing later in whatever step happens to read it. The result is cached per state of those variables:
Airflow workers, the demo and the tests change the environment within one process, and a cache that
ignored that would serve stale values.

``python -m passerelle.settings`` checks the current environment and prints the effective settings;
``--markdown`` prints the reference of every setting and Connection extra (docs/configuration.md).
"""

from __future__ import annotations

import logging
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from passerelle.errors import PasserelleError
from passerelle.setting_messages import is_secret, problems
from passerelle.setting_reference import own_fields, table

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "PASSERELLE_"
InvoiceFormat = Literal["facturx", "cii", "ubl"]
ReportLanguage = Literal["fr", "en"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(PasserelleError, ValueError):
    """An environment variable holds a value Passerelle cannot use (the message is one line)."""


class Settings(BaseSettings):
    """Every environment setting of the product. Empty variables count as unset."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True, str_strip_whitespace=True,
    )

    state_dir: Path = Field(
        PROJECT_ROOT / ".passerelle",
        description="Local state: embedded warehouse data, sandbox CA and descriptor, env file (git-ignored).",
    )
    output_dir: Path = Field(
        PROJECT_ROOT / "output", description="Where invoices, Flux 10 files and reports are written (git-ignored).",
    )
    gx_dir: Path | None = Field(
        None, description="The Great Expectations project (suites, results, Data Docs).",
        json_schema_extra={"default_text": "`<state dir>/gx`"},
    )
    chunk_rows: int = Field(
        25_000, ge=1, description="Rows of a staging table validated per chunk (server-side cursor); bounds the "
        "validation's memory whatever the table's size.",
    )
    full_refresh: bool = Field(
        False, description="Rebuild the staging models (all incremental) from all of raw on every "
        "run instead of only the records of the loads they have not processed yet.",
    )
    seller_file: Path | None = Field(
        None, description="The seller configuration, a JSON file (wins over PASSERELLE_SELLER); see Seller below.",
    )
    seller: str | None = Field(None, description="The seller configuration as JSON text, when no file is named.")
    invoice_formats: Annotated[tuple[InvoiceFormat, ...], NoDecode] = Field(
        ("facturx",), description="Documents written per invoice; Factur-X is always written.",
    )
    pa_matricule: str | None = Field(
        None, min_length=4, max_length=4, description="The PPF matricule of the seller's approved platform (PA), "
        "sender of the Flux 10 reports; required by e-reporting.",
        json_schema_extra={"expected": "the 4-character PPF matricule of the seller's platform",
                           "type": "4 characters"},
    )
    report_language: ReportLanguage = Field(
        "fr", description="Language of the compliance report: its words, numbers, amounts and dates (French or English).",
    )
    pa_name: str = Field("Plateforme agréée", description="The approved platform's name in the Flux 10 reports.")
    flux10_dir: Path = Field(
        PROJECT_ROOT / "include" / "rules" / "flux10",
        description="The PPF's Flux 10 XSD (with its includes) and schematron.",
    )
    sync_file: Path | None = Field(
        None, description="The two-way sync file (TOML; example: include/sync/sync.example.toml); unset: nothing is synced.",
    )
    log_level: LogLevel | None = Field(
        None, description="Level of Passerelle's own loggers (unset: inherited from Airflow or the root logger).",
    )
    worker_name: str | None = Field(
        None, description="This Airflow worker's name, recorded as its task instances' hostname when Airflow's "
        "`[core] hostname_callable` is `passerelle.orchestration.worker_name.hostname` (several workers on one machine).",
        json_schema_extra={"default_text": "the machine's fully qualified name"},
    )
    crash_at: str | None = Field(
        None, pattern=r"^[\w.]+(:[1-9]\d*)?$",
        description="Crash tests only: SIGKILL the process the n-th time it reaches a crash point.",
        json_schema_extra={"expected": "<point>[:<n>], e.g. draft.numbered:2", "type": "`<point>[:<n>]`"},
    )
    token_key: SecretStr | None = Field(
        None, description="Fernet key(s), comma-separated (newest first), encrypting the rotating OAuth refresh tokens "
        "kept in audit.oauth_refresh_tokens (QuickBooks Online).",
        json_schema_extra={"default_text": "Airflow's `[core] fernet_key`"},
    )
    warehouse_url: SecretStr | None = Field(
        None, validation_alias="WAREHOUSE_URL",
        description="The warehouse as a PostgreSQL URL; without it, see Warehouse below (read by passerelle.warehouse.settings).",
    )

    @field_validator("invoice_formats", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        wanted = [part.strip().lower() for part in value.split(",") if part.strip()]
        allowed: tuple[str, ...] = get_args(InvoiceFormat)
        unknown = [part for part in wanted if part not in allowed]
        if unknown:
            raise ValueError(f"unknown format(s) {', '.join(unknown)}; expected a comma-separated list among "
                             f"{', '.join(allowed)}")
        return tuple(wanted)

    @field_validator("report_language", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


def env_var(name: str) -> str:
    """The environment variable behind field ``name``."""
    field = Settings.model_fields[name]
    return str(field.validation_alias) if isinstance(field.validation_alias, str) else ENV_PREFIX + name.upper()


_VARIABLES = tuple(env_var(name) for name in Settings.model_fields)


def _environment() -> tuple[str | None, ...]:
    return tuple(os.environ.get(variable) for variable in _VARIABLES)


@lru_cache(maxsize=16)
def _load(environment: tuple[str | None, ...]) -> Settings:
    raw = dict(zip(_VARIABLES, environment))
    try:
        loaded = Settings()
    except ValidationError as error:
        lines = problems(error, Settings, label=env_var, given=lambda name: raw.get(env_var(name)))
        raise SettingsError("; ".join(lines)) from None
    if loaded.log_level:
        logging.getLogger("passerelle").setLevel(loaded.log_level)
    return loaded


def settings() -> Settings:
    """The validated settings of the current environment (read once per state of the variables)."""
    return _load(_environment())


def reload_settings() -> Settings:
    """Forget every cached reading and read the environment again."""
    _load.cache_clear()
    return settings()


def effective() -> dict[str, str]:
    """Each variable and the value in force, secrets masked, for a person checking a deployment."""
    current = settings()
    shown = {}
    for name, field in Settings.model_fields.items():
        value = getattr(current, name)
        if value is None:
            text = "(unset)"
        elif is_secret(field):
            text = "***"
        elif isinstance(value, tuple):
            text = ",".join(value)
        else:
            text = str(value)
        shown[env_var(name)] = text
    return shown


def markdown() -> str:
    """The reference of every environment setting and Connection extra (docs/configuration.md)."""
    from passerelle.connectors.options import ConnectionOptions
    from passerelle.connectors.registry import SOURCES

    parts = [
        "Environment variables (empty counts as unset; all are checked together when the first one is read):",
        "",
        table(Settings.model_fields.items(), "environment variable", env_var, PROJECT_ROOT),
        "",
        "Extras every source Connection accepts (anything else fails the extract at its start, naming the extra):",
        "",
        table(ConnectionOptions.model_fields.items(), "extra", str, PROJECT_ROOT),
    ]
    for spec in SOURCES.values():
        parts += ["", f"Extras of `{spec.conn_id}` ({spec.title}):", "",
                  table(own_fields(spec.options, ConnectionOptions), "extra", str, PROJECT_ROOT)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m passerelle.settings", description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true",
                        help="print the reference of every setting and Connection extra as Markdown tables")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown())
        return 0
    try:
        values = effective()
    except SettingsError as error:
        print(f"invalid setting: {error}", file=sys.stderr)
        return 2
    width = max(len(k) for k in values)
    for key, value in values.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
