"""Benchmark of the reference conductance calculators: seconds per snapshot versus atom count.

Run from the repository root::

    python benchmarks/reference.py            # writes benchmarks/results/reference.json

Each size is a perfect fcc [001] Au wire or tip junction from ``vlab.conductance._junctions``
(timings do not depend on disorder). The s-band model is timed as the median of 7 runs; the
extended Hückel spd model (``ExtendedHuckel()``: vlab's Slater-orbital engine, ``au-tail``
parameters, the reference the campaigns use) with 3 runs for small sizes and 1 for the largest,
plus RDKit's YAeHMOP pair by pair (``engine="rdkit-pairs"``, YAeHMOP parameters). The scaling
exponent is the slope of a least-squares fit of log(time) against log(atoms). Every run is cold:
the per-process cache of lead self-energies (which campaigns hit for every snapshot after the
first, because MD electrodes are rigid) is cleared before it. Existing keys of
the JSON file (e.g. ``histogram_peak_G0``) are kept.
"""

from __future__ import annotations

from vlab import pin_blas_threads

pin_blas_threads(1)

import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from vlab.conductance import _junctions as J
from vlab.conductance import _negf
from vlab.conductance.transport import ExtendedHuckel, SBandTightBinding

RESULTS = Path(__file__).parent / "results" / "reference.json"

SBAND_CASES = [  # (label, builder) ~30 to ~500 atoms
    ("wire 1x1 cells", lambda: J.fcc001_wire(1, n_device_layers=7)),
    ("wire 2x2 cells", lambda: J.fcc001_wire(2, n_device_layers=4)),
    ("wire 3x3 cells", lambda: J.fcc001_wire(3, n_device_layers=4)),
    ("wire 4x4 cells", lambda: J.fcc001_wire(4, n_device_layers=7)),
]
SPD_CASES = [  # (label, builder, runs) 20 to 200 atoms
    ("wire 1x1 cells", lambda: J.fcc001_wire(1, n_device_layers=2), 3),
    ("apex-apex tips w1", lambda: J.tip_gap(0.0, 1), 3),
    ("wire 2x2 cells", lambda: J.fcc001_wire(2, n_device_layers=2), 3),
    ("wire 2x2 cells long", lambda: J.fcc001_wire(2, n_device_layers=11), 1),
    ("wire 2x2 cells longer", lambda: J.fcc001_wire(2, n_device_layers=17), 1),
]


def _time(calc, atoms, runs: int) -> tuple[float, float]:
    seconds, g = [], float("nan")
    for _ in range(runs):
        _negf.clear_cache()  # cold: no lead self-energy or Fermi energy from earlier runs
        start = time.perf_counter()
        g = calc.conductance(atoms)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), g


def _series(calc, cases, default_runs: int | None = None) -> dict:
    atoms_n, secs, conductance, labels = [], [], [], []
    for label, build, *runs in cases:
        atoms = build()
        t, g = _time(calc, atoms, default_runs or runs[0])
        atoms_n.append(len(atoms))
        secs.append(t)
        conductance.append(g)
        labels.append(label)
        name = type(calc).__name__
        print(f"  {name:18s} {label:22s} {len(atoms):4d} atoms  {t:9.4f} s  G={g:.3f}")
    slope = float(np.polyfit(np.log(atoms_n), np.log(secs), 1)[0])
    return {
        "atoms": atoms_n,
        "seconds_per_snapshot": secs,
        "scaling_exponent": round(slope, 3),
        "structures": labels,
        "conductance_G0": conductance,
        "identity": calc.identity,
    }


def main() -> dict:
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    print("s-band tight binding (median of 7 runs)")
    data["sband"] = _series(SBandTightBinding(), SBAND_CASES, default_runs=7)
    print("extended Hückel, vlab engine, au-tail parameters")
    data["spd"] = _series(ExtendedHuckel(), SPD_CASES)
    print("extended Hückel, RDKit YAeHMOP pair by pair")
    rdkit = ExtendedHuckel(engine="rdkit-pairs", parameters="yaehmop")
    data["spd_rdkit_pairs"] = _series(rdkit, SPD_CASES)
    data.pop("spd_pairs", None)  # the earlier name of the RDKit series
    data["reference_benchmark_machine"] = {
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "blas_threads": 1,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"\n{'model':10s} {'atoms':>24s} {'exponent':>9s}")
    for key in ("sband", "spd", "spd_rdkit_pairs"):
        print(f"{key:10s} {data[key]['atoms']!s:>24s} {data[key]['scaling_exponent']:9.2f}")
    return data


if __name__ == "__main__":
    main()
