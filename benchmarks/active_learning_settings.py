"""Settings of the active-learning benchmark, chosen on the validation traces only.

Run from the repository root (about 10 min on 2 cores; one process per seed)::

    python benchmarks/active_learning_settings.py   # -> results/active_learning_settings.json

What it decides for ``benchmarks/active_learning.py``: whether the surrogate is retrained
afresh or from the last round's members (warm start), and how many of the most uncertain
snapshots the farthest-point rule picks a batch from (``candidates`` x batch), whether the
batch is shared among groups of predicted conductance (``strata``), and whether snapshots are
ranked by the ensemble's spread or by the spread relative to the predicted G (``spread``).

Protocol
--------
* The loop of ``vlab conductance learn`` replayed in one process, with the same pool
  (``POOL``), estimator (``MODEL``), spread (``predict_with_spread``), fingerprints and batch
  rule (``choose_batch``, the function the loop calls) as the benchmark; the labels are read
  from the pool stores (the values the label campaigns copy), not labelled through campaigns,
  so a loop takes about a minute.
* Round 0 draws ``INITIAL`` snapshots at random; each later round adds ``BATCH`` (uncertainty:
  among ``SCAN`` unlabelled snapshots drawn at random; random: a uniform draw) up to
  ``BUDGET``. ``SEEDS`` seeds, the same initial draw for every variant of a seed.
* Scored on the validation traces ``au-spd-2x2-more`` (traces 48-95) after every round. The
  blind traces (``au-spd-2x2-test``) are not read.
* Rules, fixed before the run: retraining is the mode with the higher mean validation R²
  over the random and candidates-4 loops, both seeds and the rounds with >= ``FROM_LABELS``
  labels; among the uncertainty variants with that mode, ``candidates``, ``strata`` and
  ``spread`` are those of the one with the highest such mean. Also recorded, not used by
  the rule: R² on 0-3 G0, the error of the 4 K and 300 K histogram peaks, and where the
  final labels lie (below 0.8 G0, on the plateau 0.8-1.2 G0, above 3 G0) against the pool.
* The ceiling of the estimator: fitted once on every labelled snapshot of the pool (per
  seed), scored on the validation traces (``all_labels_*``): no batch rule can take the
  loop's model beyond it.
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: I001  (pins BLAS threads first)

import numpy as np

POOL = ["au-spd-2x2-train", "au-spd-2x2", "au-spd-2x2-extra"]
VALIDATION = "au-spd-2x2-more"
PARAMS = {"n_estimators": 4, "hidden_layer_sizes": (16,), "max_iter": 60}
INITIAL, BATCH, BUDGET, SCAN = 50, 50, 600, 1500
SEEDS = (0, 1)
FROM_LABELS = 300
# (strategy, warm start, candidates, strata, spread)
VARIANTS = (
    ("random", True, 0, 1, "absolute"),
    ("random", False, 0, 1, "absolute"),
    ("uncertainty", True, 4, 1, "absolute"),
    ("uncertainty", False, 4, 1, "absolute"),
    ("uncertainty", False, 1, 1, "absolute"),
    ("uncertainty", False, 12, 1, "absolute"),
    ("uncertainty", False, 30, 1, "absolute"),
    ("uncertainty", False, 1, 5, "absolute"),
    ("uncertainty", False, 4, 5, "absolute"),
    ("uncertainty", False, 1, 10, "absolute"),
    ("uncertainty", False, 1, 1, "relative"),
    ("uncertainty", False, 4, 1, "relative"),
)
# where the final labels of a loop lie (reference G, G0)
RANGES = {"below_0_8": (-1.0, 0.8), "plateau_0_8_1_2": (0.8, 1.2), "above_3": (3.0, 1e9)}


def _name(strategy: str, warm: bool, candidates: int, strata: int, spread: str) -> str:
    name = f"{strategy}-{'warm' if warm else 'fresh'}"
    if strategy == "uncertainty":
        name += f"-c{candidates}" + (f"-s{strata}" if strata > 1 else "")
        name += "-rel" if spread == "relative" else ""
    return name


def _data():
    from vlab.conductance.descriptors import DescriptorSettings, compute_descriptors
    from vlab.workflows.conductance import labelled_structures, labelled_temperatures
    from vlab.workflows.learning import snapshot_fingerprint

    structures, labels = [], []
    for name in POOL:
        s, y, _, _ = labelled_structures(name)
        structures += s
        labels.append(y)
    val_s, val_y, _, _ = labelled_structures(VALIDATION)
    settings = DescriptorSettings()
    desc = compute_descriptors(structures, settings)
    fp = np.array([snapshot_fingerprint(d) for d in desc])
    temps = labelled_temperatures(VALIDATION)
    val = (compute_descriptors(val_s, settings), val_y, temps)
    return desc, np.concatenate(labels), fp, val


def run_seed(seed: int) -> dict[str, dict]:
    """Validation curves and final label ranges of every variant for one seed."""
    from vlab.conductance import ConductanceSurrogate
    from vlab.workflows.learning import choose_batch, predict_with_spread, validation_metrics

    desc, y, fp, (val_desc, val_y, val_t) = _data()
    out: dict = {
        "_pool": {
            k: round(float(((y >= lo) & (y < hi)).mean()), 3) for k, (lo, hi) in RANGES.items()
        }
    }
    for strategy, warm, candidates, strata, spread in VARIANTS:
        labelled = list(np.random.default_rng([seed, 0]).choice(len(y), INITIAL, replace=False))
        model, curve, start = None, [], time.perf_counter()
        for k in range(1, 1000):
            if model is None or not warm:
                model = ConductanceSurrogate(random_state=seed, warm_start=warm, **PARAMS)
            model.fit([desc[i] for i in labelled], y[labelled])
            pred = predict_with_spread(model, val_desc)[0]
            curve.append({"n_labels": len(labelled), **validation_metrics(val_y, pred, val_t)})
            if len(labelled) >= BUDGET:
                break
            rng = np.random.default_rng([seed, k])
            free = np.setdiff1d(np.arange(len(y)), labelled)
            if strategy == "random":
                pick = free[rng.choice(free.size, BATCH, replace=False)]
            else:
                scan = np.sort(rng.choice(free, SCAN, replace=False))
                mean, std = predict_with_spread(model, [desc[i] for i in scan])
                pick = scan[
                    choose_batch(
                        mean,
                        std,
                        fp[scan],
                        BATCH,
                        spread=spread,
                        candidates=candidates,
                        strata=strata,
                    )
                ]
            labelled += pick.tolist()
        name = _name(strategy, warm, candidates, strata, spread)
        g = y[labelled]
        share = {
            k: round(float(((g >= lo) & (g < hi)).mean()), 3) for k, (lo, hi) in RANGES.items()
        }
        out[name] = {"curve": curve, "labels": share}
        print(f"seed {seed} {name}: "
              f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    start = time.perf_counter()
    model = ConductanceSurrogate(random_state=seed, **PARAMS).fit(desc, y)
    pred = predict_with_spread(model, val_desc)[0]
    out["_all_labels"] = {"n_labels": len(y), **validation_metrics(val_y, pred, val_t)}
    print(f"seed {seed} all {len(y)} labels: {time.perf_counter() - start:.0f} s", flush=True)
    return out


def _late(runs: dict, names: list[str], value) -> float | None:
    """Mean of ``value(point)`` over seeds, ``names`` and the rounds with >= FROM_LABELS."""
    values = [
        value(point)
        for by_name in runs.values()
        for name in names
        for point in by_name[name]["curve"]
        if point["n_labels"] >= FROM_LABELS
    ]
    values = [v for v in values if v is not None]
    return round(statistics.mean(values), 4) if values else None


def _peak_error(temp: str):
    def error(point: dict) -> float | None:
        got, ref = point.get(f"peak_{temp}_surrogate_G0"), point.get(f"peak_{temp}_reference_G0")
        return None if got is None or ref is None else abs(got - ref)

    return error


def main() -> int:
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=len(SEEDS)) as pool:
        runs = dict(zip(SEEDS, pool.map(run_seed, SEEDS), strict=True))
    names = [_name(*v) for v in VARIANTS]

    def r2(point):
        return point["r2"]

    late = {name: _late(runs, [name], r2) for name in names}
    # retraining: compared on the variants that exist in both modes (random, candidates 4)
    paired = {
        mode: _late(runs, [f"random-{mode}", f"uncertainty-{mode}-c4"], r2)
        for mode in ("warm", "fresh")
    }
    mode = max(paired, key=paired.get)
    uncertain = [n for n in names if n.startswith(f"uncertainty-{mode}")]
    best = max(uncertain, key=late.get)
    variant = dict(zip(names, VARIANTS, strict=True))[best]
    n_labels = [p["n_labels"] for p in runs[SEEDS[0]][names[0]]["curve"]]
    data = {
        "pool": POOL,
        "validation": VALIDATION,
        "settings": {
            "model": {**PARAMS, "hidden_layer_sizes": list(PARAMS["hidden_layer_sizes"])},
            "initial": INITIAL,
            "batch": BATCH,
            "budget": BUDGET,
            "scan": SCAN,
            "seeds": list(SEEDS),
            "from_labels": FROM_LABELS,
        },
        "n_labels": n_labels,
        "validation_r2": {
            name: {str(s): [p["r2"] for p in runs[s][name]["curve"]] for s in SEEDS}
            for name in names
        },
        "validation_r2_mean": {
            name: [
                round(statistics.mean(runs[s][name]["curve"][i]["r2"] for s in SEEDS), 4)
                for i in range(len(n_labels))
            ]
            for name in names
        },
        "late_mean_r2": late,
        "late_mean_r2_0_3G0": {
            name: _late(runs, [name], lambda p: p["r2_0_3G0"]) for name in names
        },
        "late_mean_peak_error_4K_G0": {
            name: _late(runs, [name], _peak_error("4K")) for name in names
        },
        "late_mean_peak_error_300K_G0": {
            name: _late(runs, [name], _peak_error("300K")) for name in names
        },
        "final_label_share": {
            name: {str(s): runs[s][name]["labels"] for s in SEEDS} for name in names
        },
        "pool_label_share": runs[SEEDS[0]]["_pool"],
        "all_labels_validation": {str(s): runs[s]["_all_labels"] for s in SEEDS},
        "all_labels_r2_mean": round(
            statistics.mean(runs[s]["_all_labels"]["r2"] for s in SEEDS), 4
        ),
        "late_mean_r2_by_mode_paired": paired,
        "chosen_warm_start": mode == "warm",
        "chosen_candidates": variant[2],
        "chosen_strata": variant[3],
        "chosen_spread": variant[4],
        "chosen_variant": best,
        "random_same_mode": late[f"random-{mode}"],
        "wall_s": round(time.perf_counter() - start, 1),
    }
    rows = [
        (
            name,
            f"R² {late[name]}, 0-3 G0 {data['late_mean_r2_0_3G0'][name]}, "
            f"|peak-ref| 4 K {data['late_mean_peak_error_4K_G0'][name]}",
        )
        for name in names
    ]
    rows += [
        (
            f"all {runs[SEEDS[0]]['_all_labels']['n_labels']} pool labels",
            f"R² {data['all_labels_r2_mean']}",
        ),
        ("retraining chosen", "warm start" if mode == "warm" else "afresh"),
        ("candidates, strata, spread chosen", ", ".join(map(str, variant[2:]))),
        ("wall time", f"{data['wall_s']} s"),
    ]
    write_result("active_learning_settings", data, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
