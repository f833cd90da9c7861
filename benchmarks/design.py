"""Benchmark of iQSPR inverse design, confirmed by an independent judge on held-out polymers.

Run from the repository root::

    python benchmarks/design.py                 # writes benchmarks/results/design.json
    python benchmarks/design.py --quick         # small library; writes design_quick.json

What it does
------------
1. **Hold-out.** A random third (seed 2026) of the polymers with a thermal conductivity
   (RadonPy PI1070, MD, W/(m K)) and of those with a Tg (PoLyInfo via polymon_Tg, K) is set
   aside. Units are matched by :func:`~vlab.polymers.smiles.normalize_repeat_unit`; every
   held-out unit is removed from everything the sampler sees: the language model's training
   set (PI1070, both PoLyInfo Tg sets, the Wu et al. seeds), the forward models' data and the
   seeds.
2. **The judge** is a random forest (150 trees) on RDKit 2D descriptors of the
   hydrogen-capped repeat unit, one per property, trained on the held-out third only: another
   model family and another feature set than the sampler's models. Its skill is its 5-fold CV
   R^2 on that third.
3. **The sampler's forward models** (``--model``): ``gp`` (default) a Tanimoto-kernel Gaussian
   process per property on binary Morgan fingerprints (:class:`TanimotoGPModels`) whose
   predictive std grows away from the training units, with an applicability-domain term
   (nearest-training Tanimoto similarity) whose threshold is the 10th percentile of the
   nearest-training similarity of a validation fifth of the sampler's own data (never the
   judge's third; :func:`fit_design_models`); ``ridge`` the earlier Bayesian ridge on log
   Morgan counts, no domain term.
4. **Design.** Two SMC chains (100 particles, adaptive tempering) in two processes towards
   ``thermal_conductivity >= 0.3 W/(m K)`` and ``Tg >= 450 K``, aimed ``--margin`` standard
   deviations of the sampler's training values past each bound (default: the margin that
   ``benchmarks/design_selection.py`` chose on the sampler's own data, never on the judge);
   the library is the best ``--n`` distinct candidates by the likelihood of that aimed-at box.
   The same run with the likelihood off (prior only)
   gives the baseline library, ranked by the same likelihood (generate-then-screen), and a
   random prior-only library.

Reported: the judge's in-box fraction of the library, of both prior-only libraries and of the
training data (the base rate); the self-judged in-box fraction (the sampler's own models, as
before); valid, novel (against all data, held-out included) fractions; mean pairwise Tanimoto;
proposals per wall and per CPU second per core; the ESS trace and resamplings per chain.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argparse
import json
import multiprocessing as mp
import time
from collections import Counter

import numpy as np
from _common import RESULTS, write_result
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from vlab.polymers import RDKitDescriptors, load_source
from vlab.polymers.design import (
    LM_SOURCES,
    MorganRidgeModels,
    NGramModel,
    assess,
    draw_grid,
    fit_design_models,
    mean_pairwise_tanimoto,
    merge_results,
    nearest_neighbours,
    novel_mask,
    parse_target,
    run_smc,
    shifted_target,
    strain_flags,
)
from vlab.polymers.smiles import is_valid_repeat_unit

TARGET = ["thermal_conductivity>=0.3 W/(m K)", "Tg>=450 K"]
PROPERTIES = {
    "thermal_conductivity": ("radonpy_pi1070", "thermal_conductivity"),
    "Tg": ("polymon_tg", "Tg"),
}
SEEDS_SOURCE = "hightcond_initial_smiles"
DOMAIN_WEIGHT = 50.0  # log-likelihood lost per unit of Tanimoto similarity below the threshold
N_PARTICLES = 100


def _labelled() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Normalised repeat units and values of each property (NaN dropped)."""
    out = {}
    for name, (source, column) in PROPERTIES.items():
        table = load_source(source, normalize=True)
        y = table.column(column)
        keep = np.isfinite(y)
        out[name] = (np.array(table.smiles)[keep], y[keep])
    return out


