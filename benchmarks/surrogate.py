"""Benchmark of the local-descriptor conductance surrogate: accuracy across sizes, and speed.

Run from the repository root after the example campaigns (au-small-md, au-spd-small,
au-breakjunction, au-sband-subset, au-spd-large, au-sband-large)::

    python benchmarks/surrogate.py          # writes benchmarks/results/surrogate.json (~45 min)
    python benchmarks/surrogate.py --skip-spd    # without the headline keys (~5 min)
    python benchmarks/surrogate.py --histogram   # only the virtual-experiment keys (below)

A full run ends with ``benchmarks/surrogate_spd.py`` (also runnable alone), which writes the
headline keys (``r2_same_size``, ``r2_larger_a``, ``r2_larger_b``,
``speedup_at_training_size``, ``speedup_at_150_atoms``, ``surrogate_scaling_exponent``) for
the headline model against the spd reference.

Protocol
--------
* Training cells: the 309 snapshots of 48-atom Au [001] 1x1 wires (24 traces, 4 K and
  300 K) of ``au-spd-small`` with their extended-Hückel (spd) labels, and the same structures
  with s-band labels (computed here; identical to ``au-sband-small``).
* Same size: 4-fold cross-validation grouped by *trace* (no trace is split between training
  and test); R² and MAE of the out-of-fold predictions.
* Type a: a subset of the snapshots, embedded by :func:`vlab.conductance.embed_neck` between
  2x2-cell electrodes (120 atoms, 2.5x) and predicted by the fold model that never saw their
  trace, against s-band references (all) and spd references (``N_SPD_TYPE_A`` of them,
  computed here).
* Type b: wider wires: the 160-atom 2x2 wire snapshots of ``au-spd-large`` (spd and s-band
  labels) and ``au-sband-subset`` (s-band), predicted by the model trained on all 1x1 data.
* Global pooling baseline: the same SOAP vectors, mean+max pooled over the window atoms,
  fed to an ensemble of scikit-learn MLPs; evaluated on the same splits.
* Second scenario (s-band): train on half the snapshots of traces 0-17 of
  ``au-sband-subset`` (160-atom 2x2 wires); same size = traces 18-23; type a = every 3rd
  of those embedded between 4x4-cell electrodes (448 atoms, 2.8x); type b = fresh
  break-junction traces of 360-atom 3x3 wires (made here with asap3, s-band labels).
  Keys ``r2_*_2x2_sband``. The 1x1 cells of the first scenario contain surface atoms
  only, so the bulk-like atoms of wider electrodes or wires are outside the training
  distribution; the 2x2 cells contain them, and the model then transfers.
* Virtual experiment (``--histogram``, also part of a full run when its stores exist): the
  stores of ``vlab conductance experiment examples/au-virtual-experiment.yaml --workers 2``
  (200 break-junction traces of 280-atom junctions, every snapshot labelled by the surrogate
  trained on ``au-sband-subset`` and by the s-band reference) are read back, not recomputed;
  the histogram peaks (point predictions, predictive draws from the model's held-out
  residuals, reference; all snapshots and per temperature) and R² on the common snapshots are
  recomputed from them and merged (keys ``histogram_peak_{surrogate,predictive,reference}_G0``
  with ``_4K`` / ``_300K`` variants, ``virtual_experiment``) without touching the other keys.
* Timing of the 1x1 model: seconds per structure of the surrogate (descriptors + network,
  batches of ``N_TIMED`` structures) and of the references at 5 sizes in the same run (spd:
  extended Hückel, ``ExtendedHuckel()``, the calculator the campaigns use); kept under
  ``surrogate_1x1_spd``. The headline speed keys time the headline model (sharper SOAP) in
  ``benchmarks/surrogate_spd.py``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_result  # noqa: I001  (pins BLAS threads first)

import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vlab.catalog import decode_structures, open_store, select
from vlab.conductance import (
    BreakJunctionProtocol,
    ConductanceSurrogate,
    ExtendedHuckel,
    SBandTightBinding,
    build_wire,
    compute_descriptors,
    embed_neck,
    perturb,
    pool_global,
    run_trace,
)
from vlab.errors import InvalidStructureError

ROOT = Path(__file__).resolve().parent.parent / "vlab-results"
EXPERIMENT = Path(__file__).resolve().parent.parent / "examples" / "au-virtual-experiment.yaml"
EXPERIMENT_COMMAND = "vlab conductance experiment examples/au-virtual-experiment.yaml --workers 2"
MODEL = {"random_state": 0}
N_FOLDS = 4
N_TYPE_A = 96  # type-a structures with s-band references (every ~3rd snapshot)
N_SPD_TYPE_A = 32  # of which with spd references
N_SUBSET_B = 400  # au-sband-subset snapshots for type b (s-band)
N_TIMED = 10
MODEL_2X2 = {"n_estimators": 4, "max_iter": 150, "random_state": 0}
TEST_TRACES_2X2 = 18  # au-sband-subset traces 18-23 are held out
N_TRACES_3X3 = 4
SBAND, SPD = SBandTightBinding(), ExtendedHuckel()


def load(name: str):
    ds = select(open_store(ROOT / f"{name}.zarr"), status="done").load()
    return decode_structures(ds, prefix="structure_"), ds


def scores(y, p) -> dict:
    r2, mae = float(r2_score(y, p)), float(mean_absolute_error(y, p))
    return {"r2": round(r2, 4), "mae_G0": round(mae, 4), "n": len(y)}


def global_model(seed: int):
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), alpha=1e-2, max_iter=3000, random_state=seed)
    return make_pipeline(StandardScaler(), mlp)


def global_fit_predict(xtr, ytr, xte_list) -> list[np.ndarray]:
    models = [global_model(k).fit(xtr, ytr) for k in range(5)]
    return [np.mean([m.predict(x) for m in models], axis=0) for x in xte_list]


def cross_validate(descs, labels, groups, extra):
    """Out-of-fold predictions (surrogate and global pooling) for the training cells and
    for ``extra`` (descriptors of type-a structures, indexed like the training cells)."""
    folds = list(GroupKFold(n_splits=N_FOLDS).split(descs, groups=groups))
    pooled = pool_global(descs, mode="meanmax")
    out = {}
    for name, y in labels.items():
        oof, oof_glob = np.zeros(len(y)), np.zeros(len(y))
        extra_pred, extra_glob = {}, {}
        for train, test in folds:
            model = ConductanceSurrogate(**MODEL).fit([descs[i] for i in train], y[train])
            oof[test] = model.predict([descs[i] for i in test])
            rows = [i for i in test if i in extra["index"]]
            if rows:
                xa = [extra["descs"][extra["index"][i]] for i in rows]
                extra_pred.update(zip(rows, model.predict(xa)))
                pa = pool_global(xa, mode="meanmax")
                extra_glob.update(zip(rows, global_fit_predict(pooled[train], y[train], [pa])[0]))
            oof_glob[test] = global_fit_predict(pooled[train], y[train], [pooled[test]])[0]
            print(f"  {name}: fold done, R2 so far {r2_score(y[test], oof[test]):.3f}", flush=True)
        out[name] = {"oof": oof, "oof_global": oof_glob, "a": extra_pred, "a_global": extra_glob}
    return out


def type_a(structures):
    """Embed every ~3rd training snapshot between 2x2 electrodes; s-band (and some spd) refs."""
    picks = np.linspace(0, len(structures) - 1, N_TYPE_A).round().astype(int)
    embedded, index = [], {}
    for i in picks:
        try:
            big = embed_neck(structures[i], electrode_cross_section=(2, 2), electrode_layers=3)
            g = SBAND.conductance(big)
        except Exception as err:
            print(f"  type a: snapshot {i} skipped ({err})")
            continue
        index[int(i)] = len(embedded)
        embedded.append((big, g))
    spd_rows = list(index)[:: max(1, len(index) // N_SPD_TYPE_A)][:N_SPD_TYPE_A]
    start = time.perf_counter()
    spd = {i: SPD.conductance(embedded[index[i]][0]) for i in spd_rows}
    print(f"  type a: {len(embedded)} structures, {len(spd)} spd references "
          f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    descs = compute_descriptors([b for b, _ in embedded])
    sband = {i: embedded[k][1] for i, k in index.items()}
    return {"index": index, "descs": descs, "sband": sband, "spd": spd,
            "atoms": len(embedded[0][0])}  # fmt: skip


def evaluate_a(cv, refs, fidelity) -> tuple[dict, dict]:
    rows = sorted(refs[fidelity])
    y = np.array([refs[fidelity][i] for i in rows])
    pred = np.array([cv[fidelity]["a"][i] for i in rows])
    glob = np.array([cv[fidelity]["a_global"][i] for i in rows])
    return scores(y, pred), scores(y, glob)


def type_b(descs_small, labels):
    """Final models on all 1x1 data, predicting 2x2 wires (160 atoms)."""
    large, ds_large = load("au-spd-large")
    sb_large, ds_sb = load("au-sband-large")
    subset, ds_subset = load("au-sband-subset")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(subset), size=min(N_SUBSET_B, len(subset)), replace=False))
    subset = [subset[i] for i in pick]
    y_subset = ds_subset["conductance"].values[pick]
    d_large, d_subset = compute_descriptors(large), compute_descriptors(subset)
    sets = {
        "spd": [(d_large, ds_large["conductance"].values)],
        "sband": [(compute_descriptors(sb_large), ds_sb["conductance"].values),
                  (d_subset, y_subset)],
    }  # fmt: skip
    pooled_small = pool_global(descs_small, mode="meanmax")
    out, models = {}, {}
    for name, y in labels.items():
        model = ConductanceSurrogate(**MODEL).fit(descs_small, y)
        models[name] = model
        for k, (d, yb) in enumerate(sets[name]):
            p = model.predict(d)
            g = global_fit_predict(pooled_small, y, [pool_global(d, mode="meanmax")])[0]
            key = name if k == 0 else f"{name}_subset"
            out[key] = {"surrogate": scores(yb, p), "global_pooling": scores(yb, g)}
    return out, models


def break_junction_snapshots(cells: tuple[int, int], n_traces: int, *, seed0: int, stride: int):
    """Every ``stride``-th snapshot of ``n_traces`` fresh break-junction traces of an Au
    [001] wire of ``cells`` cubic cells (4 K and 300 K alternating), and their trace ids."""
    wire = build_wire("Au", cross_section=cells, length=4, electrode_layers=3)
    structures, traces = [], []
    for seed in range(n_traces):
        protocol = BreakJunctionProtocol(
            temperature=(4.0, 300.0)[seed % 2], speed=0.2, snapshot_every=0.1, equilibration=2.0,
            max_elongation=30.0, post_rupture=1.0, seed=seed0 + seed,
        )  # fmt: skip
        trace = run_trace(perturb(wire, amplitude=0.05, rng=seed), protocol)
        structures.extend(trace.snapshot(k) for k in range(0, len(trace), stride))
        traces.extend([seed] * len(range(0, len(trace), stride)))
    return structures, np.array(traces)


def wire_traces(cells: tuple[int, int], n_traces: int) -> tuple[list, np.ndarray, np.ndarray]:
    """Break-junction snapshots (every 2nd) of fresh wires, with s-band labels and trace ids."""
    structures, traces = break_junction_snapshots(cells, n_traces, seed0=100, stride=2)
    y = np.array([SBAND.conductance(a) for a in structures])
    return structures, y, traces


def scenario_2x2() -> dict:
    """Train on 160-atom 2x2 wires (s-band): held-out traces, type a (4x4 electrodes), 3x3."""
    start = time.perf_counter()
    structures, ds = load("au-sband-subset")
    y, traces = ds["conductance"].values, ds["trace"].values
    test = traces >= TEST_TRACES_2X2
    train = np.flatnonzero(~test)[::2]
    descs = compute_descriptors(structures)
    model = ConductanceSurrogate(**MODEL_2X2).fit([descs[i] for i in train], y[train])
    held = np.flatnonzero(test)
    same = scores(y[held], model.predict([descs[i] for i in held]))
    embedded, y_a = [], []
    for i in held[::3]:
        try:
            big = embed_neck(structures[i], electrode_cross_section=(4, 4), electrode_layers=3)
            y_a.append(SBAND.conductance(big))
        except InvalidStructureError:
            continue
        embedded.append(big)
    larger_a = scores(np.array(y_a), model.predict(embedded)) | {"atoms": len(embedded[0])}
    wide, y_b, _ = wire_traces((3, 3), N_TRACES_3X3)
    larger_b = scores(y_b, model.predict(wide)) | {"atoms": len(wide[0])}
    pooled = [
        pool_global(d, mode="meanmax")
        for d in (
            [descs[i] for i in held],
            compute_descriptors(embedded),
            compute_descriptors(wide),
        )
    ]
    glob = global_fit_predict(pool_global([descs[i] for i in train], mode="meanmax"), y[train],
                              pooled)  # fmt: skip
    global_pooling = {
        key: scores(ref, pred)["r2"]
        for key, ref, pred in zip(
            ("same_size", "larger_a", "larger_b_3x3"), (y[held], y_a, y_b), glob
        )
    }
    print(f"  2x2 scenario: same {same['r2']}, type a {larger_a['r2']}, 3x3 {larger_b['r2']} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return {"model": MODEL_2X2, "training": {"structures": len(train), "atoms": len(structures[0]),
            "traces": len(set(traces[train]))}, "same_size": same, "larger_a": larger_a,
            "larger_b_3x3": larger_b, "global_pooling_r2": global_pooling}  # fmt: skip


def timing(model, snapshot_small, snapshot_large) -> dict:
    cases = [
        ("1x1 wire snapshot (training size)", snapshot_small),
        ("1x1 neck in 2x2 electrodes (type a)", embed_neck(snapshot_small)),
        ("2x2 wire snapshot", snapshot_large),
        ("3x3 wire", perturb(build_wire("Au", cross_section=(3, 3), length=4, electrode_layers=3),
                             amplitude=0.1, rng=0)),
        ("4x4 wire", perturb(build_wire("Au", cross_section=(4, 4), length=6, electrode_layers=3),
                             amplitude=0.1, rng=0)),
    ]  # fmt: skip
    return time_cases(model, cases, SPD.conductance)


def time_cases(model, cases, spd_conductance) -> dict:
    """Seconds per structure of the surrogate (batches of ``N_TIMED``, median of 3), of the
    s-band reference (median of 3) and of ``spd_conductance`` (one call, up to 200 atoms) for
    each (label, structure) of ``cases``, and the surrogate's scaling exponent with atoms."""
    rows = {"structures": [], "atoms": [], "surrogate_s": [], "sband_s": [], "spd_s": []}
    for label, atoms in cases:
        batch = [atoms] * N_TIMED
        t_sur, _ = median_time(lambda b=batch: model.predict(b), 3)
        t_sb, _ = median_time(lambda a=atoms: SBAND.conductance(a), 3)
        t_spd = median_time(lambda a=atoms: spd_conductance(a), 1)[0] if len(atoms) <= 200 else None
        rows["structures"].append(label)
        rows["atoms"].append(len(atoms))
        rows["surrogate_s"].append(t_sur / N_TIMED)
        rows["sband_s"].append(t_sb)
        rows["spd_s"].append(t_spd)
        spd_text = f"{t_spd:.2f} s" if t_spd else "-"
        print(f"  {label:38s} {len(atoms):4d} atoms  surrogate {t_sur / N_TIMED * 1e3:7.2f} ms"
              f"  s-band {t_sb * 1e3:7.1f} ms  spd {spd_text}", flush=True)  # fmt: skip
    slope = np.polyfit(np.log(rows["atoms"]), np.log(rows["surrogate_s"]), 1)[0]
    rows["surrogate_scaling_exponent"] = round(float(slope), 3)
    return rows


