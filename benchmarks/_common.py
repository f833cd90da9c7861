"""Helpers shared by the benchmark scripts: BLAS pinning, medians, JSON + table output."""

from __future__ import annotations

import json
import math
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


def standard_json(value):
    """``value`` with NaN and infinities as None, so that the JSON written is standard."""
    if isinstance(value, dict):
        return {k: standard_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [standard_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
    path.write_text(
        json.dumps(standard_json(old), indent=2, sort_keys=True, allow_nan=False) + "\n"
    )
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


def labels_to_target(n, r2: dict, seeds, goal: float | None = None) -> dict:
    """Labels at which the ``uncertainty`` and ``random`` learning curves reach a common R².

    ``r2`` maps ``(strategy, seed)`` to a curve over ``n`` labels. The target is ``goal`` if
    both mean curves (over ``seeds``) reach it, else the highest R² both mean curves reach.
    Returns the labels of the mean curves and of each seed's curves, and their ratios (and,
    with a ``goal``, whether both mean curves reach it).
    """
    import numpy as np

    strategies = ("uncertainty", "random")
    mean = {s: np.mean([r2[(s, seed)] for seed in seeds], axis=0) for s in strategies}
    best_both = float(min(mean[s].max() for s in strategies))
    reached = goal is not None and best_both >= goal
    target = goal if reached else best_both
    active, rand = (labels_to(target, n, mean[s]) for s in strategies)
    per_seed = {s: [labels_to(target, n, r2[(s, seed)]) for seed in seeds] for s in strategies}
    ratios = [
        None if a is None or r is None else round(a / r, 3)
        for a, r in zip(per_seed["uncertainty"], per_seed["random"], strict=True)
    ]
    out = {"target_reached_by_both": reached} if goal is not None else {}
    return out | {
        "target_r2_used": round(target, 4),
        "labels_to_target_active": active,
        "labels_to_target_random": rand,
        "labels_to_target_ratio": None if not active or not rand else round(active / rand, 3),
        "labels_to_target_per_seed": {
            "active": per_seed["uncertainty"],
            "random": per_seed["random"],
            "ratio": spread(ratios),
        },
    }


#: the single-atom plateau, G0: reference conductances in [low, high]
PLATEAU_G0 = (0.8, 1.2)


def plateau_mae(y, pred) -> float:
    """Mean absolute error of ``pred`` on the snapshots whose reference ``y`` lies on the
    single-atom plateau (``PLATEAU_G0``), G0, 4 decimals."""
    import numpy as np

    y, pred = np.asarray(y, float), np.asarray(pred, float)
    window = (y >= PLATEAU_G0[0]) & (y <= PLATEAU_G0[1])
    return round(float(np.abs(pred - y)[window].mean()), 4)


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
