"""Alembic environment: runs on the connection handed over by ``passerelle.warehouse.migrate``.

Migrations are raw SQL (no SQLAlchemy models), so there is no autogenerate metadata.
"""

from __future__ import annotations

from alembic import context

try:
    config = context.config
except AttributeError:  # imported outside an Alembic command (e.g. by Airflow's plugin-folder scan)
    config = None


def _record_applied(ctx, step, heads, run_args) -> None:  # noqa: ANN001 - Alembic callback signature
    if step.is_upgrade:
        config.attributes.setdefault("applied", []).append(step.up_revision_id)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through passerelle.warehouse.migrate.migrate(url)")
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=config.get_main_option("version_table"),
        version_table_schema=config.get_main_option("version_table_schema"),
        transactional_ddl=True,
        on_version_apply=_record_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


if config is not None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported")
    run_migrations_online()