def virtual_experiment() -> dict | None:
    """Histogram keys of the virtual experiment, from its stores (None if they are missing)."""
    import json

    from vlab.workflows.conductance import model_residuals
    from vlab.workflows.experiment import experiment_figure, load_experiment

    spec = load_experiment(EXPERIMENT)
    stores = (spec.md.store, spec.surrogate.store, spec.reference.store)
    if not all(store.exists() for store in stores):
        print(f"  virtual experiment: stores missing; run `{EXPERIMENT_COMMAND}` first")
        return None
    start = time.perf_counter()
    residuals = model_residuals(spec.model)  # the model's held-out residuals (its report)
    result = experiment_figure(spec.surrogate.store, spec.reference.store, spec.figure,
                               title=spec.description, residuals=residuals)  # fmt: skip
    run = json.loads(spec.summary.read_text()) if spec.summary.is_file() else {}
    md = open_store(spec.md.store)
    block = {
        **{k: v for k, v in result.items() if k != "figure"},
        "figure": str(spec.figure.relative_to(EXPERIMENT.parent.parent)),
        "command": EXPERIMENT_COMMAND,
        "structure": dict(spec.md.params["structure"]),
        "atoms_per_structure": int(md.sizes["atom"]),
        "md_traces_done": int((md["status"].values == 1).sum()),
        "training": _relative(run.get("model", {}), "path"),
        "campaigns": {k: _relative(v, "store") for k, v in run.get("campaigns", {}).items()},
        "analysis_s": round(time.perf_counter() - start, 1),
    }
    peaks = {
        k: result[k] for k in result if k.startswith("histogram_peak_") and "on_reference" not in k
    }
    return {**peaks, "virtual_experiment": block}


