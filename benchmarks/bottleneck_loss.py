"""The fast model's loss: squared error (conditional means) or absolute error (medians).

Run from the repository root (about 3 min on 2 cores)::

    python benchmarks/bottleneck_loss.py   # -> benchmarks/results/bottleneck_loss.json

Protocol
--------
* Training set and validation traces: those of ``benchmarks/train_bottleneck.py`` (the
  headline's 6,295 cells; traces 18-23 of ``au-spd-2x2`` and ``au-spd-2x2-more``). The blind
  traces are not read, and no model file is written.
* Models: the settings and tree parameters chosen by ``benchmarks/train_bottleneck.py`` with
  the squared loss (``SETTINGS`` and ``PARAMS``: 8 neck centres, learning rate 0.05, 15
  leaves, 200 iterations), with ``loss="squared"`` and ``loss="absolute"``, each with
  ``random_state`` 0 and 1. This comparison chose the loss of the shipped model.
* Reported on the validation traces: R², MAE, R² on 0-3 G0, MAE on the 0.8-1.2 G0 plateau and
  the histogram peaks of the point predictions (all, 4 K, 300 K) against the reference's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import plateau_mae, write_result  # noqa: I001  (pins BLAS threads first)
from train_headline import training_structures, validation_structures


from vlab.conductance import BottleneckSettings, BottleneckSurrogate, bottleneck_features
from vlab.workflows.learning import validation_metrics

LOSSES = ("squared", "absolute")
SEEDS = (0, 1)
SETTINGS = BottleneckSettings(neck_centres=8)
PARAMS = {"learning_rate": 0.05, "max_iter": 200, "max_leaf_nodes": 15, "min_samples_leaf": 20,
          "n_estimators": 4}  # fmt: skip


def main() -> dict:
    cells, y, _ = training_structures()
    val_cells, y_val, t_val, _ = validation_structures()
    x, x_val = bottleneck_features(cells, SETTINGS), bottleneck_features(val_cells, SETTINGS)
    scores = {}
    for loss in LOSSES:
        for seed in SEEDS:
            model = BottleneckSurrogate(settings=SETTINGS, loss=loss, random_state=seed, **PARAMS)
            pred = model.fit(x, y).predict(x_val)
            scores[f"{loss}-{seed}"] = validation_metrics(y_val, pred, t_val) | {
                "mae_0_8_1_2G0": plateau_mae(y_val, pred)
            }
            s = scores[f"{loss}-{seed}"]
            print(f"  {loss} loss, seed {seed}: R² {s['r2']:.4f}, peak {s['peak_surrogate_G0']}",
                  flush=True)  # fmt: skip
    out = {
        "model": "settings and tree parameters chosen with the squared loss, refitted",
        "validation": "au-spd-2x2 traces 18-23 and au-spd-2x2-more",
        "scores": scores,
    }
    for key in ("r2", "mae_G0", "r2_0_3G0", "mae_0_8_1_2G0", "peak_surrogate_G0",
                "peak_4K_surrogate_G0", "peak_300K_surrogate_G0"):  # fmt: skip
        for loss in LOSSES:
            out[f"{key}_{loss}"] = [scores[f"{loss}-{seed}"][key] for seed in SEEDS]
    ref = scores[f"squared-{SEEDS[0]}"]
    rows = [
        (f"validation {key} (seeds {', '.join(map(str, SEEDS))}): squared / absolute loss",
         f"{out[f'{key}_squared']} / {out[f'{key}_absolute']}")
        for key in ("r2", "mae_G0", "mae_0_8_1_2G0", "peak_surrogate_G0", "peak_4K_surrogate_G0",
                    "peak_300K_surrogate_G0")
    ] + [("reference peaks: all / 4 K / 300 K",
          f"{ref['peak_reference_G0']} / {ref['peak_4K_reference_G0']} / "
          f"{ref['peak_300K_reference_G0']}")]  # fmt: skip
    write_result("bottleneck_loss", out, rows)
    return out


if __name__ == "__main__":
    main()
