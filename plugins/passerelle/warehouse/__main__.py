"""``python -m passerelle.warehouse up|stop|url``: run the local warehouse outside Airflow.

``up`` starts (or reuses) the embedded server unless ``WAREHOUSE_URL`` is set, migrates it and
writes ``.passerelle/warehouse.env`` for shells and Airflow::

    python -m passerelle.warehouse up && set -a && . .passerelle/warehouse.env && set +a
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from passerelle.paths import state_dir
from passerelle.warehouse import roles
from passerelle.warehouse.embedded import EmbeddedWarehouse
from passerelle.warehouse.migrate import migrate
from passerelle.warehouse.settings import (
    AIRFLOW_CONN_ENV_VAR,
    EMBEDDED_ORIGIN,
    ENV_VAR,
    airflow_conn_uri,
    mask_url,
    resolve_warehouse,
    warehouse_url,
)

logger = logging.getLogger(__name__)


def env_file() -> Path:
    return state_dir() / "warehouse.env"


def write_env_file(url: str, path: Path | None = None) -> Path:
    """``KEY='value'`` lines for the warehouse URL and Airflow's connection.

    Readable by ``sh`` (``set -a; . file``), docker compose ``env_file`` and python-dotenv.
    Mode 600 because the URL may hold a password.
    """
    path = path or env_file()
    lines = [f"{ENV_VAR}={_quote(url)}", f"{AIRFLOW_CONN_ENV_VAR}={_quote(airflow_conn_uri(url))}"]
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _up(args: argparse.Namespace) -> int:
    url = warehouse_url(args.data_dir)
    applied = migrate(url)
    path = write_env_file(url)
    print(f"warehouse: {mask_url(url)}")
    print(f"migrations applied: {', '.join(applied) if applied else 'none (already at head)'}")
    print(f"environment: {path}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    server = EmbeddedWarehouse(args.data_dir)
    if os.environ.get(ENV_VAR):
        print(f"note: {ENV_VAR} is set; only the embedded server in {server.data_dir} is stopped", file=sys.stderr)
    was_running = server.is_running()
    server.stop()
    print(f"embedded warehouse in {server.data_dir}: {'stopped' if was_running else 'was not running'}")
    return 0


def _url(args: argparse.Namespace) -> int:
    """The warehouse the pipelines use; ``--role`` only on the embedded one, the only one whose logins it knows."""
    warehouse = resolve_warehouse(args.data_dir)
    url = warehouse.url
    if args.role:
        if warehouse.origin != EMBEDDED_ORIGIN:
            print(f"--role applies to the embedded warehouse only; this warehouse comes from {warehouse.origin}",
                  file=sys.stderr)
            return 2
        url = EmbeddedWarehouse(args.data_dir).url(role=args.role)
    print(url if args.reveal else mask_url(url))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passerelle.warehouse", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="embedded server directory (default: .passerelle/warehouse)")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start or reuse the warehouse, migrate it, write warehouse.env").set_defaults(
        run=_up)
    commands.add_parser("stop", help="stop the embedded server").set_defaults(run=_stop)
    url_parser = commands.add_parser("url", help="print the warehouse URL (starting the embedded server if needed)")
    url_parser.add_argument("--reveal", action="store_true", help="print the password instead of ***")
    url_parser.add_argument("--role", choices=[roles.BI, roles.PROJECTS, roles.LOADER],
                            help="embedded warehouse: the URL of this role instead of the loader's")
    url_parser.set_defaults(run=_url)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except Exception as exc:
        from passerelle.warehouse.connection_errors import describe_failure

        message = describe_failure(exc, os.environ.get(ENV_VAR, "").strip())
        if message is None:
            raise
        logger.debug("warehouse connection failed", exc_info=True)
        print(f"error: {message}", file=sys.stderr)
        return 2


# Airflow's plugin loader executes every file under plugins/ as a top-level module named after the
# file (here "__main__"): only run for ``python -m passerelle.warehouse``.
if __name__ == "__main__" and (__spec__ is None or __spec__.name == "passerelle.warehouse.__main__"):
    sys.exit(main())
