"""Choose how the design library is ranked, on validation data only (never the blind judge).

Run from the repository root::

    python benchmarks/design_selection.py       # writes benchmarks/results/design_selection.json

``benchmarks/design.py`` reports its library on a judge trained on a held-out third of the
polymers. Any choice made by looking at that judge would make it part of the method, so the
choices are made here, on a rehearsal of the same protocol inside the sampler's own two thirds:

1. The same hold-out as ``design.py`` (seed 2026) removes the judge's third; it is not read
   again.
2. A random third (seed 2027) of the *sampler's* polymers becomes a rehearsal judge (the same
   family: random forest on RDKit descriptors); the rest trains the rehearsal's language model,
   GP forward models and seeds, as in ``design.py``.
3. SMC runs (two chains, as in ``design.py``) give candidate pools, one per *sampling margin*
   ``m`` (the sampler aims at the target with every bound moved ``m * s_p`` inwards). The
   library of 1,000 is drawn from each pool by the likelihood of its aimed-at box (and, from the
   pool aimed at the target itself, by each ranking rule below); the rehearsal judge scores
   every library against the real target.

Ranking rules (``s_p`` is the standard deviation of property ``p`` in the training data):

* ``likelihood``: ``log P(in box)`` under the GP predictive distribution plus the domain term
  (what ``design.py`` used so far);
* ``margin-m``: the same with every box bound moved ``m * s_p`` inwards (candidates must clear
  the bound by a margin);
* ``lcb-k``: the smallest over properties of ``(mean - k * std - low) / s_p``, plus the domain
  term scaled by ``1 / 50``.

The candidates for the choice are what the product does with ``--margin m`` (``polymer-design``
parameter ``margin``): sample towards the moved bounds and rank the library by the likelihood of
that same aimed-at box. The margin of highest rehearsal in-box fraction whose library keeps mean
pairwise Tanimoto <= 0.3 and novelty >= 0.9 is written as ``chosen_margin``; ``design.py``
reads it from the JSON. The other rankings are reported for information.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time

import design as D
import numpy as np
from _common import write_result

from vlab.polymers import load_source
from vlab.polymers.design import (
    LM_SOURCES,
    NGramModel,
    fit_design_models,
    mean_pairwise_tanimoto,
    merge_results,
    novel_mask,
    parse_target,
)
from vlab.polymers.design.ranking import RULES, rank_library, shifted_target

N_LIB = 1000
SAMPLING_MARGINS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)


def main() -> None:
    target = parse_target(D.TARGET)
    labelled = D._labelled()
    sampler, _blind = D._split(labelled, np.random.default_rng(2026))
    del _blind  # the blind judge's third is never used here
    inner, rehearsal = D._split(sampler, np.random.default_rng(2027))
    held = set().union(*(set(s) for s, _ in sampler.values()))
    blind_units = {s for name in labelled for s in labelled[name][0]} - held
    rehearsal_units = set().union(*(set(s) for s, _ in rehearsal.values()))
    hidden = blind_units | rehearsal_units
    print(
        f"rehearsal sampler: { {k: len(v[1]) for k, v in inner.items()} }, "
        f"rehearsal judge: { {k: len(v[1]) for k, v in rehearsal.items()} }",
        flush=True,
    )
    t0 = time.perf_counter()
    judge = D.Judge(rehearsal)
    print(f"rehearsal judge CV R2 {judge.cv_r2} ({time.perf_counter() - t0:.0f} s)", flush=True)

    every = {}
    for source in LM_SOURCES:
        every.update(dict.fromkeys(load_source(source, normalize=True).smiles))
    lm_train = [s for s in every if s not in hidden]
    seeds = [s for s in load_source(D.SEEDS_SOURCE, normalize=True).smiles if s not in hidden]
    lm = NGramModel(order=10, n_augment=5, random_state=0).fit(lm_train)
    data = {name: (list(s), y) for name, (s, y) in inner.items()}
    gp, val = fit_design_models(data, rng=7, domain_weight=D.DOMAIN_WEIGHT)
    scale = {name: float(np.std(y)) for name, (_, y) in inner.items()}
    everything = list(dict.fromkeys([*every, *hidden]))
    rules, pools = {}, {}
    for margin in SAMPLING_MARGINS:
        aim = shifted_target(target, scale, margin)
        D._STATE.update(lm=lm, predictor=gp, target=aim, seeds=seeds, log_domain=gp.log_domain)
        chains, wall = D._run(True, 150)
        pool = merge_results(chains)
        pools[margin] = {"size": len(pool), "minutes_2_cores": wall / 60, "target": str(aim)}
        print(f"sampling margin {margin}: pool {len(pool)} in {wall / 60:.1f} min", flush=True)
        domain = gp.log_domain(list(pool.smiles))
        hits = target.contains({p: (pool.mean[p], pool.std[p]) for p in pool.mean})
        for rule in ("aim", *(RULES if margin == 0 else ())):
            if rule == "aim":  # what `vlab polymers design --margin m` does
                order = np.array(pool.top(N_LIB))
            else:
                order = rank_library(pool.mean, pool.std, target, scale, domain, rule)[:N_LIB]
            lib = [pool.smiles[i] for i in order]
            key = f"margin {margin:g}" if rule == "aim" else f"margin {margin:g}, rank {rule}"
            rules[key] = {
                "rehearsal_judge_in_box_fraction": float(judge.in_box(target, lib).mean()),
                "self_in_box_fraction": float(hits[order].mean()),
                "mean_pairwise_tanimoto": mean_pairwise_tanimoto(lib),
                "novel_fraction": float(novel_mask(lib, everything, normalize=True).mean()),
            }
            print(key, rules[key], flush=True)
    ok = {  # the product's method: sample and rank by the likelihood of the aimed-at box
        r: v
        for r, v in rules.items()
        if "rank" not in r and v["mean_pairwise_tanimoto"] <= 0.3 and v["novel_fraction"] >= 0.9
    }
    chosen = max(ok, key=lambda r: ok[r]["rehearsal_judge_in_box_fraction"])
    out = {
        "chosen": chosen,
        "chosen_margin": float(chosen.split()[1]),
        "rules": rules,
        "constraints": "mean pairwise Tanimoto <= 0.3 and novel >= 0.9",
        "rehearsal": {
            "seed": 2027,
            "judge_cv5_r2": judge.cv_r2,
            "judge_n_train": {k: len(v[1]) for k, v in rehearsal.items()},
            "sampler_n_train": {k: len(v[1]) for k, v in inner.items()},
            "forward_models_validation": val,
            "pools": pools,
            "scale": scale,
            "library_size": N_LIB,
        },
        "blind_third": "removed with the seed of design.py (2026) and never read",
    }
    rows = [
        (
            r,
            f"{v['rehearsal_judge_in_box_fraction']:.3f} (self {v['self_in_box_fraction']:.2f}, "
            f"Tanimoto {v['mean_pairwise_tanimoto']:.3f}, novel {v['novel_fraction']:.2f})",
        )
        for r, v in rules.items()
    ]
    rows.append(("chosen", chosen))
    write_result("design_selection", out, rows)


if __name__ == "__main__":
    main()
