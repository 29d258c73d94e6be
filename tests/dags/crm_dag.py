"""Daily runs of one source's generated extract DAG against its sandbox vendor, and what they loaded.

A source's name is its sandbox vendor, its Connection ``passerelle_<source>`` and its DAG
``extract_<source>``, so a source's DAG test keeps only its own changes and expected counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from passerelle.orchestration.runner import run_interval

DAY1 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@dataclass
class CrmDag:
    """The ``extract_<source>`` DAG (retries shortened), run one daily window after another from ``DAY1``."""

    source: str
    dag: Any
    sandbox: Any
    warehouse_conn: Any

    def run_days(self, days: int, changes: Callable[[int, datetime], Any]) -> list[Any]:
        """Each day: ``changes(day, at)`` at 10:00 on the vendor, then the run of the window ending at the next
        midnight, with the vendor's clock half an hour past it. Returns what ``changes`` returned each day."""
        applied = []
        for day in range(days):
            applied.append(changes(day, DAY1 + timedelta(days=day, hours=10)))
            end = DAY1 + timedelta(days=day + 1)
            self.sandbox.vendors[self.source].control.set_clock(end + timedelta(minutes=30))
            run = run_interval(self.dag, end)
            assert run.state == "success", f"{self.dag.dag_id} window ending {end}: {run.state}"
        return applied

    def load_counts(self, days: int) -> dict[str, list[int]]:
        """``{stream: [inserted, updated, deleted]}`` of the source's loads for the ``days``-th daily window."""
        with self.warehouse_conn.cursor() as cur:
            cur.execute("SELECT stream, inserted, updated, deleted FROM audit.load_log WHERE source = %s "
                        "AND window_end = %s", (self.source, DAY1 + timedelta(days=days)))
            counts = {stream: counts for stream, *counts in cur.fetchall()}
        self.warehouse_conn.rollback()
        return counts
