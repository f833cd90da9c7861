"""The virtual break-junction experiment at the spd level, and active learning on its junction.

Run from the repository root (MD, spd labels and loop rounds resume; about an hour on 2
cores the first time)::

    python benchmarks/virtual_experiment_spd.py  # -> results/virtual_experiment_spd.json + .png

Protocol
--------
* Experiment (``examples/au-spd-virtual-experiment.yaml``): 200 EMT break-junction traces
  (4 K and 300 K) of a junction larger than any training cell (a 2x2-cell Au [001] neck
  between 3x3-cell electrodes, 280 atoms). The shipped ``spd-headline`` surrogate (trained on
  112-160-atom cells, never on these junctions) labels every snapshot; the spd reference
  (extended Hückel, ``au-tail``) labels a random sample of ``SAMPLE`` of them (seed 0).
  Reported: histogram peaks of the surrogate's point predictions, of its predictive draws
  (the shipped model's held-out residuals, 20 draws per snapshot, seed 0: the settings chosen
  on validation traces by ``benchmarks/predictive_histogram.py``), and of the spd sample, all
  snapshots and per temperature; R² and MAE on the sample, all and 0-3 G0.
* Active learning on this junction (``examples/au-spd-learn-280.yaml``): the shipped model's
  spd training stores are in every round's fit (``train``) and never chosen; the pool is 60
  other traces of the same junction (``examples/au-spd-learn-280-md.yaml``, other seeds);
  the validation set is the experiment's spd sample (other traces; never chosen, and nothing
  is chosen on it: fixed budget, no stopping rule). ``uncertainty`` (the batch of largest
  ensemble spread) against ``random``, the same seed, the same first random batch, ``BATCH``
  labels per round up to ``BUDGET``; the loop's estimator is the small one of
  ``benchmarks/active_learning.py`` (4 members, 16 hidden units, 60 iterations) with the
  ``spd-headline`` descriptors. ``train_only``: the same estimator fitted on the train stores
  alone (no 280-atom label).
* Seeds ``SEEDS`` (each: its own first random batch and initial weights, for both
  strategies). Labels to target: the number of labels at which a learning curve (R² on the
  spd sample, linear interpolation between rounds) first reaches the highest R² that the mean
  curves of both strategies reach, for the mean curves and per seed (and per seed against the
  highest R² both of that seed's curves reach); the curves, mean and
  min-max band, in ``results/virtual_experiment_spd_curves.png``.
* Histograms of those models on every snapshot of the experiment's 200 traces (point
  predictions) against the spd sample.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, labels_to, labels_to_target, spread, write_result  # noqa: I001

import numpy as np

from vlab import catalog
from vlab.campaign import load_spec, run_campaigns
from vlab.conductance import ConductanceSurrogate, histogram_peak
from vlab.conductance.descriptors import compute_descriptors
from vlab.conductance.histogram import plot_histogram_comparison
from vlab.workflows.conductance import labelled_structures, peak_or_none
from vlab.workflows.experiment import load_experiment, run_experiment
from vlab.workflows.learning import load_learning, run_learning, validation_metrics

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXPERIMENT = EXAMPLES / "au-spd-virtual-experiment.yaml"
LOOP = EXAMPLES / "au-spd-learn-280.yaml"
POOL_MD = EXAMPLES / "au-spd-learn-280-md.yaml"
WORKERS = 2
SAMPLE = 600
BATCH, BUDGET = 50, 300
SEEDS = (0, 1, 2)
STRATEGIES = ("uncertainty", "random")
CURVES_FIGURE = RESULTS / "virtual_experiment_spd_curves.png"
CHUNK = 8  # MD traces per prediction chunk (bounded memory)


def _peaks(prefix: str, g: np.ndarray, temperature: np.ndarray) -> dict:
    out = {f"peak_{prefix}_G0": peak_or_none(g, histogram_peak)}
    for temp in np.unique(temperature):
        out[f"peak_{temp:g}K_{prefix}_G0"] = peak_or_none(g[temperature == temp], histogram_peak)
    return out


def experiment() -> dict:
    start = time.perf_counter()
    summary = run_experiment(EXPERIMENT, workers=WORKERS, progress=True)
    return summary | {"wall_s_this_run": round(time.perf_counter() - start, 1)}


def _loop_spec(spec, strategy: str, seed: int):
    """The loop of ``strategy`` and ``seed``: the spec's own one keeps its name and folder."""
    suffix = ("" if strategy == spec.strategy else f"-{strategy}") + (
        "" if seed == spec.seed else f"-seed{seed}"
    )
    if not suffix:
        return spec
    return dataclasses.replace(
        spec, name=spec.name + suffix, strategy=strategy, seed=seed,
        out=spec.out.with_name(spec.out.name + suffix),
    )  # fmt: skip


