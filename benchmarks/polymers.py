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
removed); 28 training polymers are drawn from the pool and the rest of the pool is the
test set. Variants: ``pi1070`` (9 MD tasks), ``pi1070+tg`` (multi-task, the headline),
``tg`` (Tg only, single task). Protocol B: leave-one-out on the embedded experimental
table, network pretrained on PI1070 minus those units (+ Tg minus those units). Tg model:
5-fold CV of the same network, single task, on the merged Tg set.
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
from vlab.reports import TRANSFER_SOURCE_TASKS

#: The PI1070 source tasks named in the issue (all allowed by pi1070_source_columns).
SOURCE_TASKS = TRANSFER_SOURCE_TASKS
FEATURE_VERSION = "morgan2-1024+rdkit-desc/1"
HEADLINE = "pi1070+tg"
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

    return _cached(folder, "exp" + SOURCES["experimental_tc"].sha256, compute)


def _load(folder: Path):
    assert set(SOURCE_TASKS) <= set(pi1070_source_columns())
    pi, tg, ex = _pi1070(folder), _tg(folder), _experimental(folder)
    keep = np.isfinite(pi["F"]).all(axis=0) & (np.nanstd(pi["F"], axis=0) > 0)
    for d in (pi, tg, ex):
        d["X"] = signed_log1p(d["F"][:, keep])
        d["ok"] = np.isfinite(d["X"]).all(axis=1) & np.isfinite(d["y"])
    return pi, tg, ex


def _without(tg, units):
    mask = tg["ok"] & ~np.isin(tg["smiles"], np.asarray(units))
    return tg["X"][mask], tg["y"][mask, None], tg["smiles"][mask]


def run_protocol_a(pi, tg, *, n_splits, draws, seed=0):
    """The three pretraining variants on identical splits and draws."""
    X, y, Y = pi["X"], pi["y"], pi["Y"]
    X_tg, y_tg, u_tg = _without(tg, pi["smiles"])
    variants = {
        "pi1070": {"Y_source": Y, "options": OPTIONS},
        "pi1070+tg": {"Y_source": Y, "extra": (X_tg, y_tg), "options": OPTIONS_TG},
        "tg": {"Y_source": None, "extra": (X_tg, y_tg), "options": OPTIONS_TG},
    }
    out = {}
    for name, kw in variants.items():
        start = time.perf_counter()
        out[name] = protocol_a(
            X, y, n_splits=n_splits, draws_per_split=draws,
            units=list(pi["smiles"]), extra_units=list(u_tg), rng=np.random.default_rng(seed),
            **kw,
        )  # fmt: skip
        print(f"protocol A {name}: {time.perf_counter() - start:.0f} s", flush=True)
    return out


def run_protocol_b(pi, tg, ex, *, seed=0):
    """LOO on the experimental table; pretraining data exclude its repeat units."""
    src = np.isfinite(pi["X"]).all(axis=1) & ~np.isin(pi["smiles"], ex["smiles"])
    X_tg, y_tg, _ = _without(tg, ex["smiles"])
    rows = ex["ok"]
    return protocol_b(
        ex["X"][rows], ex["y"][rows], pi["X"][src], pi["Y"][src], extra=(X_tg, y_tg),
        options=OPTIONS_TG, rng=np.random.default_rng(seed),
    )  # fmt: skip


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


def _result(res_a, res_b, tg_res, seconds) -> dict:
    a = res_a[HEADLINE].summary()
    b = res_b.summary()
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
        "protocol_a_variant": HEADLINE,
        "protocol_a_variants": {k: _variant_summary(v) for k, v in res_a.items()},
        "protocol_b_mae_transfer": b["mae_transfer"],
        "protocol_b_mae_scratch": b["mae_scratch"],
        "protocol_b_mae_scratch_best": min(b["mae_scratch"], b["mae_scratch_mlp"]),
        "protocol_b_best_transfer": b["best_transfer"],
        "protocol_b_ratio": b["ratio_of_means"],
        "protocol_b_r2_transfer": b[f"r2_pooled_{b['best_transfer']}"],
        "protocol_b_r2_scratch": b["r2_pooled_scratch"],
        "protocol_b_n": b["n_draws"],
        "protocol_b_learners": _variant_summary(res_b),
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
    pi, tg, ex = _load(args.cache)
    print(f"features: {time.perf_counter() - start:.0f} s", flush=True)
    n_splits, draws = (2, 2) if args.quick else (4, 5)
    res_a = run_protocol_a(pi, tg, n_splits=n_splits, draws=draws)
    res_b = run_protocol_b(pi, tg, ex)
    print(f"protocol B: {time.perf_counter() - start:.0f} s", flush=True)
    tg_res = tg_cv(
        tg["X"][tg["ok"]], tg["y"][tg["ok"]], n_folds=3 if args.quick else 5,
        options=OPTIONS_TG, rng=np.random.default_rng(0),
    )  # fmt: skip
    data = _result(res_a, res_b, tg_res, time.perf_counter() - start)
    suffix = "-quick" if args.quick else ""
    plot_report(res_a[HEADLINE], RESULTS / f"polymers_protocol_a{suffix}.png")
    plot_report(res_b, RESULTS / f"polymers_protocol_b{suffix}.png")
    write_result(
        f"polymers{suffix}",
        data,
        _rows(res_a[HEADLINE].summary(), res_b.summary(), tg_res.summary()),
    )


if __name__ == "__main__":
    main()
