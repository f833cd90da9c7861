"""Benchmark of iQSPR inverse design: proposal rate, library quality, prior-only baseline.

Run from the repository root::

    python benchmarks/design.py                 # writes benchmarks/results/design.json
    python benchmarks/design.py --quick         # fewer steps, canonical novelty check

What it does
------------
1. Trains the order-10 n-gram language model (5 reordered SMILES per unit) on the public
   repeat units in ``--data`` (PI1070, both PoLyInfo Tg sets, the Wu et al. seeds).
2. Fits a cheap real predictor: Bayesian ridge on log Morgan counts (radius 2, 1024 bits),
   thermal conductivity from PI1070 (W/(m K)) and Tg from polymon_Tg (degC -> K), with
   predictive standard deviations from ``BayesianRidge.predict(return_std=True)``.
3. Runs two independent SMC chains in two processes (100 particles each) towards
   ``thermal_conductivity >= 0.3 W/(m K)`` and ``Tg >= 450 K``, merges the distinct
   candidates, and ranks them by likelihood: the library is the best ``--n`` of them.
4. Repeats step 3 with the likelihood switched off (prior only).

Reported: the language model's fit time and milliseconds per prefix of ``generate_ids``
(measured ~0.3 ms); proposals per CPU second (one core; validation and prediction included) and per
wall second per core; the wall minutes of the 2-core run; fractions of valid, novel
(not in the training data) and in-box (predicted means) library members; the hit rates of all
generated candidates and of the final particles, with and without the likelihood; the mean
pairwise Tanimoto similarity; and a grid image of the ten best candidates.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argparse
import csv
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, write_result
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from sklearn.linear_model import BayesianRidge

from vlab.polymers.design import (
    NGramModel,
    draw_grid,
    mean_pairwise_tanimoto,
    merge_results,
    nearest_neighbours,
    novel_mask,
    parse_target,
    run_smc,
)
from vlab.polymers.smiles import canonicalize_many, is_valid_repeat_unit

TARGET = ["thermal_conductivity>=0.3 W/(m K)", "Tg>=450 K"]
_GEN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)


def _rows(data: Path, name: str) -> list[dict[str, str]]:
    with (data / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _features(smiles: list[str]) -> np.ndarray:
    x = np.array([_GEN.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles])
    return np.log1p(x)


class RidgePredictor:
    """Bayesian ridge forward models of thermal conductivity and Tg (a cheap real predictor)."""

    def __init__(self, data: Path) -> None:
        pi = [r for r in _rows(data, "RadonPy_PI1070.csv") if r["thermal_conductivity"]]
        self.lam = BayesianRidge().fit(
            _features([r["smiles"] for r in pi]),
            np.array([float(r["thermal_conductivity"]) for r in pi]),
        )
        tg = _rows(data, "polymon_Tg.csv")
        good, bad = canonicalize_many([r["Smiles"] for r in tg])
        keep = [i for i in range(len(tg)) if i not in set(bad.indices)]
        self.tg = BayesianRidge().fit(
            _features(good), np.array([float(tg[i]["Tg"]) + 273.15 for i in keep])
        )

    def __call__(self, smiles: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        x = _features(smiles)
        return {
            "thermal_conductivity": self.lam.predict(x, return_std=True),
            "Tg": self.tg.predict(x, return_std=True),
        }


_STATE: dict = {}


def _chain(args: tuple[int, bool, int]):
    seed, likelihood, n_steps = args
    s = _STATE
    return run_smc(
        s["seeds"],
        s["lm"],
        s["predictor"],
        s["target"],
        rng=seed,
        n_particles=100,
        n_steps=n_steps,
        likelihood=likelihood,
    )


def _run(likelihood: bool, n_steps: int) -> tuple[object, float]:
    start = time.perf_counter()
    with mp.get_context("fork").Pool(2) as pool:
        chains = pool.map(_chain, [(11, likelihood, n_steps), (12, likelihood, n_steps)])
    return chains, time.perf_counter() - start


def _generation_ms(lm, seeds: list[str]) -> float:
    """Milliseconds per prefix to continue random prefixes of 100 seeds (one core)."""
    ids = [lm.encode(s) for s in seeds[:100] if "[" not in s]
    rng = np.random.default_rng(0)
    prefixes = [x[: rng.integers(1, len(x))] for x in ids]
    start = time.perf_counter()
    lm.generate_ids(prefixes, rng=rng, max_tokens=200)
    return 1e3 * (time.perf_counter() - start) / len(prefixes)


def _library(result, n: int) -> list[int]:
    return result.top(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--n", type=int, default=1000, help="library size")
    parser.add_argument("--steps", type=int, default=150, help="SMC steps per chain")
    parser.add_argument("--quick", action="store_true", help="20 steps, canonical novelty")
    args = parser.parse_args()
    n_steps = 20 if args.quick else args.steps
    data = args.data
    train = (
        [r["smiles"] for r in _rows(data, "RadonPy_PI1070.csv")]
        + [r["Smiles"] for r in _rows(data, "polymon_Tg.csv")]
        + [r["SMILES"] for r in _rows(data, "polymon_tg_raw.csv")]
        + [r["smiles"] for r in _rows(data, "HighTCond_initial_SMILES.csv")]
    )
    t0 = time.perf_counter()
    lm = NGramModel(order=10, n_augment=5).fit(train)
    lm_seconds = time.perf_counter() - t0
    predictor = RidgePredictor(data)
    target = parse_target(TARGET)
    seeds = [r["smiles"] for r in _rows(data, "HighTCond_initial_SMILES.csv")]
    _STATE.update(lm=lm, predictor=predictor, target=target, seeds=seeds)

    chains, wall = _run(True, n_steps)
    prior_chains, prior_wall = _run(False, n_steps)
    res, prior = merge_results(chains), merge_results(prior_chains)
    lib = _library(res, args.n)
    lib_smiles = [res.smiles[i] for i in lib]
    train_canonical = canonicalize_many(train)[0]
    novel = novel_mask(lib_smiles, train_canonical, normalize=not args.quick)
    prior_lib = _library(prior, args.n)
    final_hits = [float(target.contains(predictor(list(r.particles))).mean()) for r in (res, prior)]
    top10 = lib[:10]
    legends = [
        f"k {res.mean['thermal_conductivity'][i]:.2f} W/(m K), Tg {res.mean['Tg'][i]:.0f} K"
        for i in top10
    ]
    png = draw_grid([res.smiles[i] for i in top10], RESULTS / "design_top10.png", legends=legends)
    nn, sim = nearest_neighbours(lib_smiles[:10], train_canonical)
    st = res.stats
    out = {
        "proposals_per_second_per_core": st.proposals_per_cpu_second,
        "proposals_per_wall_second_per_core": st.n_proposals / (2 * wall),
        "library_minutes_2_cores": wall / 60,
        "library_size": len(lib),
        "valid_fraction": float(np.mean([is_valid_repeat_unit(s) for s in lib_smiles])),
        "novel_fraction": float(novel.mean()),
        "novelty_check": "normalize_repeat_unit" if not args.quick else "canonical SMILES",
        "hit_rate": float(res.hits()[lib].mean()),
        "candidate_hit_rate": res.hit_rate,
        "final_particles_hit_rate": final_hits[0],
        "prior_only_hit_rate": prior.hit_rate,
        "prior_only_final_particles_hit_rate": final_hits[1],
        "prior_only_library_hit_rate": float(prior.hits()[prior_lib].mean()),
        "prior_only_minutes_2_cores": prior_wall / 60,
        "mean_pairwise_tanimoto": mean_pairwise_tanimoto(lib_smiles),
        "n_candidates": len(res),
        "n_candidate_hits": int(res.hits().sum()),
        "prior_only_n_candidates": len(prior),
        "regrowth_valid_fraction": st.valid_fraction,
        "proposal_failure_rate": st.failure_rate,
        "acceptance_rate": st.acceptance_rate,
        "n_resamples_per_chain": len(st.resample_steps) / 2,
        "n_steps_per_chain": n_steps,
        "n_particles_per_chain": 100,
        "n_chains": 2,
        "target": str(target),
        "language_model": {
            "order": lm.order,
            "n_augment": lm.n_augment,
            "n_molecules": lm.n_molecules_,
            "n_nodes": lm.n_nodes_,
            "fit_seconds": lm_seconds,
            "generate_ms_per_prefix": _generation_ms(lm, seeds),
        },
        "predictor": "BayesianRidge on log Morgan counts (r=2, 1024 bits); PI1070 λ, polymon Tg",
        "top10": [
            {
                "smiles": res.smiles[i],
                "thermal_conductivity": float(res.mean["thermal_conductivity"][i]),
                "Tg_K": float(res.mean["Tg"][i]),
                "log_likelihood": float(res.log_likelihood[i]),
                "nearest_training": nn[k],
                "tanimoto": float(sim[k]),
            }
            for k, i in enumerate(top10)
        ],
        "top10_image": str(png.relative_to(RESULTS.parent.parent)),
    }
    rows = [
        ("proposals/s per core (CPU)", f"{out['proposals_per_second_per_core']:.0f}"),
        ("proposals/s per core (wall)", f"{out['proposals_per_wall_second_per_core']:.0f}"),
        ("library minutes (2 cores)", f"{out['library_minutes_2_cores']:.2f}"),
        (
            "valid / novel / hit",
            f"{out['valid_fraction']:.3f} / {out['novel_fraction']:.3f} / {out['hit_rate']:.3f}",
        ),
        ("candidate hit rate: likelihood / prior", f"{res.hit_rate:.3f} / {prior.hit_rate:.3f}"),
        ("final particles hit: likelihood / prior", f"{final_hits[0]:.2f} / {final_hits[1]:.2f}"),
        ("mean pairwise Tanimoto", f"{out['mean_pairwise_tanimoto']:.3f}"),
    ]
    write_result("design", out, rows)


if __name__ == "__main__":
    main()
