"""Helpers shared by the benchmark scripts: BLAS pinning, medians, JSON + table output."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

from vlab import pin_blas_threads

pin_blas_threads(1)

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(func, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``func()`` over ``repeats`` runs, and all the runs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), runs


def write_result(
    name: str, data: dict, rows: list[tuple[str, str]], *, drop: tuple[str, ...] = ()
) -> Path:
    """Write ``results/NAME.json`` (merged into an existing file, minus the keys ``drop``)
    and print a table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    for key in drop:
        old.pop(key, None)
    old.update(data)
    old["machine"] = {
        "python": platform.python_version(),
        "cpus": _cpus(),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    width = max(len(k) for k, _ in rows)
    print(f"\n{name} benchmark ({path.relative_to(RESULTS.parent.parent)})")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
