"""Which forward models should drive the design? Compared on held-out polymers, with their cost.

Run from the repository root::

    python benchmarks/design_models.py          # writes benchmarks/results/design_models.json

The data are exactly the sampler's data of ``benchmarks/design.py`` (its two thirds: the
judge's held-out third is never read here). A random fifth of each property (seed 7, the split
:func:`~vlab.polymers.design.fit_design_models` uses to choose the domain threshold) is held
out; each candidate is fitted on the rest and scored on that fifth:

* ``gp``: the design's Tanimoto-kernel GP on binary Morgan fingerprints (r=2, 2048 bits);
* ``net``: :class:`~vlab.polymers.PolymerPropertyModel` without descriptors, a bootstrap
  ensemble of 5 networks on count Morgan fingerprints (r=2, 1024 bits);
* ``net_desc``: the same with RDKit 2D descriptors (the Tg network of ``vlab.polymers``);
* ``transfer`` (thermal conductivity only): the transfer-learned model of ``vlab polymers
  transfer``: a multi-task network pretrained on the other PI1070 MD properties (density, Cp,
  ...; never λ or diffusivity) of every PI1070 unit except the validation fifth and the
  judge's third, with a ridge head on its predicted properties
  (:class:`~vlab.polymers.transfer.Sim2RealRegressor`, ``outputs``, 16 bootstrap heads) fitted
  to λ of the fit part; features: count Morgan fingerprints and RDKit descriptors;
* ``tg_net`` (Tg only): the Tg network of ``vlab polymers transfer`` (``tg_cv``: two
  multi-layer perceptrons (512, 128) on signed-log count Morgan fingerprints and RDKit
  descriptors, :func:`~vlab.polymers.transfer.pretrain` with its default options); its std is
  the spread of its two members;
* ``gp+net``: an ensemble of ``gp`` and ``net`` (mean of the means; variance the mean of the
  variances plus the variance of the means).

Reported per property and model: R^2, MAE, the RMS of the z-scores (1: calibrated std), the
coverage of the ±1σ and ±1.96σ intervals, fit seconds and the milliseconds per repeat unit
to featurise and predict (batches of 200, median of 3): what one SMC proposal costs. The
model with the best held-out R^2 among those whose cost lets the 1,000-candidate library
(about 30,000 proposals per chain, two chains on two cores) finish within 15 minutes is
named ``chosen``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time

import numpy as np
from _common import median_time, write_result
from design import PROPERTIES, _labelled, _split
from sklearn.metrics import r2_score

from vlab.polymers import PolymerPropertyModel
from vlab.polymers.design import TanimotoGPModels

PROPOSALS_PER_CHAIN = 30_000  # 100 particles x 150 steps x ~2 evaluations
BUDGET_MINUTES = 15.0


class _Net:
    def __init__(self, name: str, descriptors: bool) -> None:
        self.model = PolymerPropertyModel(n_bits=1024, descriptors=descriptors, random_state=0)
        self.name = name

    def fit(self, smiles, y):
        self.model.fit(list(smiles), y)
        return self

    def predict(self, smiles):
        return self.model.predict(list(smiles), return_std=True)


class _Transfer:
    """Pretrained on PI1070's other MD properties, a ridge head on its outputs for λ."""

    name = "transfer"

    def __init__(self, exclude: set[str]) -> None:
        self.exclude = exclude

    def fit(self, smiles, y):
        from vlab.polymers import load_source, pi1070_source_columns
        from vlab.polymers.transfer import (
            PretrainOptions,
            Sim2RealRegressor,
            featurize,
            pretrain,
            signed_log1p,
        )

        table = load_source("radonpy_pi1070", normalize=True)
        columns = pi1070_source_columns()
        rows = [i for i, u in enumerate(table.smiles) if u not in self.exclude]
        units = [table.smiles[i] for i in rows]
        Y = np.column_stack([table.column(c)[rows] for c in columns])
        X = signed_log1p(featurize(units, normalized=True))
        self.keep = np.isfinite(X).all(axis=0)
        net = pretrain(X[:, self.keep], Y, options=PretrainOptions(), rng=np.random.default_rng(0))
        self.model = Sim2RealRegressor(net, learner="outputs", random_state=0)
        self.model.fit(self._x(smiles), y)
        return self

    def _x(self, smiles):
        from vlab.polymers.transfer import featurize, signed_log1p

        X = signed_log1p(featurize(list(smiles), normalized=True))[:, self.keep]
        return np.nan_to_num(X)

    def predict(self, smiles):
        return self.model.predict(self._x(smiles), return_std=True)


