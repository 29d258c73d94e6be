"""Run one deal → project sync (plan and apply) in a process of its own, as the DAG's tasks do.

``python -m tests.sync.sync_in_child <run id>`` with ``WAREHOUSE_URL``, ``PASSERELLE_SYNC_FILE``, the project
tool's name in ``SYNC_TOOL`` and its connection to the emulator in ``SYNC_CONNECTION`` (JSON: host, login,
password, extra) and, to kill it at a step, ``PASSERELLE_CRASH_AT`` in the environment (kept out of the
command line, which any local user can read).
"""

from __future__ import annotations

import json
import os
import sys

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.registry import get_source
from passerelle.connectors.run import retry_settings
from passerelle.settings import settings
from passerelle.sync.config import load_sync_config
from passerelle.sync.deal_projects import apply, plan, project_makers
from passerelle.warehouse.settings import connect


def main(run_id: str) -> None:
    config = load_sync_config(settings().sync_file).deal_to_project
    tool = os.environ["SYNC_TOOL"]
    source = get_source(tool)
    connection = SourceConfig(**json.loads(os.environ["SYNC_CONNECTION"]))
    api = source.connect(connection, retry_settings(source, connection))
    conn = connect(os.environ["WAREHOUSE_URL"])
    try:
        plan(conn, config, run_id)
        outcome = apply(conn, run_id, project_makers(conn, run_id, {tool: api}))
    finally:
        conn.close()
    print(f"created={outcome.created} adopted={outcome.adopted}")


if __name__ == "__main__":
    main(*sys.argv[1:])
