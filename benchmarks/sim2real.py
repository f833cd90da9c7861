"""Sim2Real benchmark: measured thermal conductivity from MD pretraining, scaling, intervals.

Run from the repository root (data cache: ``VLAB_DATA__CACHE_DIR``)::

    python benchmarks/sim2real.py           # writes its keys into benchmarks/results/polymers.json
    python benchmarks/sim2real.py --quick   # fewer folds and sizes -> polymers-quick.json

Features are those of ``benchmarks/polymers.py`` (same cache folder). Networks are
pretrained once on *all* of PI1070 (simulations; the target is the measurement):
``md`` on the MD thermal conductivity alone, ``mt+md`` on it and the nine PI1070 source
properties plus PoLyInfo Tg and small-molecule Cp (masked multi-task loss), ``mt`` the
same without MD λ. The variants of :data:`~vlab.polymers.transfer.SIM2REAL_VARIANTS` are
compared on identical outer folds of the measured table (leave-one-out, and 5 x 5-fold);
in each outer training set three partitions into 5 inner folds (``--inner-repeats``; their
errors summed) choose the reported ``best`` variant and the strongest learner without a
network (``scratch``), so the outer folds are used once. The selection on a single partition
is run as well (``sim2real_single_partition``), and so is the selection among the candidates
of the built-in model of ``vlab polymers predict`` (``MEASURED_PROCEDURE``: mean, ridge,
forest, MD λ as is, corrected or as features; ``sim2real_deployed``).
``md_finetune`` is slow to refit in every inner fold: it is a candidate on the
leave-one-out folds only (left out of the 5 x 5-fold and family folds).

Scaling: the network family ``md`` is pretrained on nested random subsets of PI1070
(sizes 50 ... all, two subsets per size below all) and the md variant chosen most often on
the inner folds is evaluated on the same leave-one-out and 5 x 5 folds; MAE(N) = a N^-b is
fitted with a bootstrap band over the measured polymers.

Intervals: λ, the nested predictions' standard deviations on random folds and on a split by
Butina clusters of the measured polymers; Tg, a 3-member network trained on 70 % of the
merged PoLyInfo Tg set split at random and by Butina clusters (whole families held out),
calibrated on 15 % (:class:`~vlab.polymers.uncertainty.IntervalCalibrator`: ensemble σ
plus a distance-to-training term, conformal multipliers) and reported on the last 15 %.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argparse
import hashlib
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import RESULTS, write_result
from polymers import _cp, _pi1070, _tg

from vlab.polymers import load_experimental_tc
from vlab.polymers.transfer import (
    INNER_REPEATS,
    MEASURED_PROCEDURE,
    SIM2REAL_VARIANTS,
    PretrainOptions,
    featurize,
    morphology_flags,
    nested_compare,
    outer_splits,
    paired_ratio_interval,
    power_law_fit,
    pretrain,
    signed_log1p,
    stack_tasks,
)
from vlab.polymers.uncertainty import (
    IntervalCalibrator,
    butina_clusters,
    fingerprints,
    group_split,
    interval_report,
    nearest_similarity,
)
from vlab.workflows.polymers import plot_sim2real_scaling

NET = PretrainOptions(hidden=(256, 64), n_members=2, epochs=150, patience=25)
NET_MT = PretrainOptions(hidden=(256, 64), n_members=2, epochs=30, patience=6)
NET_TG = PretrainOptions(hidden=(256, 64), n_members=3, epochs=30, patience=6)
SLOW = ("md_finetune",)


def _stage(folder: Path, key: str, compute):
    """Result of ``compute()`` pickled in the cache folder (benchmark-internal reruns)."""
    import pickle

    path = folder / f"sim2real-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    value = compute()
    path.write_bytes(pickle.dumps(value))
    return value


def _data(folder: Path):
    pi, tg, cp = _pi1070(folder), _tg(folder), _cp(folder)
    keep = np.isfinite(pi["F"]).all(axis=0) & (np.nanstd(pi["F"], axis=0) > 0)
    tab = load_experimental_tc()
    ex = {
        "smiles": np.array(tab.smiles),
        "X": signed_log1p(featurize(tab.smiles, normalized=True)[:, keep]),
        "y": tab.column("thermal_conductivity"),
        "morph": morphology_flags(tab.text["morphology"]),
        "name": np.array(tab.text["name"]),
    }
    for d in (pi, tg, cp):
        d["X"] = signed_log1p(d["F"][:, keep])
        d["ok"] = np.isfinite(d["X"]).all(axis=1) & np.isfinite(d["y"])
    return pi, tg, cp, ex


def pretrain_nets(pi, tg, cp, rng):
    """The three pretrained networks on all of PI1070 (plus Tg and Cp for the multi-task)."""
    ok = pi["ok"]
    X, lam, Y = pi["X"][ok], pi["y"][ok], pi["Y"][ok]
    extra = [(tg["X"][tg["ok"]], tg["y"][tg["ok"]]), (cp["X"][cp["ok"]], cp["y"][cp["ok"]])]
    nets = {"md": pretrain(X, lam[:, None], options=NET, rng=rng)}
    for key, Ypi in (("mt+md", np.column_stack([lam, Y])), ("mt", Y)):
        Xs, Ys = stack_tasks((X, Ypi), *extra)
        nets[key] = pretrain(Xs, Ys, options=NET_MT, rng=rng)
    return nets


def compare(ex, nets, splits, variants, seed, repeats):
    return nested_compare(
        ex["X"], ex["y"], ex["morph"], nets, splits=splits, variants=variants,
        inner_repeats=repeats, options=NET, rng=np.random.default_rng(seed),
    )  # fmt: skip


def _brief(res_loo, res_kf, rng) -> dict:
    """Headline numbers of another selection on the same outer folds (for comparison)."""
    out = {}
    for prefix, res in (("loo", res_loo), ("kfold", res_kf)):
        out[f"{prefix}_mae"] = res.metrics("best")["mae"]
        out[f"{prefix}_mae_scratch"] = res.metrics("scratch")["mae"]
        for ref in ("scratch", "mean"):
            r, lo, hi = paired_ratio_interval(res.errors("best"), res.errors(ref), rng=rng)
            out[f"{prefix}_ratio_best_{ref}"] = [r, lo, hi]
        out[f"{prefix}_chosen"] = res.chosen_counts()
    return out


def _tag(key: str, quick: bool, repeats: int) -> str:
    """Cache tag of a comparison stage (one inner partition keeps the older tags)."""
    return f"{key}{quick}" + ("" if repeats == 1 else f"r{repeats}")


def _summary(res, prefix, rng):
    out = {}
    for key, name in (("", "best"), ("_scratch", "scratch"), ("_mean", "mean")):
        for m, v in res.metrics(name).items():
            out[f"{prefix}_{m}{key}"] = v
    for m, v in res.metrics("md_as_is").items():
        out[f"{prefix}_{m}_md_as_is"] = v
    for ref in ("scratch", "mean"):
        r, lo, hi = paired_ratio_interval(res.errors("best"), res.errors(ref), rng=rng)
        out[f"{prefix}_ratio_best_{ref}"] = r
        out[f"{prefix}_ratio_best_{ref}_90"] = [lo, hi]
    out[f"{prefix}_variants"] = {
        v: res.metrics(v) for v in res.pred if v not in ("best", "scratch")
    }
    out[f"{prefix}_chosen"] = res.chosen_counts()
    out[f"{prefix}_chosen_scratch"] = res.chosen_counts("chosen_scratch")
    return out


def scaling(pi, ex, variant, sizes, n_subsets, splits_by_kind, seed):
    """Per-row errors of ``variant`` for nets pretrained on nested PI1070 subsets."""
    from vlab.polymers.transfer import Sim2RealRegressor

    _, learner = SIM2REAL_VARIANTS[variant]
    rows = np.flatnonzero(pi["ok"])
    A = np.hstack([ex["X"], ex["morph"]])
    errors = {kind: np.zeros((len(sizes), len(ex["y"]))) for kind in splits_by_kind}
    for s in range(n_subsets):
        perm = np.random.default_rng([seed, s]).permutation(rows)
        for i, size in enumerate(sizes):
            if size >= len(rows) and s > 0:
                for kind in errors:
                    errors[kind][i] += errors[kind][i] / s  # same net as subset 0
                continue
            sub = perm[:size]
            net = pretrain(
                pi["X"][sub], pi["y"][sub, None], options=NET, rng=np.random.default_rng(size)
            )
            for kind, splits in splits_by_kind.items():
                pred = np.zeros(len(ex["y"]))
                hits = np.zeros(len(ex["y"]))
                for te in splits:
                    tr = np.setdiff1d(np.arange(len(A)), te)
                    model = Sim2RealRegressor(net, learner=learner, n_extra=1, n_boot=0)
                    pred[te] += model.fit(A[tr], ex["y"][tr]).predict(A[te])
                    hits[te] += 1
                errors[kind][i] += np.abs(pred / hits - ex["y"])
            print(f"  scaling size {size} subset {s}", flush=True)
    return {kind: e / n_subsets for kind, e in errors.items()}


def tg_intervals(tg, seed):
    """Tg network intervals on a random and a Butina-cluster split, raw and calibrated."""
    ok = np.flatnonzero(tg["ok"])
    X, y, smiles = tg["X"][ok], tg["y"][ok], tg["smiles"][ok]
    fps = fingerprints(list(smiles))
    groups = butina_clusters(list(smiles), cutoff=0.6, fps=fps)
    rng = np.random.default_rng(seed)
    out = {"tg_n_clusters": int(groups.max() + 1)}
    for split, labels in (("random", np.arange(len(y))), ("family", groups)):
        tr, cal, te = group_split(labels, [0.7, 0.15, 0.15], rng=rng)
        net = pretrain(X[tr], y[tr, None], options=NET_TG, rng=rng)
        preds = net.member_predictions(X)[:, :, 0]
        mean, std = preds.mean(axis=0), preds.std(axis=0)
        train_fps = [fps[i] for i in tr]
        d = 1 - nearest_similarity(train_fps, [fps[i] for i in np.concatenate([cal, te])])
        d_cal, d_te = d[: len(cal)], d[len(cal) :]
        calib = IntervalCalibrator.fit(y[cal], mean[cal], std[cal], d_cal)
        raw = interval_report(y[te], mean[te], std[te])
        cal_rep = interval_report(
            y[te], mean[te], calib.sigma(std[te], d_te), z68=calib.z[0.68], z95=calib.z[0.95]
        )
        out[f"tg_{split}_split"] = {
            "raw": raw, "calibrated": cal_rep, "a": calib.a, "b_K": calib.b,
            "z68": calib.z[0.68], "z95": calib.z[0.95],
            "n_train": len(tr), "n_cal": len(cal), "n_test": len(te),
        }  # fmt: skip
        print(f"  Tg {split} split done", flush=True)
    fam = out["tg_family_split"]["calibrated"]
    out.update(
        tg_family_split_mae_K=fam["mae"],
        tg_coverage_68=fam["coverage_68"],
        tg_coverage_95=fam["coverage_95"],
        tg_spearman_error_sigma_family=fam["spearman_error_sigma"],
        tg_spearman_error_sigma_random=out["tg_random_split"]["calibrated"]["spearman_error_sigma"],
    )
    return out


def conformal_family(res, name="best"):
    """Conformal intervals of a nested selection, cross-fitted over the family folds.

    For each family fold the scale ``a`` and the multipliers of
    :class:`~vlab.polymers.uncertainty.IntervalCalibrator` are fitted on the other folds'
    out-of-fold predictions and applied to this fold, so no row calibrates its own interval.
    """
    y, mean, std = res.y, res.pred[name], res.std[name]
    sigma, z68, z95 = np.zeros_like(y), np.zeros_like(y), np.zeros_like(y)
    for f in np.unique(res.fold):
        te, cal = res.fold == f, res.fold != f
        calib = IntervalCalibrator.fit(y[cal], mean[cal], std[cal])
        sigma[te], z68[te], z95[te] = calib.sigma(std[te]), calib.z[0.68], calib.z[0.95]
    err = np.abs(y - mean)
    return {
        "coverage_68": float(np.mean(err <= z68 * sigma)),
        "coverage_95": float(np.mean(err <= z95 * sigma)),
        "n": len(y),
    }


def lambda_intervals(res_random, res_family):
    """Coverage of the nested best model's ±σ and ±1.96σ on random and family folds."""
    out = {}
    for split, res in (("random", res_random), ("family", res_family)):
        out[f"lambda_{split}_split"] = interval_report(res.y, res.pred["best"], res.std["best"])
    conf = conformal_family(res_family)
    out.update(
        lambda_conformal_family=conf,
        lambda_conformal_family_scratch=conformal_family(res_family, "scratch"),
        lambda_conformal_coverage_68=conf["coverage_68"],
        lambda_conformal_coverage_95=conf["coverage_95"],
    )
    fam = out["lambda_family_split"]
    out.update(
        lambda_family_split_mae=fam["mae"],
        lambda_coverage_68=fam["coverage_68"],
        lambda_coverage_95=fam["coverage_95"],
        lambda_spearman_error_sigma_family=fam["spearman_error_sigma"],
        lambda_spearman_error_sigma_random=out["lambda_random_split"]["spearman_error_sigma"],
    )
    return out


