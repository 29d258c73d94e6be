"""Issuing holds: the reasons of a held draft, and findings of the issue-time checks.

Issuing holds a draft for a schematron finding, an issue-time check (identifiers, Flux 10 fields, text,
decimals, readiness) or any failure while rendering and writing its documents; ``marts.held_invoices``
now says why in words, next to the rule ids. Documents are written in the same transaction as the
invoice, so no pending-documents table is needed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import literal

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None

COMMENTS = {
    "marts.held_invoices.reasons": "Why, one entry per fatal finding: '<rule> (<field>): <message>'.",
    "marts.held_invoices.rules": "Fatal rule ids: official (BR-FR-11_BT-47, BR-DEC-24, Flux 10 G6.28) or "
                                 "Passerelle's own issue-time checks (PASSERELLE-ID-SIREN_BT-47, "
                                 "PASSERELLE-XML-CHAR, PASSERELLE-RENDER...).",
    "marts.invoice_findings.format": "cii, ubl or facturx; draft for an issue-time check or a render failure "
                                     "of a draft that got no document.",
    "marts.invoice_findings.layer": "xsd, en16931 or br-fr (validators), factur-x (the PDF container) or issue "
                                    "(the checks issuing runs before numbering).",
}


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("ALTER TABLE marts.held_invoices ADD COLUMN reasons text[] NOT NULL DEFAULT '{}'")
    for column, comment in COMMENTS.items():
        bind.exec_driver_sql(f"COMMENT ON COLUMN {column} IS {literal(comment)}")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
