"""The name a worker gives Airflow as its hostname, so several workers on one machine stay apart.

Airflow records ``[core] hostname_callable()`` as each task instance's ``hostname``; the default, the
machine's FQDN, is the same for two Celery workers sharing a machine. Pointing that option at
:func:`hostname` and giving each worker ``PASSERELLE_WORKER_NAME`` shows which worker ran what.
"""

from __future__ import annotations

import socket

from passerelle.settings import settings


def hostname() -> str:
    return settings().worker_name or socket.getfqdn()
