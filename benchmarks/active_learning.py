"""Active against random labelling of the conductance surrogate, same pool, same batches.

Run from the repository root (the spd labels come from the catalog entries committed under
``catalogs/data/``; about 40 min on 2 cores, 15 min with ``--fast``)::

    python benchmarks/active_learning.py   # -> benchmarks/results/active_learning.json + .png
    python benchmarks/active_learning.py --fast   # -> results/active_learning_fast_blind.json

Protocol
--------
* Pool: every snapshot of ``POOL`` (160-atom Au [001] 2x2 wire break junctions with spd labels:
  ``au-spd-2x2-train``, ``au-spd-2x2``, ``au-spd-2x2-extra``; 4,724 snapshots). The loop sees
  only their structures; a label enters the training set only when a ``conductance-reference``
  campaign (spd, ``au-tail``, 2 Dask workers) labels the chosen snapshot. The engine finds the
  same calculation done in the catalog store and copies its label, so no spd calculation runs;
  the label stage therefore times the campaign, not the spd reference.
* Validation (logged by the loop every round, never selected): ``au-spd-2x2-more``, traces
  48-95. Blind: ``au-spd-2x2-test``, traces 96-119 (684 snapshots), which the loop never
  sees; every round's saved model is scored on it once, after all loops ended.
* Strategies: ``uncertainty`` (farthest-point sampling among the ``CANDIDATES`` x batch
  snapshots of largest ensemble spread, out of ``SCAN`` unlabelled snapshots drawn at random
  each round; with ``CANDIDATES`` 1 simply the batch of largest spread) and ``random``; both
  start from the same random ``INITIAL`` snapshots of a seed, add ``BATCH`` per round up to
  ``BUDGET``, with the same estimator (``MODEL``) fitted afresh on all labels every round.
  ``SEEDS`` seeds each. Retraining (afresh or warm) and ``CANDIDATES`` were chosen on the
  validation traces by ``benchmarks/active_learning_settings.py`` (which never reads the
  blind traces); nothing was tuned on the blind traces.
* Labels to target: the first number of labels whose blind R² (mean over seeds, linear
  interpolation between rounds) reaches ``TARGET_R2``, or, when one strategy never reaches it,
  the highest R² both mean curves reach (stated as ``target_r2_used``); per seed too.
* Final models (``BUDGET`` labels): blind R² and MAE on all snapshots and on 0-3 G0 of the
  reference, and the histogram peaks of surrogate (both strategies, median over seeds) and
  reference per temperature.
* Predictive peaks of the final models: draws around each blind prediction from the final
  model's residuals on the validation traces (``ConditionalResiduals``, 0.1 G0 bins of >= 30
  residuals, 20 draws, seed 0: the settings ``benchmarks/predictive_histogram.py`` chose),
  ``peak_{300K_,4K_,}predictive{,_random}_G0`` (median over seeds).
* Round time: median over the active rounds after round 0 of predict / select / label /
  retrain (the label campaign runs on a 2-worker LocalCluster).
* ``--fast``: the same protocol with the fast tree model (``FAST``: ``BottleneckSurrogate``
  with the shipped model's absolute loss and ``min_samples_leaf`` 10 for the small early
  training sets), whose learning curve reaches R² 0.95 on the validation traces, and the batch
  rule with the fewest labels to that R² on the validation traces in
  ``benchmarks/active_learning_fast.py`` (farthest points among 4 x the batch of largest
  spread, every unlabelled snapshot scored); written to ``active_learning_fast_blind.json``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, labels_to_target, spread, write_result  # noqa: I001 (BLAS first)

import os

import numpy as np

POOL = ["au-spd-2x2-train", "au-spd-2x2", "au-spd-2x2-extra"]
VALIDATION = ["au-spd-2x2-more"]
BLIND = "au-spd-2x2-test"
MODEL = {
    "params": {"n_estimators": 4, "hidden_layer_sizes": [16], "max_iter": 60, "warm_start": False}
}
INITIAL = 50
BATCH = 50
BUDGET = 800
CANDIDATES = 1
SCAN = 1500  # unlabelled snapshots the ensemble scores per round (a random subset of the pool)
SEEDS = (0, 1, 2)
TARGET_R2 = 0.95
STRATEGIES = ("uncertainty", "random")
SETUP = {"name": "active_learning", "model": MODEL, "candidates": CANDIDATES, "scan": SCAN}
FAST = {
    "name": "active_learning_fast_blind",
    "model": {"estimator": "bottleneck", "params": {"loss": "absolute", "min_samples_leaf": 10}},
    "candidates": 4,
    "scan": None,  # every unlabelled snapshot (the fast model predicts them in ~2 s)
}
# predictive histogram of the final models: the settings benchmarks/predictive_histogram.py
# chose on the validation traces of the headline model, residuals from VALIDATION
RESIDUALS = {"bin_width": 0.1, "min_count": 30}
DRAWS = 20


def run_loops(work: Path, setup: dict) -> dict:
    """Run every (strategy, seed) loop; return their summaries and round records."""
    from vlab.workflows.learning import parse_learning, run_learning

    cache: dict = {}
    runs = {}
    for seed in SEEDS:
        for strategy in STRATEGIES:
            spec = parse_learning(
                {
                    "name": f"al-{strategy}-{seed}",
                    "pool": POOL,
                    "validation": VALIDATION,
                    "reference": {"fidelity": "spd"},
                    "model": setup["model"],
                    "strategy": strategy,
                    "initial": INITIAL,
                    "batch": BATCH,
                    "budget": BUDGET,
                    "candidates": setup["candidates"],
                    "scan": setup["scan"],
                    "seed": seed,
                    "out": str(work / f"{strategy}-{seed}"),
                },
                source="benchmark",
            )
            start = time.perf_counter()
            summary = run_learning(spec, workers=2, cache=cache)
            summary["wall_s"] = round(time.perf_counter() - start, 1)
            runs[(strategy, seed)] = summary
    return runs


def blind_curves(work: Path, runs: dict) -> dict:
    """Blind R², MAE (and final-model details) of every round's model of every loop."""
    from vlab.conductance import load_model_file
    from vlab.workflows.conductance import labelled_structures, labelled_temperatures
    from vlab.workflows.learning import describe, validation_metrics

    structures, y, _, _ = labelled_structures(BLIND)
    temps = labelled_temperatures(BLIND)
    model0 = load_model_file(runs[(STRATEGIES[0], SEEDS[0])]["model"])
    val_structures, val_y, _, _ = labelled_structures(VALIDATION[0])
    descs, val_descs = describe(structures, model0), describe(val_structures, model0)
    out = {}
    for (strategy, seed), summary in runs.items():
        folder = work / f"{strategy}-{seed}"
        metrics = []
        for k in range(summary["rounds"]):
            model = load_model_file(folder / f"round-{k:03d}.npz")
            pred = model.predict(descs)
            metrics.append(validation_metrics(y, pred, temps))
        metrics[-1].update(predictive_peaks(model.predict(val_descs), val_y, pred, temps))
        out[(strategy, seed)] = metrics
    return out