def _split(labelled, rng) -> tuple[dict, dict]:
    """Sampler's two thirds and judge's third of each property."""
    sampler, judge = {}, {}
    for name, (smiles, y) in labelled.items():
        perm = rng.permutation(len(y))
        cut = len(y) // 3
        judge[name] = (smiles[perm[:cut]], y[perm[:cut]])
        sampler[name] = (smiles[perm[cut:]], y[perm[cut:]])
    held = set().union(*(set(s) for s, _ in judge.values()))
    for name, (smiles, y) in sampler.items():  # a unit held out for one property is held out
        keep = np.array([s not in held for s in smiles])
        sampler[name] = (smiles[keep], y[keep])
    return sampler, judge


class Judge:
    """Random forest on RDKit descriptors, one per property (the independent judge)."""

    def __init__(self, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        units = np.concatenate([s for s, _ in data.values()])
        self.features = RDKitDescriptors(normalize=False, on_error="nan").fit(units[:300])
        self.models, self.cv_r2, self.oof = {}, {}, {}
        for name, (smiles, y) in data.items():
            x = self.features.transform(smiles)
            forest = RandomForestRegressor(
                n_estimators=150, max_features="sqrt", min_samples_leaf=2, random_state=0, n_jobs=1
            )
            pred = cross_val_predict(forest, x, y, cv=KFold(5, shuffle=True, random_state=0))
            self.cv_r2[name] = float(r2_score(y, pred))
            self.oof[name] = dict(zip(smiles, pred))
            self.models[name] = forest.fit(x, y)

    def __call__(self, smiles) -> dict[str, np.ndarray]:
        x = self.features.transform(list(smiles))
        return {name: m.predict(x) for name, m in self.models.items()}

    def in_box(self, target, smiles) -> np.ndarray:
        pred = self(smiles)
        return target.contains({p: (v, np.zeros_like(v)) for p, v in pred.items()})


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
        n_particles=N_PARTICLES,
        n_steps=n_steps,
        likelihood=likelihood,
        log_domain=s["log_domain"],
    )


def _run(likelihood: bool, n_steps: int) -> tuple[list, float]:
    start = time.perf_counter()
    with mp.get_context("fork").Pool(2) as pool:
        chains = pool.map(_chain, [(11, likelihood, n_steps), (12, likelihood, n_steps)])
    return chains, time.perf_counter() - start


def _predictor(kind: str, sampler) -> tuple:
    data = {name: (list(s), y) for name, (s, y) in sampler.items()}
    if kind == "ridge":
        name = "BayesianRidge on log Morgan counts (r=2, 1024 bits), no domain term"
        return MorganRidgeModels().fit(data), None, name, {}
    gp, val = fit_design_models(data, rng=7, domain_weight=DOMAIN_WEIGHT)
    noise = {k: round(v, 3) for k, v in gp.noise_.items()}
    name = (
        f"Tanimoto-kernel GP per property on binary Morgan fingerprints (r=2, 2048 bits), "
        f"noise ratios {noise}; applicability domain: nearest-training Tanimoto >= "
        f"{gp.domain_threshold:.3f} (weight {DOMAIN_WEIGHT:g} per unit similarity), "
        "threshold from a validation fifth of the sampler's data"
    )
    return gp, gp.log_domain, name, val


def _margin(given: float | None) -> tuple[float, str]:
    """The sampling margin: as given, else the one chosen on validation data."""
    if given is not None:
        return given, "given on the command line"
    chosen = RESULTS / "design_selection.json"
    if not chosen.exists():
        raise SystemExit(f"{chosen} is missing: run benchmarks/design_selection.py first")
    value = json.loads(chosen.read_text())["chosen_margin"]
    return float(value), "benchmarks/design_selection.py (rehearsal judge on the sampler's data)"


