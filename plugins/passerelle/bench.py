"""``make bench``: extract-load throughput and memory for Salesforce-shaped records.

For each volume, a sandbox process serves that many synthetic Accounts; a fresh worker process
extracts them through the real connector (simple-salesforce, SOQL window, nextRecordsUrl paging)
and loads them with the real loader (COPY, one transaction). The worker then times a COPY of the
same rows alone. Peak RSS is the worker's own (``ru_maxrss``), so the emulator's memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

VOLUMES = (200_000, 1_000_000)


def worker(descriptor_path: Path, url: str) -> dict[str, Any]:
    """Extract and load every Account, then COPY the same rows again alone; report figures."""
    from passerelle.connectors.config import SourceConfig
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import run_stream
    from passerelle.load.copy import COLUMNS, encode_page
    from passerelle.records import Record
    from passerelle.warehouse.settings import connect

    descriptor = json.loads(descriptor_path.read_text())
    sf = descriptor["vendors"]["salesforce"]
    cred = sf["credentials"]
    config = SourceConfig(
        host=cred.get("login_url", sf["base_url"]), login=cred["client_id"], password=cred["client_secret"],
        extra={"refresh_token": cred["refresh_token"], "ca_bundle": descriptor["ca_path"]},
    )
    conn = connect(url)
    t0 = time.perf_counter()
    stats = run_stream(
        conn, get_source("salesforce"), "Account", config,
        interval_start=datetime(2026, 3, 1, tzinfo=timezone.utc),
        interval_end=datetime(2026, 3, 2, tzinfo=timezone.utc), run_id="bench",
    )
    full = time.perf_counter() - t0

    # COPY alone: the same rows, already encoded in a file, sent to an empty table.
    with tempfile.TemporaryFile() as encoded:
        with conn.cursor(name="bench_rows") as rows:
            rows.itersize = 2000
            rows.execute("SELECT record_id, cursor_value, payload FROM raw.records WHERE stream = 'Account'")
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
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_volume(n: int, base_url: str) -> dict[str, Any]:
    from passerelle.warehouse.migrate import migrate
    from passerelle.warehouse.settings import connect

    state = Path(tempfile.mkdtemp(prefix="passerelle-bench-"))
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "passerelle.sandbox", "--generate-bulk-salesforce", str(n), "--state-dir", str(state)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        descriptor = wait_for_descriptor(state, sandbox)
        db = f"passerelle_bench_{n}"
        admin = connect(base_url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db}")
        url = base_url.rsplit("/", 1)[0] + f"/{db}"
        migrate(url)
        out = subprocess.run(
            [sys.executable, "-m", "passerelle.bench", "--worker", str(descriptor), url],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"benchmark worker failed for {n} records:\n{out.stderr[-3000:]}")
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()
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
    parser.add_argument("--worker", nargs=2, metavar=("DESCRIPTOR", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--volumes", type=int, nargs="*", default=list(VOLUMES))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), args.worker[1])))
        return 0
    from passerelle.warehouse.settings import warehouse_url

    base_url = warehouse_url()
    print(f"{'records':>10} {'pages':>6} {'seconds':>8} {'records/s':>10} {'COPY-only records/s':>20} {'peak RSS MB':>12}")
    for n in args.volumes:
        r = run_volume(n, base_url)
        print(f"{r['records']:>10} {r['pages']:>6} {r['seconds']:>8} {r['records_per_s']:>10} {r['copy_records_per_s']:>20} {r['peak_rss_mb']:>12}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
