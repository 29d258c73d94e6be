"""The deterministic French dataset served by the Salesforce and HubSpot sandbox emulators.

``generate(seed)`` always returns the same content for the same seed and Faker version: nothing
depends on the wall clock, hash randomization or set ordering. Each CRM holds French B2B customers
with valid SIREN/SIRET/VAT, some individuals (B2C), a few EU and Swiss companies, and a few
deliberately broken customers listed under ``anomalies`` so the pipeline's checks can be tested.

``python -m passerelle_sandbox.dataset --out PATH`` writes a dataset; the committed default is
:func:`default_dataset_path`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from passerelle_sandbox import dataset_bulk
from passerelle_sandbox.dataset_hubspot import render_hubspot
from passerelle_sandbox.dataset_model import ANOMALIES, build_crm
from passerelle_sandbox.dataset_salesforce import render_salesforce
from passerelle_sandbox.dataset_time import Clock, iso_ms

DEFAULT_SEED = 20260301
DEFAULT_CLOCK = "2026-03-01T00:00:00.000Z"
DEFAULT_NAME = "default"

__all__ = [
    "ANOMALIES",
    "DEFAULT_CLOCK",
    "DatasetError",
    "DEFAULT_SEED",
    "default_dataset_path",
    "dump",
    "dumps",
    "generate",
    "generate_bulk_salesforce",
    "load",
    "main",
]


def generate(
    seed: int = DEFAULT_SEED,
    *,
    sf_accounts: int = 40,
    hs_companies: int = 40,
    clock: str = DEFAULT_CLOCK,
    name: str = DEFAULT_NAME,
) -> dict[str, Any]:
    """Build the dataset: a Salesforce org and a HubSpot portal, each with its own customers."""
    moment = Clock.parse(clock)
    salesforce, sf_anomalies = render_salesforce(build_crm(seed, "salesforce", sf_accounts, moment), seed)
    hubspot, hs_anomalies = render_hubspot(build_crm(seed, "hubspot", hs_companies, moment), seed)
    return {
        "name": name,
        "seed": seed,
        "clock": iso_ms(moment.now),
        "salesforce": salesforce,
        "hubspot": hubspot,
        "anomalies": sf_anomalies + hs_anomalies,
    }


def generate_bulk_salesforce(n_accounts: int, *, seed: int = 1, clock: str = DEFAULT_CLOCK) -> Iterator[dict[str, Any]]:
    """Stream ``n_accounts`` valid Salesforce Account records for benchmarks (constant memory)."""
    return dataset_bulk.generate_bulk_salesforce(n_accounts, seed=seed, clock=clock)


def dumps(dataset: dict[str, Any]) -> str:
    """Canonical text of a dataset: key order as built, UTF-8 kept readable, one trailing newline."""
    return json.dumps(dataset, ensure_ascii=False, indent=1) + "\n"


def dump(dataset: dict[str, Any], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(dataset), encoding="utf-8", newline="\n")


REQUIRED_KEYS = ("clock", "salesforce", "hubspot")


class DatasetError(ValueError):
    """A dataset file that is missing or is not a sandbox dataset; the message names the file."""


def load(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"dataset file {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"dataset file {path}: not readable as JSON ({error})") from None
    missing = [key for key in REQUIRED_KEYS if key not in data] if isinstance(data, dict) else list(REQUIRED_KEYS)
    if missing:
        raise DatasetError(f"dataset file {path}: not a sandbox dataset (missing {', '.join(missing)}); "
                           "write one with python -m passerelle_sandbox.dataset --out PATH")
    return dict(data)


def default_dataset_path() -> Path:
    return Path(__file__).resolve().with_name("datasets") / "default.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m passerelle_sandbox.dataset",
        description="Write the deterministic sandbox dataset (Salesforce + HubSpot) as JSON.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output JSON file")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--sf-accounts", type=int, default=40, help="Salesforce Accounts")
    parser.add_argument("--hs-companies", type=int, default=40, help="HubSpot companies")
    parser.add_argument("--clock", default=DEFAULT_CLOCK, help="the dataset's 'now' (ISO-8601 UTC)")
    parser.add_argument("--name", default=DEFAULT_NAME)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.sf_accounts < 0 or args.hs_companies < 0:
        _parser().error("record counts must not be negative")
    dataset = generate(
        args.seed, sf_accounts=args.sf_accounts, hs_companies=args.hs_companies, clock=args.clock, name=args.name
    )
    dump(dataset, args.out)
    sf, hs = dataset["salesforce"]["objects"], dataset["hubspot"]["objects"]
    counts = ", ".join(f"{name} {len(records)}" for part in (sf, hs) for name, records in part.items())
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {counts}, anomalies {len(dataset['anomalies'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