def loops() -> dict:
    spec = load_learning(LOOP)
    assert spec.budget == BUDGET and spec.batch == BATCH and spec.seed == SEEDS[0]
    run_campaigns([load_spec(POOL_MD)], workers=WORKERS)
    cache: dict = {}
    out = {}
    for seed in SEEDS:
        for strategy in STRATEGIES:
            start = time.perf_counter()
            summary = run_learning(_loop_spec(spec, strategy, seed), workers=WORKERS, cache=cache)
            summary["wall_s_this_run"] = round(time.perf_counter() - start, 1)
            out[(strategy, seed)] = summary
    return out


def learning_curves(loop: dict) -> dict:
    """Labels to the highest validation R² both mean curves reach, per seed and of the means."""
    n = np.array(loop[(STRATEGIES[0], SEEDS[0])]["n_labels"], float)
    r2 = {key: np.array(summary["r2"], float) for key, summary in loop.items()}
    own = []  # each seed against the highest R² both of its own curves reach
    for seed in SEEDS:
        best = min(r2[(s, seed)].max() for s in STRATEGIES)
        a, r = (labels_to(best, n, r2[(s, seed)]) for s in STRATEGIES)
        own.append({"target_r2": round(float(best), 4), "active": a, "random": r,
                    "ratio": round(a / r, 3)})  # fmt: skip
    return {
        "seeds": list(SEEDS),
        **labels_to_target(n, r2, SEEDS),
        "labels_to_own_target_per_seed": own,
        "labels_to_own_target_ratio": spread([o["ratio"] for o in own]),
        "final_r2": {s: spread([float(r2[(s, seed)][-1]) for seed in SEEDS]) for s in STRATEGIES},
        "final_r2_0_3G0": {
            s: spread([loop[(s, seed)]["final"]["r2_0_3G0"] for seed in SEEDS]) for s in STRATEGIES
        },
        "curves": {
            "n_labels": n.astype(int).tolist(),
            **{
                f"{s}_{key}": {str(seed): loop[(s, seed)][key] for seed in SEEDS}
                for s in STRATEGIES
                for key in ("r2", "mae_G0")
            },
        },
        "figure": str(CURVES_FIGURE.relative_to(ROOT)),
    }


