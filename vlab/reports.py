"""Figures and summaries made from catalog stores (glue between the catalog and the labs).

Examples
--------
After a ``conductance-reference`` campaign::

    from vlab.reports import conductance_figures
    summary = conductance_figures("results/sband.zarr", "results/figures")
    print(summary["histogram_peak_G0"], summary["files"])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vlab import catalog
from vlab.errors import InputError

__all__ = ["conductance_figures", "conductance_traces"]


def conductance_traces(store: str | os.PathLike) -> dict[str, Any]:
    """Per-trace elongation and conductance arrays (done items only) of a reference store."""
    ds = catalog.open_store(store)
    needed = {"conductance", "trace", "elongation", "temperature"}
    if not needed <= set(ds.variables):
        raise InputError(
            f"The store {str(store)!r} is not a conductance-reference store of break-junction "
            f"snapshots: it lacks {sorted(needed - set(ds.variables))}."
        )
    ds = catalog.select(ds[[*needed, "status"]], status="done").load()
    traces: dict[int, dict[str, Any]] = {}
    for t in np.unique(ds["trace"].values):
        part = ds.isel(item=np.flatnonzero(ds["trace"].values == t))
        traces[int(t)] = {
            "elongation": part["elongation"].values,
            "conductance": part["conductance"].values,
            "temperature": float(part["temperature"].values[0]),
        }
    return traces


def conductance_figures(
    store: str | os.PathLike, out_dir: str | os.PathLike, *, max_traces: int = 12
) -> dict[str, Any]:
    """Write the histogram (linear and log axes) and traces PNGs, and a summary JSON.

    Returns
    -------
    dict
        ``histogram_peak_G0`` (all snapshots), peaks per temperature, counts, and ``files``.
    """
    from vlab.conductance import histogram_peak, plot_histogram, plot_traces

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    traces = conductance_traces(store)
    if not traces:
        raise InputError(f"The store {str(store)!r} has no done snapshots to plot.")
    all_g = np.concatenate([t["conductance"] for t in traces.values()])
    name = Path(store).stem
    files = {
        "histogram": plot_histogram(
            all_g,
            out / f"{name}-histogram.png",
            title=f"{name}: {len(traces)} traces, {all_g.size} snapshots",
        ),
        "histogram_log": plot_histogram(
            all_g, out / f"{name}-histogram-log.png", log=True, title=f"{name} (log axis)"
        ),
        "traces": plot_traces(
            [t["elongation"] for t in list(traces.values())[:max_traces]],
            [t["conductance"] for t in list(traces.values())[:max_traces]],
            out / f"{name}-traces.png",
            offset=1.0,
            title=f"{name}: conductance traces",
        ),
    }
    summary: dict[str, Any] = {
        "store": str(store),
        "traces": len(traces),
        "snapshots": int(all_g.size),
        "histogram_peak_G0": _peak(all_g, histogram_peak),
    }
    for temp in sorted({t["temperature"] for t in traces.values()}):
        g = np.concatenate([t["conductance"] for t in traces.values() if t["temperature"] == temp])
        summary[f"histogram_peak_G0_{temp:g}K"] = _peak(g, histogram_peak)
    summary["files"] = {k: str(v) for k, v in files.items()}
    (out / f"{name}-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _peak(values: np.ndarray, func) -> float | None:
    try:
        return round(float(func(values)), 3)
    except (ValueError, InputError):  # too few snapshots above the tunnelling tail
        return None
