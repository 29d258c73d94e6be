"""Aligned plain-text tables for the demo's and the benchmarks' summaries."""

from __future__ import annotations

from typing import TextIO


def print_table(title: str, header: tuple[str, ...], rows: list[tuple], numeric_from: int | None = None,
                file: TextIO | None = None) -> None:
    """Print an aligned table; columns from ``numeric_from`` on are right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}", file=file)
    for row in [header, *rows]:
        cells = (
            str(v).rjust(w) if numeric_from is not None and i >= numeric_from else str(v).ljust(w)
            for i, (v, w) in enumerate(zip(row, widths))
        )
        print("  " + "  ".join(cells), file=file)
