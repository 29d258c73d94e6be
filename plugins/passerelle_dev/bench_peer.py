"""``make bench-peer``: Passerelle beside dlt on the same emulator data and the same Postgres.

One sandbox serves N Salesforce accounts, M HubSpot companies and K Dynamics 365 accounts (Dataverse
pages of up to 5,000 with option-set labels). For each vendor three readers
run one after the other against it:

- the paging ceiling: a bare ``requests`` client that pages through the API and parses the JSON,
  loading nothing (what no loader can beat on this machine);
- Passerelle: the real connector and loader (``passerelle_dev.bench --worker``) into a scratch database;
- dlt: its ``rest_api`` source and Postgres destination (``peer_dlt.py``), run in ``.venv-peer``
  so dlt's dependency pins never meet Airflow's, into another scratch database.

Prints records/s of each, the ratio Passerelle / dlt and Passerelle / ceiling, and peak RSS.

Then the incremental case on the Salesforce data: ``--touch`` (0.1 %) of the accounts change a day
later and both loaders run again into the databases they filled (Passerelle: the next daily window
from its watermark; dlt: its ``incremental`` cursor on ``SystemModstamp``, merge on ``Id``). Printed:
seconds of each, and the incremental run as a share of the full load.
The HubSpot and Dataverse emulators' rate limits are switched off for the run (with them, HubSpot's
190 requests per 10 s cap every reader at 1,900 records/s of 100-record pages, whatever its speed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from passerelle.paths import PROJECT_ROOT
from passerelle_dev.bench import INTERVAL, source_config, wait_for_descriptor
from passerelle_dev.peak_memory import peak_rss_mb

PEER_PYTHON = PROJECT_ROOT / ".venv-peer" / "bin" / "python"
STREAMS = {"salesforce": "Account", "hubspot": "companies", "dynamics": "accounts"}
DATAVERSE_PREFER = ('odata.maxpagesize=5000,odata.include-annotations="OData.Community.Display.V1.FormattedValue"')
"""What Passerelle asks Dataverse for (labels included): the ceiling and dlt ask for the same pages."""


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
    elif vendor == "dynamics":
        token = session.post(f"{base}/{creds['tenant_id']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "scope": f"{base}/.default"}, timeout=60).json()
        session.headers.update({"Authorization": f"Bearer {token['access_token']}", "Prefer": DATAVERSE_PREFER,
                                "OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"})
        url = f"{base}/api/data/v9.2/accounts"
        while url:
            body = json.loads(session.get(url, timeout=120).content)
            records, pages = records + len(body["value"]), pages + 1
            url = body.get("@odata.nextLink")
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


def passerelle_window(descriptor: Path, url: str, vendor: str, start: datetime, end: datetime) -> dict[str, Any]:
    """One daily run of the real connector and loader (in this process: its peak RSS is the run's)."""
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import run_stream
    from passerelle.warehouse.settings import connect

    config = source_config(json.loads(descriptor.read_text()), vendor)
    conn = connect(url)
    started = time.perf_counter()
    stats = run_stream(conn, get_source(vendor), STREAMS[vendor], config, interval_start=start, interval_end=end,
                       run_id=f"bench_peer_{start:%Y%m%d}")
    seconds = time.perf_counter() - started
    conn.close()
    return {"records": stats.records, "seconds": round(seconds, 2), "records_per_s": round(stats.records / seconds),
            "peak_rss_mb": peak_rss_mb(), "steps": {step: round(s, 2) for step, s in stats.timings.items()}}


def run_passerelle(descriptor: Path, url: str, vendor: str, interval: tuple[datetime, datetime] = INTERVAL) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "passerelle_dev.bench_peer", "--passerelle", str(descriptor), url, vendor,
                          interval[0].isoformat(), interval[1].isoformat()], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"Passerelle worker failed for {vendor}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_dlt(vendor: str, info: dict[str, Any], ca_path: str, url: str, peer_python: Path,
            pipelines_dir: str | None = None) -> dict[str, Any]:
    """dlt's run; with the ``pipelines_dir`` of an earlier run, an incremental one from its saved cursor."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.password:  # dlt requires one; a server without password auth ignores it
        url = parsed.set(password="unused").render_as_string(hide_password=False)
    job = {"vendor": vendor, "base_url": info["base_url"], "credentials": info["credentials"], "ca_path": ca_path,
           "warehouse_url": url, "pipelines_dir": pipelines_dir or tempfile.mkdtemp(prefix="passerelle-peer-dlt-"),
           "prefer": DATAVERSE_PREFER}
    out = subprocess.run([str(peer_python), str(Path(__file__).with_name("peer_dlt.py")), json.dumps(job)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    if out.returncode != 0:
        raise RuntimeError(f"dlt failed for {vendor}:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "pipelines_dir": job["pipelines_dir"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--salesforce", type=int, default=200_000, help="Salesforce accounts (default: %(default)s)")
    parser.add_argument("--hubspot", type=int, default=20_000, help="HubSpot companies (default: %(default)s)")
    parser.add_argument("--dynamics", type=int, default=100_000, help="Dynamics 365 accounts (default: %(default)s)")
    parser.add_argument("--touch", type=float, default=0.1,
                        help="percent of the Salesforce accounts changed before the incremental run (default: %(default)s)")
    parser.add_argument("--passerelle", nargs=5, metavar=("DESCRIPTOR", "URL", "VENDOR", "START", "END"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON,
                        help="the Python of the environment holding dlt (default: %(default)s; `make bench-peer` builds it)")
    args = parser.parse_args()
    if args.passerelle:
        descriptor, url, vendor, start, end = args.passerelle
        print(json.dumps(passerelle_window(Path(descriptor), url, vendor, datetime.fromisoformat(start),
                                           datetime.fromisoformat(end))))
        return 0
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
    incremental: dict[str, Any] | None = None
    try:
        descriptor = wait_for_descriptor(state, sandbox)
        described = json.loads(descriptor.read_text())
        ca_path = described["ca_path"]
        hubspot = described["vendors"]["hubspot"]
        hubspot_control = SandboxClient(hubspot["base_url"], ca_path)
        hubspot_control.bulk("companies", create=args.hubspot)
        # HubSpot's 190 requests per 10 s would hold every reader to 1,900 records/s and make the order
        # of the readers decide who waits: the bench measures the software, so the quota is off.
        hubspot_control.config(enforce_rate_limits=False)
        dynamics_control = SandboxClient(described["vendors"]["dynamics"]["base_url"], ca_path)
        dynamics_control.bulk("accounts", create=args.dynamics)
        dynamics_control.config(enforce_service_protection=False)  # 6,000 requests / 5 min: the same reasoning
        print(f"sandbox ready: {args.salesforce:,} Salesforce accounts, +{args.hubspot:,} HubSpot companies, "
              f"+{args.dynamics:,} Dynamics 365 accounts", flush=True)
        for vendor in ("hubspot", "dynamics", "salesforce"):  # Salesforce last: its databases stay for the incremental case
            info = described["vendors"][vendor]
            top = ceiling(vendor, info, ca_path)
            print(f"{vendor}: paging ceiling {top['records_per_s']:,} records/s", flush=True)
            with scratch_database(base_url, f"passerelle_peer_{vendor}_p") as ours_url, \
                    scratch_database(base_url, f"passerelle_peer_{vendor}_d") as peer_url:
                ours = run_passerelle(descriptor, ours_url, vendor)
                steps = ", ".join(f"{step} {seconds} s" for step, seconds in ours["steps"].items())
                print(f"{vendor}: Passerelle {ours['records_per_s']:,} records/s ({steps})", flush=True)
                peer = run_dlt(vendor, info, ca_path, peer_url, args.peer_python)
                print(f"{vendor}: dlt {peer['records_per_s']:,} records/s", flush=True)
                rows.append((vendor, top, ours, peer))
                if vendor == "salesforce" and args.touch > 0:
                    incremental = incremental_case(args, descriptor, info, ca_path, ours_url, peer_url, peer)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    print(f"\n{'source':<11} {'records':>9} {'ceiling/s':>10} {'Passerelle/s':>13} {'dlt/s':>8} "
          f"{'P/dlt':>6} {'P/ceiling':>9} {'P RSS MB':>9} {'dlt RSS MB':>11}")
    for vendor, top, ours, peer in rows:
        print(f"{vendor:<11} {ours['records']:>9,} {top['records_per_s']:>10,} {ours['records_per_s']:>13,} "
              f"{peer['records_per_s']:>8,} {ours['records_per_s'] / peer['records_per_s']:>6.2f} "
              f"{ours['records_per_s'] / top['records_per_s']:>9.2f} {ours['peak_rss_mb']:>9} {peer['peak_rss_mb']:>11}")
    if incremental:
        full = {vendor: (ours, peer) for vendor, _, ours, peer in rows}["salesforce"]
        print(f"\nincremental: {incremental['touched']:,} of {args.salesforce:,} Salesforce accounts changed "
              f"({args.touch} %)")
        print(f"{'loader':<11} {'full s':>8} {'incremental s':>14} {'records':>8} {'share of full':>14} {'RSS MB':>7}")
        for name, before, after in (("Passerelle", full[0], incremental["ours"]), ("dlt", full[1], incremental["peer"])):
            print(f"{name:<11} {before['seconds']:>8} {after['seconds']:>14} {after['records']:>8,} "
                  f"{after['seconds'] / before['seconds']:>13.1%} {after['peak_rss_mb']:>7}")
    return 0


def incremental_case(args: argparse.Namespace, descriptor: Path, info: dict[str, Any], ca_path: str,
                     ours_url: str, peer_url: str, peer_full: dict[str, Any]) -> dict[str, Any]:
    """Touch ``--touch`` percent of the accounts a day after the full load, then run both loaders again."""
    from passerelle_sandbox.client import SandboxClient

    control = SandboxClient(info["base_url"], ca_path)
    day = (INTERVAL[1], INTERVAL[1] + timedelta(days=1))
    control.set_clock(day[0] + timedelta(hours=12))
    touched = max(1, round(args.salesforce * args.touch / 100))
    control.bulk("Account", touch=touched)
    control.set_clock(day[1] + timedelta(minutes=30))
    ours = run_passerelle(descriptor, ours_url, "salesforce", day)
    print(f"salesforce incremental: Passerelle {ours['seconds']} s for {ours['records']:,} records", flush=True)
    peer = run_dlt("salesforce", info, ca_path, peer_url, args.peer_python, peer_full["pipelines_dir"])
    print(f"salesforce incremental: dlt {peer['seconds']} s", flush=True)
    return {"touched": touched, "ours": ours, "peer": peer}


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
