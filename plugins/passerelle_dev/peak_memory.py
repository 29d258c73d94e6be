"""Peak resident memory of this process, as the benchmarks report it."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """The peak RSS of this process's own address space, in MB.

    ``ru_maxrss`` survives ``fork`` + ``exec``: a worker started by a 100 MB parent reports at least 100 MB
    whatever it used. ``VmHWM`` belongs to the address space ``exec`` created, so it is the worker's own;
    ``ru_maxrss`` is the fallback where ``/proc`` is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak() -> bool:
    """Start measuring the peak again from the current RSS (Linux ``clear_refs``); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