def predictive_peaks(val_pred, val_y, pred, temps) -> dict:
    """Histogram peaks of draws around the blind predictions ``pred`` from the model's
    residuals on the validation traces (all, and per temperature)."""
    from vlab.conductance import ConditionalResiduals, histogram_peak

    residuals = ConditionalResiduals(val_pred, val_y, **RESIDUALS)
    draws = residuals.sample(pred, draws=DRAWS, rng=0).reshape(len(pred), DRAWS)
    out = {"peak_predictive_G0": round(histogram_peak(draws.ravel()), 3)}
    for t in np.unique(temps):
        rows = temps == t
        out[f"peak_{t:g}K_predictive_G0"] = round(histogram_peak(draws[rows].ravel()), 3)
    return out


def plot(n: np.ndarray, curves: dict, path: Path, setup: dict) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8), layout="constrained")
    for j, (key, label) in enumerate((("r2", "blind R²"), ("mae_G0", "blind MAE (G0)"))):
        ax = fig.add_subplot(1, 2, j + 1)
        for strategy in STRATEGIES:
            values = np.array([[m[key] for m in curves[(strategy, s)]] for s in SEEDS])
            mean = values.mean(axis=0)
            ax.plot(n, mean, "o-", label=f"{strategy} (mean of {len(SEEDS)} seeds)")
            ax.fill_between(n, values.min(axis=0), values.max(axis=0), alpha=0.2)
        ax.set(xlabel="reference (spd) labels", ylabel=label)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(loc="lower right")
    model = setup["model"].get("estimator", "networks")
    fig.suptitle(
        f"Active (ensemble spread, candidates {setup['candidates']} x batch) vs random "
        f"labelling, {model}, blind traces"
    )
    fig.savefig(path, dpi=120)