class _TgNet:
    """The Tg network of the transfer module, single task."""

    name = "tg_net"

    def fit(self, smiles, y):
        from vlab.polymers.transfer import PretrainOptions, pretrain

        X = self._x(smiles)
        self.net = pretrain(X, y[:, None], options=PretrainOptions(), rng=np.random.default_rng(0))
        return self

    def _x(self, smiles):
        from vlab.polymers.transfer import featurize, signed_log1p

        return np.nan_to_num(signed_log1p(featurize(list(smiles), normalized=True)))

    def predict(self, smiles):
        members = self.net.member_predictions(self._x(smiles))[:, :, 0]
        return members.mean(axis=0), members.std(axis=0, ddof=1)


class _GP:
    def __init__(self, name: str) -> None:
        self.name = name

    def fit(self, smiles, y):
        self.model = TanimotoGPModels().fit({self.name: (list(smiles), y)})
        return self

    def predict(self, smiles):
        return self.model(list(smiles))[self.name]


def _combine(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    means = np.array([m for m, _ in parts])
    var = np.mean([s**2 for _, s in parts], axis=0) + means.var(axis=0)
    return means.mean(axis=0), np.sqrt(var)


def _scores(y, mean, std) -> dict[str, float]:
    z = (y - mean) / np.maximum(std, 1e-12)
    return {
        "r2": float(r2_score(y, mean)),
        "mae": float(np.mean(np.abs(y - mean))),
        "z_rms": float(np.sqrt(np.mean(z**2))),
        "coverage_68": float(np.mean(np.abs(z) <= 1.0)),
        "coverage_95": float(np.mean(np.abs(z) <= 1.96)),
    }


def main() -> None:
    labelled = _labelled()
    sampler, judge = _split(labelled, np.random.default_rng(2026))
    held = set().union(*(set(s) for s, _ in judge.values()))
    rng = np.random.default_rng(7)
    out: dict = {"properties": {}}
    rows = []
    for prop in PROPERTIES:
        smiles, y = sampler[prop]
        perm = rng.permutation(len(y))
        cut = max(1, int(0.2 * len(perm)))
        val, fit = perm[:cut], perm[cut:]
        probe = list(smiles[val][:200])
        preds, report = {}, {}
        candidates = [_GP(prop), _Net("net", False), _Net("net_desc", True)]
        if prop == "thermal_conductivity":
            candidates.append(_Transfer(held | set(smiles[val])))
        else:
            candidates.append(_TgNet())
        for model in candidates:
            key = "gp" if isinstance(model, _GP) else model.name
            t0 = time.perf_counter()
            model.fit(smiles[fit], y[fit])
            fit_s = time.perf_counter() - t0
            preds[key] = model.predict(smiles[val])
            cost, _ = median_time(lambda m=model, p=probe: m.predict(p), 3)
            report[key] = {
                **_scores(y[val], *preds[key]),
                "fit_seconds": fit_s,
                "ms_per_unit": 1e3 * cost / len(probe),
            }
            print(prop, key, {k: round(v, 3) for k, v in report[key].items()}, flush=True)
        report["gp+net"] = {
            **_scores(y[val], *_combine([preds["gp"], preds["net"]])),
            "fit_seconds": report["gp"]["fit_seconds"] + report["net"]["fit_seconds"],
            "ms_per_unit": report["gp"]["ms_per_unit"] + report["net"]["ms_per_unit"],
        }
        for r in report.values():
            r["library_minutes_estimate"] = PROPOSALS_PER_CHAIN * r["ms_per_unit"] / 6e4
        affordable = {
            k: r for k, r in report.items() if r["library_minutes_estimate"] <= BUDGET_MINUTES
        }
        chosen = max(affordable, key=lambda k: affordable[k]["r2"])
        out["properties"][prop] = {
            "n_fit": len(fit),
            "n_validation": len(val),
            "models": report,
            "chosen": chosen,
            "best_r2_any_cost": max(report, key=lambda k: report[k]["r2"]),
        }
        for key, r in report.items():
            rows.append(
                (
                    f"{prop} {key}",
                    f"R2 {r['r2']:.3f}  MAE {r['mae']:.4g}  z_rms {r['z_rms']:.2f}  "
                    f"cov68 {r['coverage_68']:.2f}  {r['ms_per_unit']:.2f} ms/unit  "
                    f"~{r['library_minutes_estimate']:.1f} min/library",
                )
            )
        rows.append((f"{prop} chosen", chosen))
    out["split"] = "the sampler's data of benchmarks/design.py; validation fifth, seed 7"
    out["budget"] = (
        f"library of 1,000 within {BUDGET_MINUTES:g} min on 2 cores: "
        f"{PROPOSALS_PER_CHAIN:,} proposals per chain, one chain per core"
    )
    write_result("design_models", out, rows)


if __name__ == "__main__":
    main()
