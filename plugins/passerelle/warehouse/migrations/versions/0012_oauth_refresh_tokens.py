"""Rotating OAuth refresh tokens: the latest link of each Connection's chain, encrypted, loader-only.

QuickBooks Online answers every refresh with a new refresh token and retires the previous one 24 hours
later, so the token in the Airflow Connection is only a seed: the latest one lives here, written and
committed right after the token endpoint answers (:mod:`passerelle.connectors.token_store`). Tokens are
Fernet-encrypted; no reader role is granted anything on the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None

OAUTH_REFRESH_TOKENS = Table(
    "audit.oauth_refresh_tokens",
    "The latest refresh token of each Airflow Connection whose vendor rotates them (the Connection's "
    "refresh_token extra only seeds the chain). Fernet-encrypted; readable by the loader only.",
    [
        Column("conn_id", "text PRIMARY KEY", "Airflow Connection id, e.g. passerelle_quickbooks."),
        Column("refresh_token", "text NOT NULL", "The latest refresh token the vendor answered (Fernet token)."),
        Column("previous_token", "text", "The refresh token that obtained it, kept until the latest has been used "
                                         "once (Fernet token)."),
        Column("rotated_at", "timestamptz NOT NULL DEFAULT now()", "When the latest token was stored."),
    ],
)


def upgrade() -> None:
    bind = op.get_bind()
    for statement in create_statements(OAUTH_REFRESH_TOKENS):
        bind.exec_driver_sql(statement)
    bind.exec_driver_sql("REVOKE ALL ON audit.oauth_refresh_tokens FROM PUBLIC")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
