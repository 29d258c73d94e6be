"""``make up-celery``: Airflow with the CeleryExecutor on this machine, two workers, the sandbox and the warehouse.

Redis is the broker, Postgres the metadata database and the Celery result backend. The API server, the
scheduler, the DAG processor, the triggerer and the workers start in that order, each once the previous
one is healthy (the API server's ``/api/v2/monitor/health``; a Celery ping for a worker); Ctrl-C stops
them all. Each worker records its own name as its task instances' ``hostname``
(:mod:`passerelle.orchestration.worker_name`), so the UI and the REST API show which worker ran what.

Airflow's own variables override the defaults: ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (else the
``passerelle_airflow`` database on 127.0.0.1:5432 as the ``passerelle_airflow`` role, both created if missing:
:mod:`passerelle_dev.metadata_db`), ``AIRFLOW__CELERY__BROKER_URL`` (else Redis on 127.0.0.1:6379),
``AIRFLOW__API__PORT`` (else 8080).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from passerelle.orchestration.airflow_env import configure_airflow, local_secret
from passerelle.warehouse.settings import mask_url
from passerelle_dev.airflow_api import healthy
from passerelle_dev.components import Component, ComponentFailed, Stage, started, watch
from passerelle_dev.devserver import (
    AIRFLOW,
    _interrupt,
    api_server_stage,
    local_settings,
    print_access,
    start_dependencies,
)
from passerelle_dev.metadata_db import MetadataDatabaseTaken, provision

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
WORKERS = (("worker1", 4), ("worker2", 4))  # (name, concurrency)
HOSTNAME_CALLABLE = "passerelle.orchestration.worker_name.hostname"


@dataclass(frozen=True)
class CeleryStack:
    """Where the components find each other."""

    home: Path
    metadata_url: str  # SQLAlchemy URL of the metadata database, also the result backend
    broker_url: str
    api_port: int = 8080
    queue: str = "default"
    workers: Sequence[tuple[str, int]] = WORKERS
    triggerer_log_port: int = 8794

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self) -> dict[str, str]:
        """The Airflow configuration every component shares (secrets generated once into ``home``, 0600)."""
        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.metadata_url}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": local_secret(self.home / "jwt.secret", lambda: secrets.token_urlsafe(32)),
            "AIRFLOW__API__SECRET_KEY": local_secret(self.home / "api.secret", lambda: secrets.token_urlsafe(32)),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
            "AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT": str(self.triggerer_log_port),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def stages(self) -> list[Stage]:
        """API server, scheduler, DAG processor, triggerer, then the workers, each once the previous is healthy."""
        return [api_server_stage(self.api_url), *map(self.scheduling, ("scheduler", "dag-processor", "triggerer")),
                *(self.worker(name, concurrency) for name, concurrency in self.workers)]

    def scheduling(self, name: str) -> Stage:
        """``airflow <name>``, healthy once the API server's health endpoint says so."""
        key = name.replace("-", "_")  # dag-processor reports as dag_processor
        return Stage(f"the {name} to report healthy", [Component(name, [*AIRFLOW, name])],
                     lambda: healthy(self.api_url, (key,)))

    def worker(self, name: str, concurrency: int) -> Stage:
        node = f"{name}@{socket.gethostname()}"
        # Workers on one machine share the log folder, which the API server reads: no log server each.
        argv = [*AIRFLOW, "celery", "worker", "--celery-hostname", node, "--concurrency", str(concurrency),
                "--queues", self.queue, "--skip-serve-logs"]
        return Stage(f"{node} to answer a Celery ping", [Component(name, argv, {"PASSERELLE_WORKER_NAME": node})],
                     lambda: worker_answers(self.broker_url, node))


def worker_answers(broker_url: str, node: str) -> bool:
    """Whether the Celery worker ``node`` answers a ping through the broker."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        return bool(app.control.ping(destination=[node], timeout=1.0))
    finally:
        app.close()


def main() -> int:
    home = configure_airflow()
    metadata_url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if not metadata_url:
        try:
            metadata_url = provision(home)
        except MetadataDatabaseTaken as taken:
            print(taken, file=sys.stderr)
            return 1
    print(f"metadata database: {mask_url(metadata_url)}", flush=True)
    stack = CeleryStack(home=home, metadata_url=metadata_url,
                        broker_url=os.environ.get("AIRFLOW__CELERY__BROKER_URL") or DEFAULT_BROKER_URL,
                        api_port=int(os.environ.get("AIRFLOW__API__PORT") or 8080))
    local_settings()  # Europe/Paris, the auth manager, PATH; the stack's own values then win
    os.environ.update(stack.environment())
    sandbox = start_dependencies()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    log_dir = home / "logs" / "components"
    print(f"starting Airflow (CeleryExecutor); component logs in {log_dir}", flush=True)
    try:
        with started(stack.stages(), log_dir) as running:
            print_access(home, sandbox)
            return watch(running)
    except KeyboardInterrupt:
        return 0
    except ComponentFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    finally:
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
