"""Tests of Flux 10 e-reporting, its schematron engine, the filing calendar and payment data."""

from __future__ import annotations

from pathlib import Path

from passerelle.ereporting.schematron import FLUX10_SCHEMATRON, flux10_dir
from passerelle.paths import PROJECT_ROOT

SHARED_FLUX10 = PROJECT_ROOT.parent / "shared" / "reference" / "official" / "flux10"


def flux10_artefacts() -> Path:
    """The configured Flux 10 folder when it holds the PPF files, else the shared reference copy."""
    configured = flux10_dir()
    return configured if (configured / FLUX10_SCHEMATRON).exists() else SHARED_FLUX10
