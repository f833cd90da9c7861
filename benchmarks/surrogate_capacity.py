"""Is the headline surrogate's low histogram peak a fitting limit? A validation-only probe.

Run from the repository root (about 35 min on 2 cores)::

    python benchmarks/surrogate_capacity.py   # writes benchmarks/results/surrogate_capacity.json
    python benchmarks/surrogate_capacity.py "600 iterations"   # some variants (merged into it)

The headline surrogate puts the spd histogram peak at ~0.89 G0 against 0.97 G0, and does so on
its own training set too: its predictions are shrunk towards the middle of the single-atom
range (E[prediction | reference] rises by about half a G0 per G0 of reference between 0.5 and
1 G0), and all 16 members stop at the L-BFGS iteration cap (200). This probe asks whether more
fitting (more iterations, a weaker L2 penalty) removes the shrinkage, whether weighting
the loss towards the single-atom range (``sample_weight``) does, and whether a smooth absolute
error (``loss="absolute"``: towards the conditional median) does.

Protocol
--------
* Training set: exactly the headline training set (``benchmarks/train_headline.py``: traces
  0-17 of ``au-spd-2x2`` and the stores ``TRAIN_EXTRA`` of ``benchmarks/surrogate_spd.py``,
  6,295 cells). Validation: the held-out traces 18-23 of ``au-spd-2x2`` and ``au-spd-2x2-more``
  (1,555 snapshots). The blind traces (``au-spd-2x2-test``) are not read.
* Variants of the ``spd-headline`` preset with ``N_MEMBERS`` members (random_state 0 unless
  the name says 1; the headline and the best weighting are repeated with random_state 1):
  ``VARIANTS`` below, each fitted once. Members train in one process per CPU.
* Per variant, on validation and on the training set: R², MAE, R² on 0-3 G0, the histogram
  peak of predictions and labels (all and per temperature), the mean error in reference bins
  0.5-0.6 and 0.95-1.0 G0, and ``plateau_slope``: the least-squares slope of prediction on
  reference for references in 0.5-1.0 G0 (1 = no shrinkage). Training time and iterations.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result  # noqa: I001  (pins BLAS threads first)
from train_headline import training_set, validation_structures

import numpy as np
from sklearn.base import clone

from vlab.conductance import ConductanceSurrogate, DescriptorSettings, compute_descriptors
from vlab.workflows.learning import validation_metrics

ROOT = Path(__file__).resolve().parent.parent
N_MEMBERS = 2
# sharper SOAP than the headline's (sigma 0.3 Å, n_max 8): resolves smaller displacements
SHARP = DescriptorSettings(sigma=0.2, n_max=10)
# name: (estimator parameters, loss weight of a structure from its label y, or None)
VARIANTS = {
    "headline (200 iterations, alpha 1e-2)": ({}, None),
    "600 iterations": ({"max_iter": 600}, None),
    "alpha 1e-3": ({"alpha": 1e-3}, None),
    "weight 1/max(G, 1 G0)": ({}, lambda y: 1.0 / np.maximum(y, 1.0)),
    "weight 1/max(G, 1 G0)^2": ({}, lambda y: 1.0 / np.maximum(y, 1.0) ** 2),
    "headline, random_state 1": ({"random_state": 1}, None),
    "weight 1/max(G, 1 G0)^2, random_state 1": (
        {"random_state": 1},
        lambda y: 1.0 / np.maximum(y, 1.0) ** 2,
    ),
    "absolute loss": ({"loss": "absolute"}, None),
    "absolute loss, random_state 1": ({"loss": "absolute", "random_state": 1}, None),
    "sigma 0.2 Å, n_max 10": ({"descriptor_settings": SHARP}, None),
    "sigma 0.2 Å, n_max 10, weight 1/max(G, 1 G0)^2": (
        {"descriptor_settings": SHARP},
        lambda y: 1.0 / np.maximum(y, 1.0) ** 2,
    ),
}
WEIGHT_RULES = {
    "weight 1/max(G, 1 G0)": "1 / max(G, 1)",
    "weight 1/max(G, 1 G0)^2": "1 / max(G, 1)^2",
    "sigma 0.2 Å, n_max 10, weight 1/max(G, 1 G0)^2": "1 / max(G, 1)^2",
    "weight 1/max(G, 1 G0)^2, random_state 1": "1 / max(G, 1)^2",
}


def validation_set(settings) -> tuple[list, np.ndarray, np.ndarray]:
    """Descriptors, spd labels and temperatures of the headline's validation traces."""
    cells, y, temps, _ = validation_structures()
    return compute_descriptors(cells, settings), y, temps


