"""``make bench-peer``: Passerelle beside dlt on the same emulator data and the same Postgres.

One sandbox serves N Salesforce accounts and M HubSpot companies. For each vendor three readers
run one after the other against it:

- the paging ceiling: a bare ``requests`` client that pages through the API and parses the JSON,
  loading nothing (what no loader can beat on this machine);
- Passerelle: the real connector and loader (``passerelle_dev.bench --worker``) into a scratch database;
- dlt: its ``rest_api`` source and Postgres destination (``peer_dlt.py``), run in ``.venv-peer``
  so dlt's dependency pins never meet Airflow's, into another scratch database.

Prints records/s of each, the ratio Passerelle / dlt and Passerelle / ceiling, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from passerelle.paths import PROJECT_ROOT
from passerelle_dev.bench import wait_for_descriptor

PEER_PYTHON = PROJECT_ROOT / ".venv-peer" / "bin" / "python"
STREAMS = {"salesforce": "Account", "hubspot": "companies"}


def ceiling(vendor: str, info: dict[str, Any], ca_path: str) -> dict[str, Any]:
    """Page through the vendor's list API with one keep-alive session, parse every page, keep nothing."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the sandbox's CA
    session.verify = ca_path
    creds, base = info["credentials"], info["base_url"]
    started, records, pages = time.perf_counter(), 0, 0
    if vendor == "salesforce":
        token = session.post(f"{creds.get('login_url', base)}/services/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"]}, timeout=60).json()
        session.headers["Authorization"] = f"Bearer {token['access_token']}"
        base = token.get("instance_url") or base
        described = session.get(f"{base}/services/data/v62.0/sobjects/Account/describe", timeout=60).json()
        fields = [f["name"] for f in described["fields"] if f.get("type") not in ("address", "location", "base64")]
        url: str | None = f"{base}/services/data/v62.0/queryAll"
        params: dict[str, Any] | None = {"q": f"SELECT {', '.join(fields)} FROM Account ORDER BY SystemModstamp ASC, Id ASC"}
        session.headers["Sforce-Query-Options"] = "batchSize=2000"
        while url:
            body = json.loads(session.get(url, params=params, timeout=120).content)
            records, pages, params = records + len(body["records"]), pages + 1, None
            url = None if body.get("done", True) else base + body["nextRecordsUrl"]
    else:
        session.headers["Authorization"] = f"Bearer {creds['private_app_token']}"
        props = session.get(f"{base}/crm/v3/properties/companies", timeout=60).json()
        params = {"limit": 100, "properties": ",".join(sorted(p["name"] for p in props["results"]))}
        while True:
            body = json.loads(session.get(f"{base}/crm/v3/objects/companies", params=params, timeout=120).content)
            records, pages = records + len(body["results"]), pages + 1
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            params["after"] = after
    seconds = time.perf_counter() - started
    return {"records": records, "pages": pages, "seconds": round(seconds, 2), "records_per_s": round(records / seconds)}


def run_passerelle(descriptor: Path, url: str, vendor: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "passerelle_dev.bench", "--worker", str(descriptor), url, vendor,
                          STREAMS[vendor]], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"Passerelle worker failed for {vendor}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_dlt(vendor: str, info: dict[str, Any], ca_path: str, url: str, peer_python: Path) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.password:  # dlt requires one; a server without password auth ignores it
        url = parsed.set(password="unused").render_as_string(hide_password=False)
    job = {"vendor": vendor, "base_url": info["base_url"], "credentials": info["credentials"], "ca_path": ca_path,
           "warehouse_url": url, "pipelines_dir": tempfile.mkdtemp(prefix="passerelle-peer-dlt-")}
    out = subprocess.run([str(peer_python), str(Path(__file__).with_name("peer_dlt.py")), json.dumps(job)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    if out.returncode != 0:
        raise RuntimeError(f"dlt failed for {vendor}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--salesforce", type=int, default=200_000, help="Salesforce accounts (default: %(default)s)")
    parser.add_argument("--hubspot", type=int, default=20_000, help="HubSpot companies (default: %(default)s)")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON,
                        help="the Python of the environment holding dlt (default: %(default)s; `make bench-peer` builds it)")
    args = parser.parse_args()
    if not args.peer_python.exists():
        print(f"{args.peer_python} not found: run `make bench-peer`, which installs dlt there first", file=sys.stderr)
        return 2
    from passerelle.warehouse.scratch import scratch_database
    from passerelle.warehouse.settings import warehouse_url
    from passerelle_sandbox.client import SandboxClient

    state = Path(tempfile.mkdtemp(prefix="passerelle-bench-peer-"))
    sandbox = subprocess.Popen([sys.executable, "-m", "passerelle_sandbox", "--generate-bulk-salesforce",
                                str(args.salesforce), "--state-dir", str(state)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base_url = warehouse_url()
    rows = []
    try:
        descriptor = wait_for_descriptor(state, sandbox)
        described = json.loads(descriptor.read_text())
        ca_path = described["ca_path"]
        hubspot = described["vendors"]["hubspot"]
        SandboxClient(hubspot["base_url"], ca_path).bulk("companies", create=args.hubspot)
        print(f"sandbox ready: {args.salesforce:,} Salesforce accounts, +{args.hubspot:,} HubSpot companies", flush=True)
        for vendor in ("salesforce", "hubspot"):
            info = described["vendors"][vendor]
            top = ceiling(vendor, info, ca_path)
            print(f"{vendor}: paging ceiling {top['records_per_s']:,} records/s", flush=True)
            with scratch_database(base_url, f"passerelle_peer_{vendor}_p") as url:
                ours = run_passerelle(descriptor, url, vendor)
            print(f"{vendor}: Passerelle {ours['records_per_s']:,} records/s", flush=True)
            with scratch_database(base_url, f"passerelle_peer_{vendor}_d") as url:
                peer = run_dlt(vendor, info, ca_path, url, args.peer_python)
            print(f"{vendor}: dlt {peer['records_per_s']:,} records/s", flush=True)
            rows.append((vendor, top, ours, peer))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    print(f"\n{'source':<11} {'records':>9} {'ceiling/s':>10} {'Passerelle/s':>13} {'dlt/s':>8} "
          f"{'P/dlt':>6} {'P/ceiling':>9} {'P RSS MB':>9} {'dlt RSS MB':>11}")
    for vendor, top, ours, peer in rows:
        print(f"{vendor:<11} {ours['records']:>9,} {top['records_per_s']:>10,} {ours['records_per_s']:>13,} "
              f"{peer['records_per_s']:>8,} {ours['records_per_s'] / peer['records_per_s']:>6.2f} "
              f"{ours['records_per_s'] / top['records_per_s']:>9.2f} {ours['peak_rss_mb']:>9} {peer['peak_rss_mb']:>11}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
