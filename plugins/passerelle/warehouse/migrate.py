"""Bring a warehouse database to the latest schema (Alembic, forward-only, no alembic.ini).

Every entry point (CLI, Airflow DAGs, the tests) calls :func:`migrate` before touching the
warehouse, so it must be cheap when there is nothing to do and safe when several processes call
it at the same moment: the upgrade runs in one transaction holding a Postgres advisory lock.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from passerelle.warehouse.settings import mask_url, sqlalchemy_url

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_SCHEMA = "audit"
VERSION_TABLE = "alembic_version"
# Advisory locks are per database, so one constant key serialises migrations of that database only.
LOCK_KEY = zlib.crc32(b"passerelle.warehouse.migrate")


def alembic_config() -> Config:
    """An Alembic ``Config`` built in code, pointing at the package's migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_table", VERSION_TABLE)
    config.set_main_option("version_table_schema", VERSION_SCHEMA)
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate(url: str) -> list[str]:
    """Upgrade the database at ``url`` to head; return the revisions applied by this call (oldest first)."""
    config = alembic_config()
    applied: list[str] = []
    config.attributes["applied"] = applied
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            # The version table lives in ``audit``, which must exist before Alembic looks for it.
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    if applied:
        logger.info("warehouse %s migrated: applied %s", mask_url(url), ", ".join(applied))
    else:
        logger.info("warehouse %s already at head %s", mask_url(url), head_revision())
    return applied


def current_revision(url: str) -> str | None:
    """The revision recorded in ``audit.alembic_version`` (None for an unmigrated database)."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"{VERSION_SCHEMA}.{VERSION_TABLE}"}
            ).scalar_one()
            if not exists:
                return None
            return connection.execute(
                text(f"SELECT version_num FROM {VERSION_SCHEMA}.{VERSION_TABLE}")
            ).scalar_one_or_none()
    finally:
        engine.dispose()