def _relative(block: dict, key: str) -> dict:
    """``block`` with its path ``key`` relative to the repository (the JSON is committed)."""
    if key not in block:
        return block
    return {**block, key: os.path.relpath(block[key], EXPERIMENT.parent.parent)}


def histogram_rows(data: dict) -> list[tuple[str, str]]:
    block = data["virtual_experiment"]
    return [
        ("histogram peak surrogate / reference (G0)",
         f"{data['histogram_peak_surrogate_G0']} / {data['histogram_peak_reference_G0']}"),
        *(
            (f"{temp} peak: point / predictive / reference (G0)",
             f"{data.get('histogram_peak_surrogate_G0' + suffix)} / "
             f"{data.get('histogram_peak_predictive_G0' + suffix)} / "
             f"{data.get('histogram_peak_reference_G0' + suffix)}")
            for temp, suffix in (("all", ""), ("4 K", "_4K"), ("300 K", "_300K"))
        ),
        ("traces / snapshots / atoms", f"{block['traces']} / {block['snapshots_surrogate']} / "
         f"{block['atoms_per_structure']}"),
        ("R2 surrogate vs reference (all snapshots)", str(block["common_snapshots"]["r2"])),
    ]  # fmt: skip


def main() -> dict:
    start = time.perf_counter()
    small, ds = load("au-spd-small")
    sband = np.array([SBAND.conductance(a) for a in small])
    labels = {"spd": ds["conductance"].values, "sband": sband}
    groups = ds["trace"].values
    descs = compute_descriptors(small)
    print(f"{len(small)} training cells of {len(small[0])} atoms, {len(set(groups))} traces")
    refs_a = type_a(small)
    cv = cross_validate(descs, labels, groups, refs_a)
    same = {name: {"surrogate": scores(y, cv[name]["oof"]),
                   "global_pooling": scores(y, cv[name]["oof_global"])}
            for name, y in labels.items()}  # fmt: skip
    larger_a = {}
    for name in labels:
        sur, glob = evaluate_a(cv, refs_a, name)
        larger_a[name] = {"surrogate": sur, "global_pooling": glob, "atoms": refs_a["atoms"]}
    larger_b, models = type_b(descs, labels)
    large, _ = load("au-spd-large")
    times = timing(models["spd"], small[len(small) // 2], large[len(large) // 2])
    t = times
    wires = scenario_2x2()
    speed_small = t["spd_s"][0] / t["surrogate_s"][0]
    speed_large = t["spd_s"][2] / t["surrogate_s"][2]
    # the headline keys (r2_*, speedup_*, surrogate_scaling_exponent) come from surrogate_spd.py
    data = {
        "surrogate_1x1_spd": {
            "r2_same_size": same["spd"]["surrogate"]["r2"],
            "r2_same_size_sband": same["sband"]["surrogate"]["r2"],
            "r2_larger_a": larger_a["spd"]["surrogate"]["r2"],
            "r2_larger_a_sband": larger_a["sband"]["surrogate"]["r2"],
            "r2_larger_b": larger_b["spd"]["surrogate"]["r2"],
            "r2_larger_b_sband": larger_b["sband_subset"]["surrogate"]["r2"],
            # the headline speed keys come from surrogate_spd.py (the headline model)
            "speedup_at_48_atoms": round(speed_small, 1),
            "speedup_at_160_atoms": round(speed_large, 1),
            "surrogate_scaling_exponent": t["surrogate_scaling_exponent"],
        },
        "r2_same_size_2x2_sband": wires["same_size"]["r2"],
        "r2_larger_a_2x2_sband": wires["larger_a"]["r2"],
        "r2_larger_b_3x3_sband": wires["larger_b_3x3"]["r2"],
        "surrogate": {
            "model": MODEL | {"descriptors": descs[0].settings.to_dict()},
            "training": {"structures": len(small), "atoms": len(small[0]),
                         "traces": len(set(groups)), "folds": N_FOLDS},
            "same_size": same,
            "larger_a": larger_a,
            "larger_b": larger_b,
            "timing": times,
            "trained_on_2x2_sband": wires,
            "runtime_s": round(time.perf_counter() - start, 1),
        },
    }  # fmt: skip
    one = data["surrogate_1x1_spd"]
    rows = [
        ("1x1: R2 same (spd / s-band)", f"{one['r2_same_size']} / {one['r2_same_size_sband']}"),
        ("1x1: R2 type a (spd / s-band)", f"{one['r2_larger_a']} / {one['r2_larger_a_sband']}"),
        ("1x1: R2 type b (spd / s-band)", f"{one['r2_larger_b']} / {one['r2_larger_b_sband']}"),
        ("global pooling R2 same/a/b (spd)",
         f"{same['spd']['global_pooling']['r2']} / {larger_a['spd']['global_pooling']['r2']} / "
         f"{larger_b['spd']['global_pooling']['r2']}"),
        ("2x2-trained s-band R2 same/a/3x3",
         f"{wires['same_size']['r2']} / {wires['larger_a']['r2']} / "
         f"{wires['larger_b_3x3']['r2']}"),
        ("speedup vs spd at 48 / 160 atoms", f"{speed_small:.0f}x / {speed_large:.0f}x"),
        ("surrogate scaling exponent", str(t["surrogate_scaling_exponent"])),
        ("runtime", f"{data['surrogate']['runtime_s']:.0f} s"),
    ]  # fmt: skip
    experiment = virtual_experiment()
    if experiment:
        data |= experiment
        rows += histogram_rows(experiment)
    write_result("surrogate", data, rows)
    return data


if __name__ == "__main__":
    if sys.argv[1:] == ["--histogram"]:
        found = virtual_experiment()
        if found is None:
            sys.exit(1)
        write_result("surrogate", found, histogram_rows(found))
    elif sys.argv[1:] not in ([], ["--skip-spd"]):
        sys.exit(f"usage: python {sys.argv[0]} [--skip-spd | --histogram]")
    else:
        main()
        if not sys.argv[1:]:
            import surrogate_spd  # the headline keys (imports this file as a module)

            surrogate_spd.main()