def summarise(runs: dict, curves: dict, setup: dict) -> dict:
    n = np.array(runs[(STRATEGIES[0], SEEDS[0])]["n_labels"], float)
    r2 = {key: np.array([m["r2"] for m in curve]) for key, curve in curves.items()}
    reach = labels_to_target(n, r2, SEEDS, goal=TARGET_R2)
    data = {
        "pool": POOL,
        "pool_snapshots": None,
        "validation": VALIDATION,
        "blind": BLIND,
        "settings": {
            "model": setup["model"],
            "initial": INITIAL,
            "batch": BATCH,
            "budget": BUDGET,
            "candidates": setup["candidates"],
            "scan": setup["scan"],
            "seeds": list(SEEDS),
        },
        "target_r2": TARGET_R2,
        **reach,
        "learning_curves": {
            "n_labels": n.astype(int).tolist(),
            **{
                f"{s}_{key}_blind": {
                    str(seed): [m[key] for m in curves[(s, seed)]] for seed in SEEDS
                }
                for s in STRATEGIES
                for key in ("r2", "mae_G0", "r2_0_3G0", "mae_0_3G0")
            },
            **{
                f"{s}_r2_validation": {str(seed): runs[(s, seed)]["r2"] for seed in SEEDS}
                for s in STRATEGIES
            },
        },
        "figure": f"benchmarks/results/{setup['name']}.png",
    }
    data.update(final_models(curves))
    data.update(round_times(runs))
    return data


def final_models(curves: dict) -> dict:
    """Blind scores and histogram peaks of the final models (median over seeds)."""
    out = {}
    for s, tag in (("uncertainty", "active"), ("random", "random")):
        finals = [curves[(s, seed)][-1] for seed in SEEDS]
        for key in ("r2", "mae_G0", "r2_0_3G0", "mae_0_3G0"):
            out[f"final_{tag}_{key}_blind"] = spread([f[key] for f in finals])
    for s, suffix in (("uncertainty", ""), ("random", "_random")):
        finals = [curves[(s, seed)][-1] for seed in SEEDS]
        for temp in ("300K", "4K"):
            values = [f.get(f"peak_{temp}_surrogate_G0") for f in finals]
            ok = [v for v in values if v is not None]
            key = f"peak_{temp}_surrogate{suffix}_G0"
            out[key] = round(statistics.median(ok), 3) if ok else None
            out[f"{key}_per_seed"] = values
            out[f"peak_{temp}_reference_G0"] = finals[0].get(f"peak_{temp}_reference_G0")
        out[f"peak_surrogate{suffix}_G0"] = statistics.median(
            f["peak_surrogate_G0"] for f in finals
        )
        for temp in ("", "300K_", "4K_"):
            values = [f[f"peak_{temp}predictive_G0"] for f in finals]
            out[f"peak_{temp}predictive{suffix}_G0"] = round(statistics.median(values), 3)
            out[f"peak_{temp}predictive{suffix}_G0_per_seed"] = values
        out["peak_reference_G0"] = finals[0]["peak_reference_G0"]
    return out


