"""Polymer benchmark (science part): transfer learning to thermal conductivity, Tg model.

Run from the repository root (data cache: ``VLAB_DATA__CACHE_DIR``)::

    python benchmarks/polymers.py            # writes benchmarks/results/polymers.json
    python benchmarks/polymers.py --quick    # 2 splits x 2 draws, 3-fold Tg CV

Features: count Morgan fingerprints (radius 2, 1024 bits, ``*`` ends as an infinite chain)
and RDKit descriptors of the repeat unit, ``sign(x) log(1 + |x|)``, columns constant on
PI1070 dropped. They are cached (with the loaded Tg table, whose normalisation takes
minutes) in ``<tmp>/vlab-bench-polymers`` keyed by the data files' sha256.

Protocol A: PI1070 (unique canonical repeat units) split 2/3 source, 1/3 target pool; per
split a network is pretrained on the source part's density, Cp, bulk modulus, Rg, <r²>,
nematic order, refractive index, compressibility and Cv (never λ, TC_* or the thermal
diffusivity) and, in the multi-task variant, also on PoLyInfo Tg (repeat units of PI1070
removed) and/or ideal-gas Cp at 298 K of ~1,580 small molecules from ``chemicals``
(featurised as plain molecules, ``kind="molecule"``; molecules equal to a capped PI1070 unit
removed); 28 training polymers are drawn from the pool and the rest of the pool is the test
set. Variants, all on identical splits and draws: ``pi1070`` (9 MD tasks), ``tg`` and
``cp`` (single task), ``pi1070+tg``, ``pi1070+cp`` and ``pi1070+tg+cp`` (multi-task with a
masked loss). The headline is the variant with the lowest mean paired ratio (named in
``protocol_a_variant``; all variants under ``protocol_a_variants``). Protocol B:
leave-one-out on the embedded experimental table, each variant pretrained without those
units. Tg model: 5-fold CV of the same network, single task, on the merged Tg set.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import RESULTS, write_result

from vlab._utils import content_hash
from vlab.polymers import (
    SOURCES,
    load_experimental_tc,
    load_pi1070,
    load_small_molecule_cp,
    load_tg,
    pi1070_source_columns,
)
from vlab.polymers.transfer import (
    PretrainOptions,
    featurize,
    plot_report,
    protocol_a,
    protocol_b,
    signed_log1p,
    tg_cv,
)
from vlab.workflows.polymers import TRANSFER_SOURCE_TASKS, transfer_inputs

#: The PI1070 source tasks named in the issue (all allowed by pi1070_source_columns).
SOURCE_TASKS = TRANSFER_SOURCE_TASKS
FEATURE_VERSION = "morgan2-1024+rdkit-desc/1"
VARIANTS = ("pi1070", "pi1070+tg", "tg", "cp", "pi1070+cp", "pi1070+tg+cp")
#: Network settings: PI1070 alone (~700 rows) and with the ~7,000 Tg rows (fewer epochs).
OPTIONS = PretrainOptions()
OPTIONS_TG = PretrainOptions(epochs=40, patience=8)


def _cached(folder: Path, key: str, compute):
    path = folder / f"{content_hash(key, FEATURE_VERSION)[:16]}.npz"
    if path.exists():
        return dict(np.load(path, allow_pickle=False))
    data = compute()
    np.savez(path, **data)
    return data


def _pi1070(folder):
    def compute():
        tab = load_pi1070()
        return {
            "smiles": np.array(tab.smiles),
            "F": featurize(tab.smiles, normalized=True),
            "y": tab.column("thermal_conductivity"),
            "Y": np.column_stack([tab.column(c) for c in SOURCE_TASKS]),
        }

    return _cached(folder, "pi1070" + SOURCES["radonpy_pi1070"].sha256, compute)


def _tg(folder):
    def compute():
        tab, report = load_tg()
        return {
            "smiles": np.array(tab.smiles),
            "F": featurize(tab.smiles, normalized=True),
            "y": tab.column("Tg"),
            "report": np.array([report[k] for k in sorted(report)]),
        }

    key = "tg" + SOURCES["polymon_tg"].sha256 + SOURCES["polymon_tg_raw"].sha256
    return _cached(folder, key, compute)


def _experimental(folder):
    def compute():
        tab = load_experimental_tc()
        return {
            "smiles": np.array(tab.smiles),
            "F": featurize(tab.smiles, normalized=True),
            "y": tab.column("thermal_conductivity"),
        }

    from vlab.polymers import datasets  # the embedded table has no checksum: key by its bytes

    data = (Path(datasets.__file__).parent / "data" / "experimental_tc.csv").read_bytes()
    return _cached(folder, "exp" + content_hash(data.decode()), compute)


def _cp(folder):
    import chemicals

    def compute():
        tab = load_small_molecule_cp()
        return {
            "smiles": np.array(tab.smiles),
            "F": featurize(tab.smiles, kind="molecule"),
            "y": tab.column("Cp"),
        }

    return _cached(folder, "cp-gas-298/2" + chemicals.__version__, compute)


def _load(folder: Path):
    assert set(SOURCE_TASKS) <= set(pi1070_source_columns())
    pi, tg, ex, cp = _pi1070(folder), _tg(folder), _experimental(folder), _cp(folder)
    keep = np.isfinite(pi["F"]).all(axis=0) & (np.nanstd(pi["F"], axis=0) > 0)
    for d in (pi, tg, ex, cp):
        d["X"] = signed_log1p(d["F"][:, keep])
        d["ok"] = np.isfinite(d["X"]).all(axis=1) & np.isfinite(d["y"])
    return pi, tg, ex, cp


def _options(variant):
    return OPTIONS_TG if "tg" in variant else OPTIONS


def run_protocol_a(pi, extras, *, n_splits, draws, seed=0):
    """All pretraining variants on identical splits and draws."""
    X, y, Y = pi["X"], pi["y"], pi["Y"]
    out = {}
    for name in VARIANTS:
        variant = tuple(name.split("+"))
        extra, keys = transfer_inputs(variant, list(pi["smiles"]), extras)
        start = time.perf_counter()
        out[name] = protocol_a(
            X, y, Y if "pi1070" in variant else None, n_splits=n_splits, draws_per_split=draws,
            extra=extra, units=list(pi["smiles"]), extra_units=keys, options=_options(variant),
            rng=np.random.default_rng(seed),
        )  # fmt: skip
        print(f"protocol A {name}: {time.perf_counter() - start:.0f} s", flush=True)
    return out


def run_protocol_b(pi, extras, ex, *, seed=0):
    """LOO on the experimental table per variant; pretraining data exclude its units."""
    src = np.isfinite(pi["X"]).all(axis=1) & ~np.isin(pi["smiles"], ex["smiles"])
    rows = ex["ok"]
    out = {}
    for name in VARIANTS:
        variant = tuple(name.split("+"))
        extra, _ = transfer_inputs(variant, list(ex["smiles"]), extras)
        with_pi = "pi1070" in variant
        out[name] = protocol_b(
            ex["X"][rows], ex["y"][rows],
            pi["X"][src] if with_pi else np.empty((0, pi["X"].shape[1])),
            pi["Y"][src] if with_pi else np.empty((0, 0)),
            extra=extra, options=_options(variant), rng=np.random.default_rng(seed),
        )  # fmt: skip
    return out


def _rows(a_summ, b_summ, tg_summ):
    return [
        ("protocol A transfer MAE (W/(m K))", f"{a_summ['mae_transfer']:.4f}"),
        ("protocol A scratch MAE (W/(m K))", f"{a_summ['mae_scratch']:.4f}"),
        ("protocol A ratio (paired)", f"{a_summ['ratio_transfer']:.3f}"),
        ("protocol A best transfer", a_summ["best_transfer"]),
        ("protocol B transfer MAE", f"{b_summ['mae_transfer']:.4f}"),
        ("protocol B scratch MAE", f"{b_summ['mae_scratch']:.4f}"),
        ("Tg 5-fold CV MAE (K)", f"{tg_summ['mae']:.1f} (n={tg_summ['n']})"),
    ]


def _variant_summary(result):
    s = result.summary()
    keep = ("mae_", "r2_", "ratio_", "wins_", "best_transfer", "n_")
    return {k: v for k, v in s.items() if k.startswith(keep)}


def _headline(res_a) -> str:
    return min(res_a, key=lambda k: res_a[k].summary()["ratio_transfer"])


def _result(res_a, res_b, tg_res, seconds, n_cp) -> dict:
    headline = _headline(res_a)
    a = res_a[headline].summary()
    b = res_b[headline].summary()
    return {
        "protocol_a_mae_transfer": a["mae_transfer"],
        "protocol_a_mae_transfer_std": a[f"mae_{a['best_transfer']}_std"],
        "protocol_a_mae_scratch": a["mae_scratch"],
        "protocol_a_mae_scratch_std": a["mae_scratch_std"],
        "protocol_a_mae_scratch_best": min(a["mae_scratch"], a["mae_scratch_mlp"]),
        "protocol_a_ratio": a["ratio_transfer"],
        "protocol_a_ratio_std": a["ratio_transfer_std"],
        "protocol_a_r2_transfer": a[f"r2_{a['best_transfer']}"],
        "protocol_a_r2_scratch": a["r2_scratch"],
        "protocol_a_best_transfer": a["best_transfer"],
        "protocol_a_draws": a["n_draws"],
        "protocol_a_variant": headline,
        "protocol_a_variant_selection": (
            "lowest mean paired transfer/scratch ratio among protocol_a_variants, all on "
            "identical splits and draws"
        ),
        "protocol_a_variants": {k: _variant_summary(v) for k, v in res_a.items()},
        "protocol_a_ratio_by_variant": {k: v.summary()["ratio_transfer"] for k, v in res_a.items()},
        "cp_source_molecules": n_cp,
        "protocol_b_mae_transfer": b["mae_transfer"],
        "protocol_b_mae_scratch": b["mae_scratch"],
        "protocol_b_mae_scratch_best": min(b["mae_scratch"], b["mae_scratch_mlp"]),
        "protocol_b_best_transfer": b["best_transfer"],
        "protocol_b_ratio": b["ratio_of_means"],
        "protocol_b_r2_transfer": b[f"r2_pooled_{b['best_transfer']}"],
        "protocol_b_r2_scratch": b["r2_pooled_scratch"],
        "protocol_b_n": b["n_draws"],
        "protocol_b_variant": headline,
        "protocol_b_learners": _variant_summary(res_b[headline]),
        "protocol_b_variants": {k: _variant_summary(v) for k, v in res_b.items()},
        "tg_cv_mae_K": tg_res.summary()["mae"],
        "tg_cv_mae_K_std": tg_res.summary()["mae_std"],
        "tg_cv_r2": tg_res.summary()["r2"],
        "tg_cv_n": tg_res.n,
        "science_seconds": seconds,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 splits x 2 draws, 3-fold Tg")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "vlab-bench-polymers"
    )
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    start = time.perf_counter()
    pi, tg, ex, cp = _load(args.cache)
    print(f"features: {time.perf_counter() - start:.0f} s", flush=True)
    extras = {name: (d["smiles"], d["X"], d["y"]) for name, d in (("tg", tg), ("cp", cp))}
    n_splits, draws = (2, 2) if args.quick else (4, 5)
    res_a = run_protocol_a(pi, extras, n_splits=n_splits, draws=draws)
    res_b = run_protocol_b(pi, extras, ex)
    print(f"protocol B: {time.perf_counter() - start:.0f} s", flush=True)
    tg_res = tg_cv(
        tg["X"][tg["ok"]], tg["y"][tg["ok"]], n_folds=3 if args.quick else 5,
        options=OPTIONS_TG, rng=np.random.default_rng(0),
    )  # fmt: skip
    n_cp = int(cp["ok"].sum())
    data = _result(res_a, res_b, tg_res, time.perf_counter() - start, n_cp)
    suffix = "-quick" if args.quick else ""
    headline = data["protocol_a_variant"]
    plot_report(res_a[headline], RESULTS / f"polymers_protocol_a{suffix}.png")
    plot_report(res_b[headline], RESULTS / f"polymers_protocol_b{suffix}.png")
    rows = _rows(res_a[headline].summary(), res_b[headline].summary(), tg_res.summary())
    rows += [(f"  ratio {k}", f"{v:.3f}") for k, v in data["protocol_a_ratio_by_variant"].items()]
    write_result(f"polymers{suffix}", data, rows)


if __name__ == "__main__":
    main()