def _file_hash() -> str:
    from vlab.polymers.datasets import __file__ as ds_file

    path = Path(ds_file).parent / "data" / "experimental_tc.csv"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer folds, sizes and subsets")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "vlab-bench-polymers"
    )
    parser.add_argument(
        "--inner-repeats", type=int, default=INNER_REPEATS,
        help=f"partitions into inner folds per selection (default {INNER_REPEATS})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    pi, tg, cp, ex = _data(args.cache)
    n = len(ex["y"])
    print(f"features: {time.perf_counter() - start:.0f} s ({n} measured)", flush=True)
    net_key = f"{NET}{NET_MT}{len(pi['y'])}{len(tg['y'])}{len(cp['y'])}"
    key = f"{_file_hash()}{net_key}"
    # the networks never see the measured table: their cache key leaves it out
    nets = _stage(
        args.cache, "nets" + net_key, lambda: pretrain_nets(pi, tg, cp, np.random.default_rng(0))
    )
    print(f"pretraining: {time.perf_counter() - start:.0f} s", flush=True)
    fast = tuple(v for v in SIM2REAL_VARIANTS if v not in SLOW)
    rng = np.random.default_rng(1)
    loo = outer_splits(n)
    kfold = outer_splits(n, kind="kfold", n_repeats=2 if args.quick else 5, rng=rng)
    res = {}
    for reps in sorted({1, args.inner_repeats}, reverse=True):
        tag = _tag(key, args.quick, reps)
        res[reps] = (
            _stage(args.cache, f"loo{tag}",
                   lambda r=reps: compare(ex, nets, loo, tuple(SIM2REAL_VARIANTS), 2, r)),
            _stage(args.cache, f"kf{tag}", lambda r=reps: compare(ex, nets, kfold, fast, 3, r)),
        )  # fmt: skip
        print(f"LOO and 5-fold, {reps} inner partition(s): {time.perf_counter() - start:.0f} s")
    res_loo, res_kf = res[args.inner_repeats]
    tag = _tag(key, args.quick, args.inner_repeats)
    deployed = (  # the candidates of the built-in model of `vlab polymers predict`
        _stage(args.cache, f"dloo{tag}",
               lambda: compare(ex, nets, loo, MEASURED_PROCEDURE, 2, args.inner_repeats)),
        _stage(args.cache, f"dkf{tag}",
               lambda: compare(ex, nets, kfold, MEASURED_PROCEDURE, 3, args.inner_repeats)),
    )  # fmt: skip
    print(f"deployed candidates: {time.perf_counter() - start:.0f} s", flush=True)
    groups = butina_clusters(list(ex["smiles"]), cutoff=0.7)
    fam_splits = [np.flatnonzero(np.isin(groups, g)) for g in _group_folds(groups, 5, rng)]
    res_fam = _stage(
        args.cache, f"fam{tag}", lambda: compare(ex, nets, fam_splits, fast, 4, args.inner_repeats)
    )
    print(f"family folds: {time.perf_counter() - start:.0f} s", flush=True)
    md_variants = [v for v in res_loo.chosen if SIM2REAL_VARIANTS[v][0] == "md"]
    scale_variant = max(set(md_variants), key=md_variants.count) if md_variants else "md_correction"
    n_pi = int(pi["ok"].sum())
    sizes = [50, 200, n_pi] if args.quick else [50, 100, 200, 400, 800, n_pi]
    errs = scaling(pi, ex, scale_variant, sizes, 1 if args.quick else 2,
                   {"loo": loo, "kfold": kfold}, seed=5)  # fmt: skip
    fits = {k: power_law_fit(sizes, e, rng=np.random.default_rng(6)) for k, e in errs.items()}
    print(f"scaling: {time.perf_counter() - start:.0f} s", flush=True)
    tg_out = tg_intervals(tg, seed=7) if not args.quick else {}
    suffix = "-quick" if args.quick else ""
    plot_sim2real_scaling(sizes, fits, RESULTS / f"sim2real_scaling{suffix}.png")
    data = _summary(res_loo, "sim2real_loo", np.random.default_rng(8))
    data.update(_summary(res_kf, "sim2real_kfold", np.random.default_rng(9)))
    data.update(lambda_intervals(res_loo, res_fam))
    data.update(tg_out)
    data.update(
        sim2real_inner_repeats=args.inner_repeats,
        sim2real_single_partition=_brief(*res[1], np.random.default_rng(10)),
        sim2real_deployed=_brief(*deployed, np.random.default_rng(11)),
        sim2real_n_measured=n,
        sim2real_n_clusters=int(groups.max() + 1),
        sim2real_most_chosen=res_loo.most_chosen(),
        sim2real_scaling={"variant": scale_variant, "sizes": sizes, **fits},
        sim2real_seconds=time.perf_counter() - start,
        sim2real_data_sha256=_file_hash(),
    )
    write_result(f"polymers{suffix}", data, _rows(data))


def _group_folds(groups, k, rng):
    labels = rng.permutation(np.unique(groups))
    return np.array_split(labels, min(k, len(labels)))


def _rows(d):
    rows = [
        (f"LOO MAE {k}", f"{d[f'sim2real_loo_mae{s}']:.4f}  R² {d[f'sim2real_loo_r2{s}']:.2f}  "
         f"Spearman {d[f'sim2real_loo_spearman{s}']:.2f}")
        for k, s in (("best", ""), ("scratch", "_scratch"), ("mean", "_mean"),
                     ("MD as is", "_md_as_is"))
    ]  # fmt: skip
    for ref in ("scratch", "mean"):
        lo, hi = d[f"sim2real_loo_ratio_best_{ref}_90"]
        ratio = d[f"sim2real_loo_ratio_best_{ref}"]
        rows.append((f"ratio best/{ref}", f"{ratio:.3f} [{lo:.3f}, {hi:.3f}]"))
    dep = d["sim2real_deployed"]
    rows.append(("LOO MAE built-in model's candidates", f"{dep['loo_mae']:.4f}"))
    for ref in ("scratch", "mean"):
        r, lo, hi = dep[f"loo_ratio_best_{ref}"]
        rows.append((f"  ratio built-in/{ref}", f"{r:.3f} [{lo:.3f}, {hi:.3f}]"))
    rows.append(("scaling exponent (LOO)", f"{d['sim2real_scaling']['loo']['exponent']:.3f}"))
    cov = f"{d['lambda_coverage_68']:.2f} / {d['lambda_coverage_95']:.2f}"
    rows.append(("λ coverage 68/95 (family)", cov))
    cov = f"{d['lambda_conformal_coverage_68']:.2f} / {d['lambda_conformal_coverage_95']:.2f}"
    rows.append(("λ conformal coverage 68/95 (family, cross-fitted)", cov))
    if "tg_coverage_68" in d:
        rows.append(("Tg family MAE (K)", f"{d['tg_family_split_mae_K']:.1f}"))
        cov = f"{d['tg_coverage_68']:.2f} / {d['tg_coverage_95']:.2f}"
        rows.append(("Tg coverage 68/95 (family)", cov))
    return rows


if __name__ == "__main__":
    main()