def round_times(runs: dict) -> dict:
    stages = ("predict_s", "select_s", "label_s", "retrain_s")
    rounds = [t for seed in SEEDS for t in runs[("uncertainty", seed)]["timings_s"][1:]]
    out = {f"round_{k}": round(statistics.median(t[k] for t in rounds), 3) for k in stages}
    out["round_total_s"] = round(sum(out[f"round_{k}"] for k in stages), 3)
    out["round_workers"] = 2
    out["loop_wall_s"] = {f"{s}-{seed}": runs[(s, seed)]["wall_s"] for s, seed in runs}
    return out


def main() -> int:
    setup = FAST if "--fast" in sys.argv[1:] else SETUP
    os.environ.setdefault("VLAB_CAMPAIGN__PERFORMANCE_REPORT", "false")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vlab-al-") as tmp:
        work = Path(tmp)
        os.environ["VLAB_CATALOG__INDEX_DIR"] = str(work / "catalog")  # round stores stay here
        runs = run_loops(work, setup)
        curves = blind_curves(work, runs)
        computed = sum(r["computed"] for summary in runs.values() for r in _records(work, summary))
        data = summarise(runs, curves, setup)
        data["labels_computed"] = computed
        data["pool_snapshots"] = _records_pool(work)
    data["wall_s"] = round(time.perf_counter() - start, 1)
    n = data["learning_curves"]["n_labels"]
    plot(np.array(n), curves, RESULTS / f"{setup['name']}.png", setup)
    rows = [
        ("target R² (used)", f"{data['target_r2_used']} (goal {TARGET_R2})"),
        (
            "labels to target: active / random",
            f"{data['labels_to_target_active']} / "
            f"{data['labels_to_target_random']} (ratio {data['labels_to_target_ratio']})",
        ),
        ("ratio per seed", str(data["labels_to_target_per_seed"]["ratio"]["per_seed"])),
        (
            "final blind R² active / random",
            f"{data['final_active_r2_blind']['mean']} / {data['final_random_r2_blind']['mean']}",
        ),
        (
            "final blind R² 0-3 G0 active / random",
            f"{data['final_active_r2_0_3G0_blind']['mean']}"
            f" / {data['final_random_r2_0_3G0_blind']['mean']}",
        ),
        (
            "peak 300 K surrogate active / random / reference",
            f"{data['peak_300K_surrogate_G0']} / {data['peak_300K_surrogate_random_G0']} / "
            f"{data['peak_300K_reference_G0']} G0",
        ),
        (
            "peak 4 K surrogate active / random / reference",
            f"{data['peak_4K_surrogate_G0']} / {data['peak_4K_surrogate_random_G0']} / "
            f"{data['peak_4K_reference_G0']} G0",
        ),
        (
            "predictive peak 300 K / 4 K, active",
            f"{data['peak_300K_predictive_G0']} / {data['peak_4K_predictive_G0']} G0",
        ),
        (
            "predictive peak 300 K / 4 K, random",
            f"{data['peak_300K_predictive_random_G0']} / {data['peak_4K_predictive_random_G0']} G0",
        ),
        (
            "round on 2 workers (predict/select/label/retrain)",
            f"{data['round_predict_s']} / {data['round_select_s']} / {data['round_label_s']} / "
            f"{data['round_retrain_s']} s",
        ),
        ("spd labels computed (the rest copied)", str(computed)),
        ("wall time", f"{data['wall_s']} s"),
    ]
    write_result(setup["name"], data, rows)
    return 0


def _records(work: Path, summary: dict) -> list[dict]:
    import json

    folder = Path(summary["model"]).parent
    return [
        json.loads((folder / f"round-{k:03d}.json").read_text()) for k in range(summary["rounds"])
    ]


def _records_pool(work: Path) -> int:
    from vlab import catalog

    return int(sum(catalog.open(name).sizes["item"] for name in POOL))


if __name__ == "__main__":
    sys.exit(main())
