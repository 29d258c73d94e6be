"""The peer side of ``make bench-peer``: the same emulator data loaded by dlt (``rest_api`` source,
Postgres destination), run in ``.venv-peer`` so dlt's pins never meet Airflow's.

Standalone on purpose: it imports nothing from Passerelle. It reads one JSON job on argv (the
vendor's base URL, credentials, CA bundle, warehouse URL), prints one JSON line of figures.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

import requests


def salesforce_token(job: dict[str, Any]) -> tuple[str, str]:
    """Access token and instance URL from the refresh-token grant (what dlt users configure)."""
    c = job["credentials"]
    r = requests.post(f"{c.get('login_url', job['base_url'])}/services/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": c["client_id"], "client_secret": c["client_secret"],
        "refresh_token": c["refresh_token"]}, verify=job["ca_path"], timeout=60)
    r.raise_for_status()
    body = r.json()
    return body["access_token"], body.get("instance_url") or job["base_url"]


def salesforce_resource(job: dict[str, Any]) -> dict[str, Any]:
    token, instance = salesforce_token(job)
    version = job.get("api_version", "62.0")
    described = requests.get(f"{instance}/services/data/v{version}/sobjects/Account/describe",
                             headers={"Authorization": f"Bearer {token}"}, verify=job["ca_path"], timeout=60).json()
    fields = [f["name"] for f in described["fields"] if f.get("type") not in ("address", "location", "base64")]
    # dlt's incremental cursor, as its rest_api docs show for a query parameter: a rerun reads from the last value
    soql = (f"SELECT {', '.join(fields)} FROM Account WHERE SystemModstamp >= {{incremental.start_value}}"
            " ORDER BY SystemModstamp ASC, Id ASC")
    return {
        "client": {"base_url": instance, "auth": {"type": "bearer", "token": token},
                   "headers": {"Sforce-Query-Options": "batchSize=2000"}},
        "resources": [{
            "name": "account", "primary_key": "Id", "write_disposition": "merge",
            "endpoint": {"path": f"/services/data/v{version}/queryAll", "params": {"q": soql},
                         "data_selector": "records",
                         "incremental": {"cursor_path": "SystemModstamp", "initial_value": "1970-01-01T00:00:00.000+0000"},
                         "paginator": {"type": "json_link", "next_url_path": "nextRecordsUrl"}},
        }],
    }


def hubspot_resource(job: dict[str, Any]) -> dict[str, Any]:
    token = job["credentials"]["private_app_token"]
    props = requests.get(f"{job['base_url']}/crm/v3/properties/companies", headers={"Authorization": f"Bearer {token}"},
                         verify=job["ca_path"], timeout=60).json()
    names = ",".join(sorted(p["name"] for p in props.get("results", [])))
    return {
        "client": {"base_url": job["base_url"], "auth": {"type": "bearer", "token": token}},
        "resources": [{
            "name": "companies", "primary_key": "id", "write_disposition": "merge",
            "endpoint": {"path": "/crm/v3/objects/companies", "params": {"limit": 100, "properties": names},
                         "data_selector": "results",
                         "paginator": {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after"}},
        }],
    }


def dynamics_resource(job: dict[str, Any]) -> dict[str, Any]:
    """Dataverse with dlt's own OAuth client-credentials auth and JSON-link paginator on ``@odata.nextLink``."""
    c, base = job["credentials"], job["base_url"]
    return {
        "client": {"base_url": base,
                   "auth": {"type": "oauth2_client_credentials",
                            "access_token_url": f"{base}/{c['tenant_id']}/oauth2/v2.0/token",
                            "client_id": c["client_id"], "client_secret": c["client_secret"],
                            "access_token_request_data": {"scope": f"{base}/.default"}},
                   "headers": {"Prefer": job["prefer"], "OData-MaxVersion": "4.0", "OData-Version": "4.0"}},
        "resources": [{
            "name": "accounts", "primary_key": "accountid", "write_disposition": "merge",
            "endpoint": {"path": "/api/data/v9.2/accounts", "data_selector": "value",
                         "paginator": {"type": "json_link", "next_url_path": "'@odata.nextLink'"}},
        }],
    }


RESOURCES = {"salesforce": salesforce_resource, "hubspot": hubspot_resource, "dynamics": dynamics_resource}


def peak_rss_mb() -> float:
    """This process's own peak RSS (``VmHWM``: ``ru_maxrss`` would carry the parent's over ``exec``)."""
    for line in open("/proc/self/status", encoding="ascii").read().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    job = json.loads(sys.argv[1])
    os.environ["REQUESTS_CA_BUNDLE"] = job["ca_path"]
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    config = RESOURCES[job["vendor"]](job)
    pipeline = dlt.pipeline(pipeline_name=f"peer_{job['vendor']}", pipelines_dir=job["pipelines_dir"],
                            destination=dlt.destinations.postgres(credentials=job["warehouse_url"]),
                            dataset_name=f"peer_{job['vendor']}")
    started = time.perf_counter()
    pipeline.run(rest_api_source(config))
    seconds = time.perf_counter() - started
    table = config["resources"][0]["name"]
    loaded = pipeline.last_trace.last_normalize_info.row_counts.get(table, 0)
    with pipeline.sql_client() as client:
        count = client.execute_sql(f"SELECT count(*) FROM {table}")[0][0]
    print(json.dumps({"records": loaded, "rows": count, "seconds": round(seconds, 2), "records_per_s": round(loaded / seconds),
                      "peak_rss_mb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
