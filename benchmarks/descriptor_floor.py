"""How fast can a SOAP-based surrogate be, warm reference against descriptors alone?

Run from the repository root (about 1 min)::

    python benchmarks/descriptor_floor.py   # -> benchmarks/results/descriptor_floor.json

The local-descriptor surrogate computes the SOAP spectra of every window atom of a snapshot
(dscribe) before its networks run. Whatever the networks and the pooling, a surrogate built on
those descriptors cannot be faster than the descriptor stage alone. This benchmark measures
that stage for the headline setting and for smaller SOAP settings (fewer radial functions,
lower angular order, shorter cut-off: cheaper and less detailed descriptors, none trained
here), against the warm spd reference in the same run.

Protocol
--------
* Snapshots: held-out trace 18 of ``au-spd-2x2`` (42 snapshots of 160 atoms), as in
  ``surrogate_shipped.py``; the spd reference warm (lead self-energies computed by the first,
  uncounted call, then ``WARM_UP`` uncounted warm calls), one process, BLAS pinned to one
  thread.
* Interleaved ``REPEATS`` times: one warm reference call (a different snapshot each time) and,
  for every setting of ``SETTINGS``, ``compute_descriptors`` on the whole trace (electrode
  padding, centres, SOAP; per snapshot = call / snapshots). Also the shipped headline model's
  networks and pooling from descriptors computed beforehand (``predict`` on the descriptors).
  Medians.
* ``ceiling_descriptors_only`` = reference / descriptor stage: no surrogate on those
  descriptors can exceed it. ``ceiling_with_headline_networks`` adds the headline's
  network-and-pooling time (for 180 features per centre; smaller settings give smaller first
  layers, so for them it is an estimate, not a bound).
* ``speedup_stand_in``: the whole surrogate with the setting, timed from ase.Atoms to G
  (descriptors, slab matrices, networks, pooling) in the same loop: the headline's
  architecture (``spd-headline`` preset: 16 members of two hidden layers of 32, electrode
  coupling) on those descriptors, fitted for ``STAND_IN_ITERATIONS`` iterations on the trace.
  A stand-in for timing only: its predictions are not scored, and what such a model would
  reach in accuracy is not measured here.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: I001 (pins BLAS threads first)

import numpy as np

from vlab.conductance import ConductanceSurrogate, ExtendedHuckel, load_shipped_model
from vlab.conductance.descriptors import compute_descriptors
from vlab.workflows.conductance import labelled_structures

ROOT = Path(__file__).resolve().parent.parent
TRACE = 18
REPEATS = 7
WARM_UP = 8
TARGET = 1000.0
STAND_IN_ITERATIONS = 2
# (n_max, l_max, r_cut in Å): the headline's first, then cheaper ones
SETTINGS = [(8, 4, 5.5), (6, 4, 5.5), (6, 3, 5.0), (4, 3, 5.0), (4, 2, 4.5), (3, 2, 4.0)]


def main() -> dict:
    start = time.perf_counter()
    structures, _, traces, _ = labelled_structures(ROOT / "catalogs" / "data" / "au-spd-2x2.zarr")
    trace = [structures[i] for i in np.flatnonzero(traces == TRACE)]
    model = load_shipped_model("spd-headline")
    headline = model.descriptor_settings_
    grid = [replace(headline, n_max=n, l_max=lm, r_cut=rc) for n, lm, rc in SETTINGS]
    descriptors = compute_descriptors(trace, headline)
    model.predict(descriptors[:2])  # first-call costs, not counted
    stand_ins = []
    for settings in grid:
        stand_in = ConductanceSurrogate.from_preset(
            "spd-headline",
            descriptor_settings=settings,
            max_iter=STAND_IN_ITERATIONS,
            random_state=0,
        )
        stand_in.fit(trace, np.linspace(0.0, 3.0, len(trace)))  # timing only
        stand_in.predict(trace[:2])  # first-call costs, not counted
        stand_ins.append(stand_in)
    spd = ExtendedHuckel()
    spd.conductance(trace[0])  # cold: computes and caches the lead terms, not counted
    for k in range(2, 2 + WARM_UP):
        spd.conductance(trace[k])
    picks = np.linspace(1, len(trace) - 1, REPEATS).round().astype(int)
    ref, net, desc = [], [], {s: [] for s in SETTINGS}
    whole: dict = {s: [] for s in SETTINGS}
    for j in picks:
        t = time.perf_counter()
        spd.conductance(trace[j])
        ref.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.predict(descriptors)
        net.append((time.perf_counter() - t) / len(trace))
        for key, settings, stand_in in zip(SETTINGS, grid, stand_ins, strict=True):
            t = time.perf_counter()
            compute_descriptors(trace, settings)
            desc[key].append((time.perf_counter() - t) / len(trace))
            t = time.perf_counter()
            stand_in.predict(trace)
            whole[key].append((time.perf_counter() - t) / len(trace))
    ref_s, net_s = float(np.median(ref)), float(np.median(net))
    rows_out = []
    for (n_max, l_max, r_cut), settings in zip(SETTINGS, grid, strict=True):
        d = float(np.median(desc[(n_max, l_max, r_cut)]))
        w = float(np.median(whole[(n_max, l_max, r_cut)]))
        features = compute_descriptors(trace[:1], settings)[0].features.shape[1]
        rows_out.append(
            {
                "n_max": n_max,
                "l_max": l_max,
                "r_cut": r_cut,
                "features_per_centre": int(features),
                "descriptor_ms": round(d * 1e3, 3),
                "ceiling_descriptors_only": round(ref_s / d, 1),
                "ceiling_with_headline_networks": round(ref_s / (d + net_s), 1),
                "stand_in_ms": round(w * 1e3, 3),
                "speedup_stand_in": round(ref_s / w, 1),
            }
        )
    out = {
        "snapshots": f"au-spd-2x2 trace {TRACE}, {len(trace)} snapshots of {len(trace[0])} atoms",
        "spd_warm_s": round(ref_s, 4),
        "headline_networks_and_pooling_ms": round(net_s * 1e3, 3),
        "settings": rows_out,
        "headline_ceiling_descriptors_only": rows_out[0]["ceiling_descriptors_only"],
        "max_ceiling_descriptors_only": max(r["ceiling_descriptors_only"] for r in rows_out),
        "max_speedup_stand_in": max(r["speedup_stand_in"] for r in rows_out),
        "target_speedup": TARGET,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    rows = [
        ("spd reference, warm, per snapshot", f"{ref_s:.3f} s"),
        ("headline networks and pooling per snapshot", f"{net_s * 1e3:.3f} ms"),
        *(
            (
                f"SOAP n_max {r['n_max']}, l_max {r['l_max']}, r_cut {r['r_cut']} Å "
                f"({r['features_per_centre']} features)",
                f"{r['descriptor_ms']:.3f} ms: ceiling {r['ceiling_descriptors_only']:.0f}x; "
                f"whole stand-in {r['stand_in_ms']:.3f} ms: {r['speedup_stand_in']:.0f}x",
            )
            for r in rows_out
        ),
    ]
    write_result("descriptor_floor", out, rows)
    return out


if __name__ == "__main__":
    main()