def _hits(target, res) -> np.ndarray:
    """Predicted means of ``res`` inside the real target (not the aimed-at box)."""
    return target.contains({p: (res.mean[p], res.std[p]) for p in res.mean})


def _chain_stats(chains) -> dict:
    return {
        "n_resamples_per_chain": [len(c.stats.resample_steps) for c in chains],
        "resample_steps_per_chain": [list(c.stats.resample_steps) for c in chains],
        "ess_trace_per_chain": [np.round(c.stats.ess, 2).tolist() for c in chains],
        "beta_trace_per_chain": [np.round(c.stats.betas, 5).tolist() for c in chains],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="library size")
    parser.add_argument("--steps", type=int, default=150, help="SMC steps per chain")
    parser.add_argument("--model", choices=("gp", "ridge"), default="gp")
    parser.add_argument("--quick", action="store_true", help="library of 200, 30 steps")
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="sampling margin in training stds (default: chosen_margin of "
        "design_selection.json, chosen without the judge)",
    )
    args = parser.parse_args()
    n_lib, n_steps = (200, 30) if args.quick else (args.n, args.steps)
    rng = np.random.default_rng(2026)
    target = parse_target(TARGET)

    labelled = _labelled()
    sampler, judge_data = _split(labelled, rng)
    held = set().union(*(set(s) for s, _ in judge_data.values()))
    print(
        f"sampler: { {k: len(v[1]) for k, v in sampler.items()} }, "
        f"judge: { {k: len(v[1]) for k, v in judge_data.items()} }",
        flush=True,
    )

    t0 = time.perf_counter()
    judge = Judge(judge_data)
    judge_seconds = time.perf_counter() - t0
    print(f"judge CV R2 {judge.cv_r2} ({judge_seconds:.0f} s)", flush=True)

    every = {}
    for source in LM_SOURCES:
        every.update(dict.fromkeys(load_source(source, normalize=True).smiles))
    lm_train = [s for s in every if s not in held]
    seeds = [s for s in load_source(SEEDS_SOURCE, normalize=True).smiles if s not in held]
    t0 = time.perf_counter()
    lm = NGramModel(order=10, n_augment=5, random_state=0).fit(lm_train)
    lm_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    predictor, log_domain, model_name, val_skill = _predictor(args.model, sampler)
    model_seconds = time.perf_counter() - t0
    print(f"forward models: {model_name} ({model_seconds:.0f} s)", flush=True)
    margin, margin_source = _margin(args.margin)
    scale = {name: float(np.std(y)) for name, (_, y) in sampler.items()}
    aim = shifted_target(target, scale, margin)
    print(f"aiming at {aim} (margin {margin:g}, {margin_source})", flush=True)
    _STATE.update(lm=lm, predictor=predictor, target=aim, seeds=seeds, log_domain=log_domain)

    chains, wall = _run(True, n_steps)
    prior_chains, prior_wall = _run(False, n_steps)
    res, prior = merge_results(chains), merge_results(prior_chains)
    lib = res.top(n_lib)
    lib_smiles = [res.smiles[i] for i in lib]
    prior_lib = [prior.smiles[i] for i in prior.top(n_lib)]
    pick = np.random.default_rng(3).choice(len(prior), size=min(n_lib, len(prior)), replace=False)
    prior_random = [prior.smiles[i] for i in pick]

    everything = list(dict.fromkeys([*every, *held]))
    novel = novel_mask(lib_smiles, everything, normalize=True)
    judged = judge.in_box(target, lib_smiles)
    plausible = np.array([assess(s).plausible for s in lib_smiles])
    prior_plausible = np.array([assess(s).plausible for s in prior_lib])
    flag_counts = Counter(f for s in lib_smiles for f in strain_flags(s))
    judge_train = list(held)
    # judge's own units: out-of-fold predictions where the unit has the label, else the forest
    fitted = judge(judge_train)
    oof = {
        p: np.array([judge.oof[p].get(s, fitted[p][k]) for k, s in enumerate(judge_train)])
        for p in PROPERTIES
    }
    judged_train = target.contains({p: (v, np.zeros_like(v)) for p, v in oof.items()})
    sampler_units = sorted(set().union(*(set(s) for s, _ in sampler.values())))
    sampler_units = list(np.random.default_rng(4).choice(sampler_units, 1000, replace=False))
    judged_sampler = judge.in_box(target, sampler_units)
    measured = {b.name: float(np.mean(labelled[b.name][1] >= b.low)) for b in target.boxes}
    _, sim = nearest_neighbours(lib_smiles, [s for s in every if s not in held])
    st = res.stats
    top10 = lib[:10]
    legends = [
        f"λ {res.mean['thermal_conductivity'][i]:.2f} W/(m K), Tg {res.mean['Tg'][i]:.0f} K"
        for i in top10
    ]
    png = draw_grid([res.smiles[i] for i in top10], RESULTS / "design_top10.png", legends=legends)
    jt = judge([res.smiles[i] for i in top10])
    out = {
        "judge_in_box_fraction": float(judged.mean()),
        "judge_prior_only_in_box_fraction": float(judge.in_box(target, prior_lib).mean()),
        "judge_prior_only_random_in_box_fraction": float(judge.in_box(target, prior_random).mean()),
        "judge_base_rate": {
            "judge_training_units": float(judged_train.mean()),
            "judge_training_units_note": "out-of-fold for a unit's own label, forest otherwise",
            "sampler_training_units": float(judged_sampler.mean()),
            "sampler_training_units_note": "judge's forest on 1,000 random sampler units",
            "measured_fraction_per_property": measured,
        },
        "judge": {
            "model": "RandomForestRegressor(150 trees, max_features=sqrt, min_samples_leaf=2) "
            "on RDKit 2D descriptors of the H-capped repeat unit, one per property",
            "trained_on": "the held-out third only",
            "n_train": {k: len(v[1]) for k, v in judge_data.items()},
            "cv5_r2": judge.cv_r2,
            "fit_seconds": judge_seconds,
        },
        "library_plausible_fraction": float(plausible.mean()),
        "prior_only_plausible_fraction": float(prior_plausible.mean()),
        "judge_in_box_fraction_plausible": float(judged[plausible].mean()),
        "library_strain_flag_counts": dict(sorted(flag_counts.items())),
        "plausibility": "vlab.polymers.design.assess: SA score <= 6 and no strain flag; the "
        "library is ranked by the likelihood alone, these keys say how much of it is plausible",
        "self_in_box_fraction": float(_hits(target, res)[lib].mean()),
        "self_judged_by": "the sampler's own forward models (predicted means)",
        "self_prior_only_in_box_fraction": float(_hits(target, prior)[prior.top(n_lib)].mean()),
        "margin": margin,
        "margin_chosen_by": margin_source,
        "aimed_at": str(aim),
        "ranking": "likelihood of the aimed-at box plus the domain term (prior-only libraries "
        "are screened by the same)",
        "library_size": len(lib),
        "valid_fraction": float(np.mean([is_valid_repeat_unit(s) for s in lib_smiles])),
        "novel_fraction": float(novel.mean()),
        "novelty_check": "normalize_repeat_unit against all data (held-out third included)",
        "mean_pairwise_tanimoto": mean_pairwise_tanimoto(lib_smiles),
        "library_nearest_training_tanimoto_median": float(np.median(sim)),
        "library_nearest_training_tanimoto_below_0.4": float(np.mean(sim < 0.4)),
        "proposals_per_cpu_second_per_core": st.n_proposals / st.cpu_seconds,
        "proposals_per_wall_second_per_core": st.n_proposals / (2 * wall),
        "library_minutes_2_cores": wall / 60,
        "prior_only_minutes_2_cores": prior_wall / 60,
        "cpu_seconds_per_library_candidate": st.cpu_seconds / len(lib),
        "machine_shared": "2 cores shared with other jobs: speed figures are noisy",
        "n_candidates": len(res),
        "prior_only_n_candidates": len(prior),
        "regrowth_valid_fraction": st.valid_fraction,
        "proposal_failure_rate": st.failure_rate,
        "acceptance_rate": st.acceptance_rate,
        "smc": {
            **_chain_stats(chains),
            "schedule": "adaptive (conditional ESS 0.9)",
            "ess_threshold": 0.5,
        },
        "prior_only_n_resamples_per_chain": [len(c.stats.resample_steps) for c in prior_chains],
        "n_steps_per_chain": n_steps,
        "n_particles_per_chain": N_PARTICLES,
        "n_chains": 2,
        "target": str(target),
        "hold_out": {
            "fraction": 1 / 3,
            "seed": 2026,
            "n_held_out_units": len(held),
            "sampler_n_train": {k: len(v[1]) for k, v in sampler.items()},
            "language_model_n_units": len(lm_train),
            "n_seeds": len(seeds),
        },
        "forward_models": model_name,
        "forward_models_fit_seconds": model_seconds,
        "forward_models_validation": val_skill,
        "language_model": {
            "order": lm.order,
            "n_augment": lm.n_augment,
            "n_molecules": lm.n_molecules_,
            "fit_seconds": lm_seconds,
        },
        "top10": [
            {
                "smiles": res.smiles[i],
                "thermal_conductivity": float(res.mean["thermal_conductivity"][i]),
                "thermal_conductivity_std": float(res.std["thermal_conductivity"][i]),
                "Tg_K": float(res.mean["Tg"][i]),
                "Tg_std_K": float(res.std["Tg"][i]),
                "judge_thermal_conductivity": float(jt["thermal_conductivity"][k]),
                "judge_Tg_K": float(jt["Tg"][k]),
                "log_likelihood": float(res.log_likelihood[i]),
                "nearest_training_tanimoto": float(sim[k]),
            }
            for k, i in enumerate(top10)
        ],
        "top10_image": str(png.relative_to(RESULTS.parent.parent)),
    }
    rows = [
        (
            "judge in box: library / prior screened / prior random",
            f"{out['judge_in_box_fraction']:.3f} / {out['judge_prior_only_in_box_fraction']:.3f}"
            f" / {out['judge_prior_only_random_in_box_fraction']:.3f}",
        ),
        (
            "judge base rate: judge's data / sampler's data",
            f"{judged_train.mean():.3f} / {judged_sampler.mean():.3f}",
        ),
        (
            "judge CV R2 (λ, Tg)",
            f"{judge.cv_r2['thermal_conductivity']:.2f}, {judge.cv_r2['Tg']:.2f}",
        ),
        ("self-judged in box", f"{out['self_in_box_fraction']:.3f}"),
        (
            "plausible: library / prior screened; judge in box among plausible",
            f"{plausible.mean():.3f} / {prior_plausible.mean():.3f}; "
            f"{out['judge_in_box_fraction_plausible']:.3f}",
        ),
        ("valid / novel", f"{out['valid_fraction']:.3f} / {out['novel_fraction']:.3f}"),
        ("mean pairwise Tanimoto", f"{out['mean_pairwise_tanimoto']:.3f}"),
        (
            "proposals/s per core (CPU / wall)",
            f"{out['proposals_per_cpu_second_per_core']:.0f} / "
            f"{out['proposals_per_wall_second_per_core']:.0f}",
        ),
        ("library minutes (2 cores)", f"{out['library_minutes_2_cores']:.2f}"),
        ("resamplings per chain", str(out["smc"]["n_resamples_per_chain"])),
    ]
    name = "design_quick" if args.quick else "design"
    (RESULTS / f"{name}.json").unlink(missing_ok=True)  # no keys of an earlier protocol
    write_result(name, out, rows)


if __name__ == "__main__":
    main()