def shrinkage(y: np.ndarray, pred: np.ndarray) -> dict:
    """Slope of prediction on reference in 0.5-1.0 G0 and the mean error in two end bins."""
    inside = (y >= 0.5) & (y < 1.0)
    slope = np.polyfit(y[inside], pred[inside], 1)[0]
    low, high = (y >= 0.5) & (y < 0.6), (y >= 0.95) & (y < 1.0)
    return {
        "plateau_slope": round(float(slope), 3),
        "mean_error_0_5_0_6G0": round(float((pred - y)[low].mean()), 4),
        "mean_error_0_95_1_0G0": round(float((pred - y)[high].mean()), 4),
    }


def main() -> dict:
    base = ConductanceSurrogate.from_preset(
        "spd-headline", n_estimators=N_MEMBERS, random_state=0, n_jobs=-1
    )
    print("descriptors", flush=True)
    d_train, y_train, _ = training_set()
    d_val, y_val, t_val = validation_set(base.descriptor_settings)
    sets = {base.descriptor_settings: (d_train, d_val)}
    path = RESULTS / "surrogate_capacity.json"
    out: dict = json.loads(path.read_text())["variants"] if path.exists() else {}
    names = sys.argv[1:] or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; allowed: {list(VARIANTS)}")
    for label in names:
        params, rule = VARIANTS[label]
        weight = None if rule is None else rule(y_train)
        settings = params.get("descriptor_settings", base.descriptor_settings)
        if settings not in sets:
            print(f"descriptors with {settings}", flush=True)
            sets[settings] = (training_set(settings)[0], validation_set(settings)[0])
        d_train, d_val = sets[settings]
        start = time.perf_counter()
        model = clone(base).set_params(**params).fit(d_train, y_train, sample_weight=weight)
        fit_s = time.perf_counter() - start
        val = model.predict(d_val)
        train = model.predict(d_train)
        out[label] = {
            "params": {
                k: v.to_dict() if isinstance(v, DescriptorSettings) else v
                for k, v in params.items()
            },
            "sample_weight": WEIGHT_RULES.get(label),
            "fit_s": round(fit_s, 1),
            "n_iter": [int(n) for n in model.n_iter_],
            "training_loss": [round(float(x), 5) for x in model.loss_],
            "validation": validation_metrics(y_val, val, t_val) | shrinkage(y_val, val),
            "training": validation_metrics(y_train, train) | shrinkage(y_train, train),
        }
        v, t = out[label]["validation"], out[label]["training"]
        print(f"{label}: {fit_s:.0f} s; validation R² {v['r2']}, peak {v['peak_surrogate_G0']} "
              f"(ref {v['peak_reference_G0']}), slope {v['plateau_slope']}; training slope "
              f"{t['plateau_slope']}", flush=True)  # fmt: skip
    rows = []
    for label in (name for name in VARIANTS if name in out):
        v, t, fit_s = out[label]["validation"], out[label]["training"], out[label]["fit_s"]
        rows.append((
            label,
            f"val R² {v['r2']:.4f} (0-3 G0 {v['r2_0_3G0']:.4f}), peak {v['peak_surrogate_G0']:.3f} "
            f"vs {v['peak_reference_G0']:.3f}, slope {v['plateau_slope']:.2f} (train "
            f"{t['plateau_slope']:.2f}, peak {t['peak_surrogate_G0']:.3f}); {fit_s / 60:.0f} min",
        ))  # fmt: skip
    data = {
        "protocol": f"spd-headline preset with {N_MEMBERS} members (random_state 0 unless named), "
        "trained on "
        "the headline training set (6,295 cells); validation = au-spd-2x2 traces 18-23 + "
        "au-spd-2x2-more (1,555); blind traces not read",
        "variants": out,
    }
    write_result("surrogate_capacity", data, rows)
    return data


if __name__ == "__main__":
    main()