def plot_curves(loop: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    n = loop[(STRATEGIES[0], SEEDS[0])]["n_labels"]
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    for j, (key, label) in enumerate((("r2", "R²"), ("mae_G0", "MAE (G0)"))):
        ax = fig.add_subplot(1, 2, j + 1)
        for strategy in STRATEGIES:
            values = np.array([loop[(strategy, seed)][key] for seed in SEEDS], float)
            ax.plot(n, values.mean(axis=0), "o-", label=f"{strategy} (mean of {len(SEEDS)} seeds)")
            ax.fill_between(n, values.min(axis=0), values.max(axis=0), alpha=0.2)
        ax.set(xlabel="spd labels of 280-atom junctions", ylabel=f"{label} on the spd sample")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(loc="lower right")
    fig.suptitle("280-atom junctions: labels chosen by ensemble spread vs at random")
    fig.savefig(path, dpi=120)


def train_only() -> ConductanceSurrogate:
    """The loop's estimator fitted on the train stores alone (no 280-atom label)."""
    spec = load_learning(LOOP)
    path = spec.out.with_name(f"{spec.out.name}-train-only.npz")
    if path.is_file():
        return ConductanceSurrogate.load(path)
    structures, y = [], []
    for name in spec.train:
        s, g, _, _ = labelled_structures(name)
        structures += s
        y.append(g)
    params = {"random_state": spec.seed, **spec.model["params"]}
    model = ConductanceSurrogate.from_preset(spec.model["preset"], **params)
    model.fit(structures, np.concatenate(y))
    model.save(path)
    return model


def predict_every_snapshot(models: dict, md_store: Path) -> dict:
    """Point predictions of each model on every snapshot of the MD store (descriptors once)."""
    from vlab.campaign.kinds.conductance import snapshot_items

    settings = {m.descriptor_settings_ for m in models.values()}
    assert len(settings) == 1, "the models must share descriptor settings"
    settings = settings.pop()
    ds = catalog.select(catalog.open_store(md_store), status="done")
    preds = {name: [] for name in models}
    temps = []
    for t in range(0, ds.sizes["item"], CHUNK):
        items = snapshot_items(ds.isel(item=slice(t, t + CHUNK)))
        desc = compute_descriptors([it["structure"] for it in items], settings)
        temps += [it["temperature"] for it in items]
        for name, model in models.items():
            preds[name].append(model.predict(desc))
    return {"temperature": np.array(temps)} | {k: np.concatenate(v) for k, v in preds.items()}


def main() -> dict:
    exp = experiment()
    spec = load_experiment(EXPERIMENT)
    loop = loops()
    sample_store = spec.reference.store
    ref = catalog.select(catalog.open_store(sample_store), status="done").load()
    y_ref, t_ref = ref["conductance"].values, ref["temperature"].values
    sur = catalog.select(catalog.open_store(spec.surrogate.store), status="done").load()
    y_sur, t_sur = sur["conductance"].values, sur["temperature"].values

    models = {"train_only": train_only()}
    for (strategy, seed), summary in loop.items():
        models[_final(strategy, seed)] = ConductanceSurrogate.load(summary["model"])
    every = predict_every_snapshot(models, spec.md.store)

    result = {
        "experiment": {
            k: exp[k]
            for k in exp
            if k.startswith("histogram_peak")
            or k in ("common_snapshots", "snapshots_surrogate", "snapshots_reference", "traces")
        }
        | {"atoms": exp["atoms_per_structure"], "campaigns": exp["campaigns"]},
        "sample_size": int(y_ref.size),
        "atoms": exp["atoms_per_structure"],
        "snapshots": int(y_sur.size),
        "reference_sample": _peaks("reference", y_ref, t_ref),
        "shipped": _peaks("surrogate", y_sur, t_sur)
        | _peaks("predictive", _draws(y_sur), np.repeat(t_sur, 20)),
    }
    # the shipped model on the sample (its own campaign's predictions of those snapshots)
    key_sur = sur["trace"].values.astype(np.int64) * 1_000_000 + sur["snapshot"].values
    key_ref = ref["trace"].values.astype(np.int64) * 1_000_000 + ref["snapshot"].values
    _, i_sur, i_ref = np.intersect1d(key_sur, key_ref, return_indices=True)
    result["shipped"] |= {"on_sample": validation_metrics(y_ref[i_ref], y_sur[i_sur], t_ref[i_ref])}
    for name in models:
        result[name] = _peaks("surrogate", every[name], every["temperature"])
    for (strategy, seed), summary in loop.items():
        result[_final(strategy, seed)] |= {"on_sample": summary["final"]}
        if seed == SEEDS[0]:
            result[f"loop_{strategy}"] = {
                k: summary[k] for k in ("n_labels", "r2", "mae_G0", "stopped", "wall_s_this_run")
            } | {
                "peak_surrogate_G0": [
                    r["validation"]["peak_surrogate_G0"] for r in _records(summary)
                ]
            }
    plot_curves(loop, CURVES_FIGURE)
    result["learning"] = learning_curves(loop)
    for strategy in STRATEGIES:
        for key in ("peak_surrogate_G0", "peak_4K_surrogate_G0", "peak_300K_surrogate_G0"):
            result["learning"][f"final_{strategy}_{key}"] = spread(
                [result[_final(strategy, seed)][key] for seed in SEEDS]
            )
    result["train_only"]["on_sample"] = _validation_of(models["train_only"], sample_store)

    samples = {
        f"shipped surrogate, {y_sur.size:,} snapshots": y_sur,
        "shipped surrogate + held-out residuals (20 draws each)": _draws(y_sur),
        f"loop's final model ({BUDGET} labels chosen by spread), every snapshot": every[
            "uncertainty_final"
        ],
        f"spd reference, random sample of {y_ref.size}": y_ref,
    }
    figure = plot_histogram_comparison(
        samples, RESULTS / "virtual_experiment_spd.png",
        title="spd-level virtual experiment: 200 traces of 280-atom Au junctions",
    )  # fmt: skip
    result["figure"] = str(figure.relative_to(ROOT))
    rows = _rows(result)
    write_result("virtual_experiment_spd", result, rows)
    return result


def _final(strategy: str, seed: int) -> str:
    return f"{strategy}_final" + ("" if seed == SEEDS[0] else f"_seed{seed}")


def _draws(g: np.ndarray) -> np.ndarray:
    from vlab.conductance import load_shipped_residuals

    return load_shipped_residuals().sample(g, draws=20, rng=0)


def _records(summary: dict) -> list[dict]:
    import json

    out = Path(summary["model"]).parent
    return [json.loads(p.read_text()) for p in sorted(out.glob("round-???.json"))]


def _validation_of(model, store) -> dict:
    structures, y, _, _ = labelled_structures(store)
    t = catalog.open_store(store)
    t = catalog.select(t, status="done")["temperature"].values
    return validation_metrics(y, model.predict(structures), t)


def _rows(r: dict) -> list[tuple[str, str]]:
    def peaks(block: dict, key: str) -> str:
        return " / ".join(str(block.get(f"peak_{t}{key}_G0")) for t in ("", "4K_", "300K_"))

    rows = [
        ("snapshots (atoms)", f"{r['snapshots']:,} ({r['atoms']}); spd sample {r['sample_size']}"),
        ("peak spd sample (all / 4 K / 300 K)", peaks(r["reference_sample"], "reference")),
        ("peak shipped, point", peaks(r["shipped"], "surrogate")),
        ("peak shipped, predictive", peaks(r["shipped"], "predictive")),
        ("shipped on sample R² / MAE", f"{r['shipped']['on_sample']['r2']} / "
                                       f"{r['shipped']['on_sample']['mae_G0']} G0"),
    ]  # fmt: skip
    for name in ("train_only", "uncertainty_final", "random_final"):
        v = r[name]["on_sample"]
        rows.append((f"{name}: R² / MAE, peak", f"{v['r2']} / {v['mae_G0']} G0, "
                                                f"{peaks(r[name], 'surrogate')}"))  # fmt: skip
    learn = r["learning"]
    per_seed = learn["labels_to_target_per_seed"]
    rows += [
        ("seeds; target R² (both mean curves)", f"{learn['seeds']}; {learn['target_r2_used']}"),
        ("labels to target: active / random", f"{learn['labels_to_target_active']} / "
         f"{learn['labels_to_target_random']} (ratio {learn['labels_to_target_ratio']})"),
        ("ratio per seed", str(per_seed["ratio"]["per_seed"])),
        ("ratio per seed, own target", str(learn["labels_to_own_target_ratio"]["per_seed"])),
        ("final R² active / random (mean)", f"{learn['final_r2']['uncertainty']['mean']} / "
                                            f"{learn['final_r2']['random']['mean']}"),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
