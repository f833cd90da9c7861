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


def labels_to(target: float, n, r2) -> float | None:
    """Labels at which the learning curve ``r2(n)`` first reaches ``target`` (linear
    interpolation between rounds); None if it never does."""
    import numpy as np

    n, r2 = np.asarray(n, float), np.asarray(r2, float)
    above = np.flatnonzero(r2 >= target)
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(n[0])
    frac = (target - r2[i - 1]) / (r2[i] - r2[i - 1])
    return round(float(n[i - 1] + frac * (n[i] - n[i - 1])), 1)


def spread(values: list) -> dict:
    """Per-seed values with their mean, min and max (None entries left out of those)."""
    ok = [v for v in values if v is not None]
    return {
        "per_seed": values,
        "mean": round(statistics.mean(ok), 4) if ok else None,
        "min": min(ok) if ok else None,
        "max": max(ok) if ok else None,
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
