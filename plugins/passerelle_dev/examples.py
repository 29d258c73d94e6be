"""The example seller and billing configuration shipped in ``include/config`` (demo, tests, benchmark)."""

from __future__ import annotations

from typing import Any

from passerelle.paths import PROJECT_ROOT

EXAMPLE_SELLER = PROJECT_ROOT / "include" / "config" / "seller.example.json"
EXAMPLE_BILLING = PROJECT_ROOT / "include" / "config" / "billing.example.sql"


def load_example_billing(conn: Any) -> None:
    """Rate cards and exchange rates of ``billing.example.sql``, committed."""
    with conn.cursor() as cur:
        cur.execute(EXAMPLE_BILLING.read_text(encoding="utf-8"))
    conn.commit()


def use_example_configuration() -> None:
    """For the demo and ``make up``: the example seller and a demonstration platform, unless configured."""
    import os

    os.environ.setdefault("PASSERELLE_SELLER_FILE", str(EXAMPLE_SELLER))
    os.environ.setdefault("PASSERELLE_PA_MATRICULE", "0042")
    os.environ.setdefault("PASSERELLE_PA_NAME", "Plateforme de démonstration")
