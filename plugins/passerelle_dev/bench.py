"""``make bench``: extract-load throughput and memory, for Salesforce, monday.com and QuickBooks Online.

For each case, a sandbox process serves the records; a fresh worker process extracts them through
the real connector and loads them with the real loader (COPY, one transaction), then times a COPY of
the same rows alone. Peak RSS is the worker's own (``VmHWM``), so the emulator is not counted.

- Salesforce Accounts (200,000 and 1,000,000): simple-salesforce, SOQL window, ``nextRecordsUrl``.
- monday.com items (200,000): GraphQL ``items_page`` / ``next_items_page`` cursors with column values,
  the paging style furthest from Salesforce's. The emulator's complexity budget is switched off:
  the figure measures Passerelle, not monday's per-minute quota.
- QuickBooks Online invoices (20,000): the query language's ``STARTPOSITION`` / ``MAXRESULTS`` pages of
  1,000 on ``MetaData.LastUpdatedTime``, then the change-data-capture call for deletions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from passerelle_dev.peak_memory import peak_rss_mb

# (source, stream, records): the cases ``make bench`` runs by default.
CASES = (("salesforce", "Account", 200_000), ("salesforce", "Account", 1_000_000), ("monday", "items", 200_000),
         ("quickbooks", "invoices", 20_000))
BULK_OBJECTS = {"monday": "items", "quickbooks": "Invoice"}
INTERVAL = (datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 2, tzinfo=timezone.utc))


def source_config(descriptor: dict[str, Any], source: str) -> Any:
    from types import SimpleNamespace

    from passerelle.connectors.config import SourceConfig
    from passerelle.orchestration.airflow_env import sandbox_connections

    vendors = {name: SimpleNamespace(**v) for name, v in descriptor["vendors"].items()}
    conn = sandbox_connections(vendors, descriptor["ca_path"])[f"passerelle_{source}"]
    return SourceConfig(host=conn["host"], login=conn.get("login"), password=conn.get("password"), extra=conn["extra"])


def worker(descriptor_path: Path, url: str, source: str, stream: str) -> dict[str, Any]:
    """Extract and load the stream, then COPY the same rows again alone; report figures."""
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import run_stream
    from passerelle.load.copy import COLUMNS, encode_page
    from passerelle.records import Record
    from passerelle.warehouse.settings import connect

    config = source_config(json.loads(descriptor_path.read_text()), source)
    conn = connect(url)
    t0 = time.perf_counter()
    stats = run_stream(
        conn, get_source(source), stream, config, interval_start=INTERVAL[0], interval_end=INTERVAL[1], run_id="bench",
    )
    full = time.perf_counter() - t0

    # COPY alone: the same rows, already encoded in a file, sent to an empty table.
    with tempfile.TemporaryFile() as encoded:
        with conn.cursor(name="bench_rows") as rows:
            rows.itersize = 2000
            rows.execute("SELECT record_id, cursor_value, payload FROM raw.records WHERE stream = %s", (stream,))
            while batch := rows.fetchmany(2000):
                encoded.write(encode_page([Record(r[0], r[1], r[2]) for r in batch])[0])
        encoded.seek(0)
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bench_copy (record_id text, cursor_value timestamptz, is_deleted boolean, payload jsonb)")
            t1 = time.perf_counter()
            cur.copy_expert(f"COPY bench_copy ({', '.join(COLUMNS)}) FROM STDIN", encoded)
            copy_seconds = time.perf_counter() - t1
            cur.execute("SELECT count(*) FROM bench_copy")
            copied = cur.fetchone()[0]
    conn.rollback()
    conn.close()
    return {
        "records": stats.records, "pages": stats.pages, "seconds": round(full, 2),
        "records_per_s": round(stats.records / full), "copy_records": copied,
        "copy_seconds": round(copy_seconds, 2), "copy_records_per_s": round(copied / copy_seconds),
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_environment() -> dict[str, str]:
    """The worker's environment, with a key of the run's own for the refresh tokens QuickBooks rotates
    (kept encrypted in the scratch warehouse, dropped with it) unless one is set."""
    from cryptography.fernet import Fernet

    return {**os.environ, "PASSERELLE_TOKEN_KEY": os.environ.get("PASSERELLE_TOKEN_KEY") or Fernet.generate_key().decode()}


def run_case(source: str, stream: str, n: int, base_url: str) -> dict[str, Any]:
    from passerelle_sandbox.client import SandboxClient
    from passerelle.warehouse.scratch import scratch_database

    state = Path(tempfile.mkdtemp(prefix="passerelle-bench-"))
    bulk_salesforce = ["--generate-bulk-salesforce", str(n)] if source == "salesforce" else []
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "passerelle_sandbox", *bulk_salesforce, "--state-dir", str(state)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        descriptor = wait_for_descriptor(state, sandbox)
        if source in BULK_OBJECTS:  # emulators without a bulk generator of their own: copies of their dataset
            info = json.loads(descriptor.read_text())
            control = SandboxClient(info["vendors"][source]["base_url"], info["ca_path"])
            if source == "monday":
                control.config(enforce_complexity=False)
            control.set_clock(INTERVAL[0] + (INTERVAL[1] - INTERVAL[0]) / 2)
            control.bulk(BULK_OBJECTS[source], create=n)
        with scratch_database(base_url, f"passerelle_bench_{source}_{n}") as url:
            out = subprocess.run(
                [sys.executable, "-m", "passerelle_dev.bench", "--worker", str(descriptor), url, source, stream],
                capture_output=True, text=True, env=worker_environment(),
            )
        if out.returncode != 0:
            raise RuntimeError(f"benchmark worker failed for {source}.{stream} x {n}:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


def wait_for_descriptor(state: Path, process: subprocess.Popen, timeout: float = 900) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for candidate in (state / "sandbox" / "sandbox.json", state / "sandbox.json"):
            if candidate.exists():
                return candidate
        if process.poll() is not None:
            raise RuntimeError("the sandbox exited before it was ready")
        time.sleep(0.5)
    raise TimeoutError("the sandbox did not start in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", nargs=4, metavar=("DESCRIPTOR", "URL", "SOURCE", "STREAM"), help=argparse.SUPPRESS)
    parser.add_argument("--case", nargs=3, action="append", metavar=("SOURCE", "STREAM", "RECORDS"),
                        help="run only these cases (default: %(default)s)")
    args = parser.parse_args()
    if args.worker:
        descriptor, url, source, stream = args.worker
        print(json.dumps(worker(Path(descriptor), url, source, stream)))
        return 0
    from passerelle.warehouse.settings import warehouse_url

    cases = [(s, t, int(n)) for s, t, n in args.case] if args.case else list(CASES)
    base_url = warehouse_url()
    print(f"{'case':<22} {'records':>10} {'pages':>6} {'seconds':>8} {'records/s':>10} "
          f"{'COPY-only records/s':>20} {'peak RSS MB':>12}")
    for source, stream, n in cases:
        r = run_case(source, stream, n, base_url)
        print(f"{source + '.' + stream:<22} {r['records']:>10} {r['pages']:>6} {r['seconds']:>8} {r['records_per_s']:>10} "
              f"{r['copy_records_per_s']:>20} {r['peak_rss_mb']:>12}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
