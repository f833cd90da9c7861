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
* Histograms of those models on every snapshot of the experiment's 200 traces (point
  predictions) against the spd sample.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result  # noqa: I001  (pins BLAS threads first)

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


def loops() -> dict:
    spec = load_learning(LOOP)
    assert spec.budget == BUDGET and spec.batch == BATCH
    run_campaigns([load_spec(POOL_MD)], workers=WORKERS)
    cache: dict = {}
    out = {}
    for strategy in ("uncertainty", "random"):
        s = spec if strategy == spec.strategy else dataclasses.replace(
            spec, name=f"{spec.name}-{strategy}", strategy=strategy,
            out=spec.out.with_name(f"{spec.out.name}-{strategy}"),
        )  # fmt: skip
        start = time.perf_counter()
        out[strategy] = run_learning(s, workers=WORKERS, cache=cache)
        out[strategy]["wall_s_this_run"] = round(time.perf_counter() - start, 1)
    return out


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
    for strategy, summary in loop.items():
        models[f"{strategy}_final"] = ConductanceSurrogate.load(summary["model"])
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
    for strategy, summary in loop.items():
        result[f"{strategy}_final"] |= {"on_sample": summary["final"]}
        result[f"loop_{strategy}"] = {
            k: summary[k] for k in ("n_labels", "r2", "mae_G0", "stopped", "wall_s_this_run")
        } | {"peak_surrogate_G0": [r["validation"]["peak_surrogate_G0"] for r in _records(summary)]}
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
    return rows


if __name__ == "__main__":
    main()
