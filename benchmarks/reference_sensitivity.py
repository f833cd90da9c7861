"""How far does the spd conductance of a single-atom contact move when its atoms move a little?

Run from the repository root (about 5 min on 2 cores)::

    python benchmarks/reference_sensitivity.py   # -> benchmarks/results/reference_sensitivity.json

A surrogate on smooth local descriptors can only reproduce the spd histogram peak as sharply
as it resolves the geometry. This measures the scale: the change of the spd reference G when
the scattering-region atoms of a snapshot are displaced at random by a few hundredths of an Å
(thermal motion at 300 K is ~0.1 Å), against the surrogate's error in the same window.

Protocol
--------
* Snapshots: ``N_SNAPSHOTS`` drawn at random (seed 0) from the validation traces
  ``au-spd-2x2-more`` (traces 48-95, 160 atoms) whose stored spd label lies in 0.5-1.2 G0 (the
  single-atom window); the blind traces are not read. The stored label is recomputed first
  (must agree to 1e-3 G0: the reference is deterministic).
* For each amplitude in ``AMPLITUDES`` (Å), ``DRAWS`` copies with independent Gaussian
  displacements of every scattering-region atom (``vlab.conductance.perturb``; the rigid
  electrodes stay), labelled with ``ExtendedHuckel`` (the campaigns' spd reference).
* Reported per amplitude: the median and mean over snapshots of the mean |G(displaced) - G|,
  and the same on the snapshots with G in 0.8-1.2 G0 (the plateau).
* From the stored labels of the same traces, per temperature: the correlation of G between
  consecutive snapshots of a trace when both lie in 0.5-1.0 G0 (how much of the single-atom
  G survives the thermal motion between two snapshots), and their mean |ΔG|.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: I001  (pins BLAS threads first)

import numpy as np

from vlab import catalog
from vlab.conductance import ExtendedHuckel, perturb
from vlab.workflows.conductance import labelled_structures

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "catalogs" / "data" / "au-spd-2x2-more.zarr"
N_SNAPSHOTS = 16
AMPLITUDES = (0.005, 0.02, 0.05)
DRAWS = 4


def consecutive(y: np.ndarray, traces: np.ndarray, snapshots, temps) -> dict:
    """Per temperature: correlation and mean |ΔG| of consecutive snapshots in 0.5-1.0 G0."""
    pairs: dict[float, list] = {}
    for t in np.unique(traces):
        rows = np.flatnonzero(traces == t)
        rows = rows[np.argsort(snapshots[rows])]
        for a, b in itertools.pairwise(rows):
            if 0.5 <= y[a] < 1.0 and 0.5 <= y[b] < 1.0:
                pairs.setdefault(float(temps[a]), []).append((y[a], y[b]))
    out = {}
    for temp, got in sorted(pairs.items()):
        arr = np.array(got)
        out[f"{temp:g}K"] = {
            "pairs": len(arr),
            "correlation": round(float(np.corrcoef(arr[:, 0], arr[:, 1])[0, 1]), 3),
            "mean_abs_change_G0": round(float(np.abs(arr[:, 0] - arr[:, 1]).mean()), 4),
        }
    return out


def main() -> dict:
    structures, y, traces, _ = labelled_structures(STORE)
    ds = catalog.select(catalog.open_store(STORE), status="done")
    lag = consecutive(y, traces, ds["snapshot"].values, ds["temperature"].values)
    window = np.flatnonzero((y >= 0.5) & (y <= 1.2))
    picks = np.sort(np.random.default_rng(0).choice(window, N_SNAPSHOTS, replace=False))
    spd = ExtendedHuckel()
    start = time.perf_counter()
    rows_out = []
    for n, i in enumerate(picks):
        g = spd.conductance(structures[i])
        if abs(g - y[i]) > 1e-3:
            raise SystemExit(f"snapshot {i}: recomputed {g:.4f} G0, stored {y[i]:.4f} G0")
        changes = {}
        for amp in AMPLITUDES:
            draws = [np.random.default_rng([int(i), k]) for k in range(DRAWS)]
            moved = [
                spd.conductance(perturb(structures[i], amplitude=amp, rng=rng)) for rng in draws
            ]
            changes[f"{amp:g}"] = round(float(np.mean(np.abs(np.array(moved) - g))), 4)
        rows_out.append({"index": int(i), "trace": int(traces[i]), "G0": round(g, 4), **changes})
        print(f"  {n + 1}/{len(picks)} G {g:.3f}: " + ", ".join(
            f"{a} Å -> {c:.3f}" for a, c in changes.items()), flush=True)  # fmt: skip
    summary = {}
    plateau = [r for r in rows_out if 0.8 <= r["G0"] <= 1.2]
    for amp in AMPLITUDES:
        key = f"{amp:g}"
        every = [r[key] for r in rows_out]
        summary[key] = {
            "median_abs_change_G0": round(statistics.median(every), 4),
            "mean_abs_change_G0": round(statistics.mean(every), 4),
            "mean_abs_change_0_8_1_2G0": round(statistics.mean(r[key] for r in plateau), 4)
            if plateau
            else None,
        }
    data = {
        "store": "au-spd-2x2-more (validation traces 48-95)",
        "n_snapshots": len(rows_out),
        "n_plateau": len(plateau),
        "draws": DRAWS,
        "amplitudes_A": list(AMPLITUDES),
        "by_amplitude": summary,
        "consecutive_snapshots_0_5_1_0G0": lag,
        "snapshots": rows_out,
        "seconds": round(time.perf_counter() - start, 1),
    }
    rows = [
        (
            f"displacement {amp:g} Å (Gaussian, every device atom)",
            f"|ΔG| median {summary[f'{amp:g}']['median_abs_change_G0']:.3f}, mean "
            f"{summary[f'{amp:g}']['mean_abs_change_G0']:.3f} G0 (0.8-1.2 G0: "
            f"{summary[f'{amp:g}']['mean_abs_change_0_8_1_2G0']:.3f})",
        )
        for amp in AMPLITUDES
    ]
    rows += [
        (
            f"consecutive snapshots in 0.5-1 G0, {temp}",
            f"correlation {v['correlation']:.2f}, mean |ΔG| {v['mean_abs_change_G0']:.3f} G0 "
            f"({v['pairs']} pairs)",
        )
        for temp, v in lag.items()
    ]
    write_result("reference_sensitivity", data, rows)
    return data


if __name__ == "__main__":
    main()
