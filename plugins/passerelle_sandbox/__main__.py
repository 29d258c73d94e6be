"""``python -m passerelle_sandbox``: run the Salesforce and HubSpot emulators in the foreground.

Prints each vendor's base URL, the CA certificate to trust and the accepted credentials as
shell lines to copy, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from passerelle_sandbox.server import Sandbox, resolve_dataset, start_sandbox

log = logging.getLogger(__name__)

ENV_NAMES = {
    "salesforce": {
        "client_id": "SALESFORCE_CLIENT_ID",
        "client_secret": "SALESFORCE_CLIENT_SECRET",
        "refresh_token": "SALESFORCE_REFRESH_TOKEN",
        "username": "SALESFORCE_USERNAME",
        "private_key_path": "SALESFORCE_PRIVATE_KEY_PATH",
        "login_url": "SALESFORCE_LOGIN_URL",
    },
    "hubspot": {
        "private_app_token": "HUBSPOT_PRIVATE_APP_TOKEN",
        "client_id": "HUBSPOT_CLIENT_ID",
        "client_secret": "HUBSPOT_CLIENT_SECRET",
        "refresh_token": "HUBSPOT_REFRESH_TOKEN",
    },
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m passerelle_sandbox",
        description="Serve local HTTPS emulators of the Salesforce and HubSpot APIs.",
    )
    parser.add_argument("--dataset", type=Path, help="dataset JSON (default: the project's default dataset)")
    parser.add_argument("--salesforce-port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--hubspot-port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--port", action="append", default=[], metavar="VENDOR=PORT",
                        help="any emulator's port, repeatable (e.g. --port folk=8450)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--public-host", help="the name clients use (e.g. a Compose service), in the base URLs "
                                              "and the certificate (default: the listening address)")
    parser.add_argument("--state-dir", type=Path, help="where sandbox/ files go (default: .passerelle)")
    parser.add_argument("--generate-bulk-salesforce", type=int, metavar="N",
                        help="serve N synthetic Salesforce Accounts instead of the dataset's (benchmarks)")
    parser.add_argument("--ticking-clock", action="store_true",
                        help="let the virtual clock follow the wall clock instead of staying frozen")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def with_bulk_accounts(dataset: dict[str, Any], count: int) -> dict[str, Any]:
    from passerelle_sandbox import dataset as datasets

    started = time.perf_counter()
    accounts = list(datasets.generate_bulk_salesforce(count, clock=dataset["clock"]))
    log.info("generated %d Accounts in %.1f s", count, time.perf_counter() - started)
    salesforce = dict(dataset["salesforce"])
    salesforce["objects"] = {**salesforce["objects"], "Account": accounts}
    return {**dataset, "salesforce": salesforce}


def banner(sandbox: Sandbox) -> str:
    lines = [
        f"# Passerelle sandbox, pid {sandbox.describe()['pid']}; descriptor: {sandbox.descriptor_path}",
        f"export PASSERELLE_SANDBOX_CA={shlex.quote(str(sandbox.ca_path))}",
    ]
    for name, endpoint in sandbox.vendors.items():
        lines.append(f"# {name}: {endpoint.base_url}  (control API: {endpoint.base_url}/__sandbox/)")
        lines.append(f"export {name.upper()}_BASE_URL={shlex.quote(endpoint.base_url)}")
        for key, value in endpoint.credentials.items():
            env = ENV_NAMES.get(name, {}).get(key, f"{name}_{key}".upper())
            lines.append(f"export {env}={shlex.quote(value)}")
    return "\n".join(lines)


def vendor_ports(pairs: Sequence[str]) -> dict[str, int]:
    """``--port VENDOR=PORT`` values as a mapping (SystemExit naming a bad one)."""
    from passerelle_sandbox.server import VENDOR_FACTORIES

    ports = {}
    for pair in pairs:
        name, _, port = pair.partition("=")
        if name not in VENDOR_FACTORIES or not port.isdigit():
            raise SystemExit(f"--port {pair}: expected VENDOR=PORT, VENDOR among {', '.join(VENDOR_FACTORIES)}")
        ports[name] = int(port)
    return ports


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dataset = resolve_dataset(args.dataset)
    if args.generate_bulk_salesforce:
        dataset = with_bulk_accounts(dataset, args.generate_bulk_salesforce)
    ports = {"salesforce": args.salesforce_port, "hubspot": args.hubspot_port, **vendor_ports(args.port)}
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with start_sandbox(dataset, state_dir=args.state_dir, host=args.host, ports=ports,
                       public_host=args.public_host) as sandbox:
        if args.ticking_clock:
            for endpoint in sandbox.vendors.values():
                endpoint.control.set_ticking(True)
        print(banner(sandbox), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
