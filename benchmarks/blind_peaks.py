"""The shipped models' histogram peaks on a third, larger blind set, scored once.

Run from the repository root (about 2 minutes)::

    python benchmarks/blind_peaks.py   # writes benchmarks/results/blind_peaks.json

The blind set ``au-spd-2x2-test-d`` holds every 6th snapshot of 48 new 160-atom traces (24 at
4 K, 24 at 300 K; ``examples/au-breakjunction-d.yaml``, a fourth MD seed), labelled with spd
after the other two blind sets had been scored. With 12 traces per temperature the 300 K peak
of the reference was not a stable number (``peak_stability.json``); this set has twice as many.

Everything scored here was fixed before the set was labelled, on the validation traces (18-23
of ``au-spd-2x2`` and ``au-spd-2x2-more``):

* the shipped models ``spd-headline`` and ``spd-bottleneck``, as shipped;
* their point predictions, and the median and mode of the reference given the prediction
  (``point_estimates.conditional_maps``, fitted on all validation traces with the kernel
  widths of ``point_estimates.py``);
* the predictive draws: the shipped residuals (``load_shipped_residuals``), 20 draws per
  snapshot, seed 0.

Reported per model and estimate: R², MAE, R² on 0-3 G0, MAE on the 0.8-1.2 G0 plateau, the
histogram peak over all snapshots and per temperature, and its difference from the
reference's; for the reference, the trace bootstrap of its peak per temperature (``RESAMPLES``
resamples of the traces with replacement): its 16-84 % range and how often it stays within
±0.03 and ±0.05 G0 of the full set's peak.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import plateau_mae, write_result  # noqa: I001  (pins BLAS threads first)
from point_estimates import MODELS, conditional_maps
from train_headline import validation_structures

import numpy as np

from vlab.conductance import histogram_peak, load_shipped_model, load_shipped_residuals
from vlab.workflows.conductance import labelled_structures, labelled_temperatures
from vlab.workflows.learning import validation_metrics

BLIND = "au-spd-2x2-test-d"
DRAWS = 20
RESAMPLES = 400
TEMPERATURES = (4.0, 300.0)


def reference_stability(y, temp, traces) -> dict:
    """Trace bootstrap of the reference peak, per temperature."""
    rng = np.random.default_rng(0)
    out = {}
    for t in TEMPERATURES:
        rows = temp == t
        full = histogram_peak(y[rows])
        ids = np.unique(traces[rows])
        peaks = []
        for _ in range(RESAMPLES):
            pick = rng.choice(ids, size=ids.size, replace=True)
            sample = np.concatenate([y[rows & (traces == i)] for i in pick])
            peaks.append(histogram_peak(sample))
        peaks = np.array(peaks)
        out[f"{t:g}K"] = {
            "traces": int(ids.size),
            "snapshots": int(rows.sum()),
            "peak_G0": round(full, 3),
            "bootstrap_16_84_G0": [round(float(v), 3) for v in np.percentile(peaks, [16, 84])],
            "within_0_03": round(float(np.mean(np.abs(peaks - full) <= 0.03)), 3),
            "within_0_05": round(float(np.mean(np.abs(peaks - full) <= 0.05)), 3),
        }
    return out


def peaks(estimate, temp_estimate, reference) -> dict:
    out = {"peak_G0": round(histogram_peak(estimate), 3)}
    out["peak_difference_G0"] = round(out["peak_G0"] - reference["all"], 3)
    for t in TEMPERATURES:
        key = f"{t:g}K"
        out[f"peak_{key}_G0"] = round(histogram_peak(estimate[temp_estimate == t]), 3)
        out[f"peak_{key}_difference_G0"] = round(out[f"peak_{key}_G0"] - reference[key], 3)
    return out


def errors(y, estimate) -> dict:
    """R², MAE and R² on 0-3 G0 (``validation_metrics``) and MAE on the plateau."""
    metrics = validation_metrics(y, estimate)
    return {k: metrics[k] for k in ("r2", "mae_G0", "r2_0_3G0")} | {
        "mae_0_8_1_2G0": plateau_mae(y, estimate)
    }


def main() -> dict:
    val_cells, val_y, _, _ = validation_structures()
    structures, y, traces, _ = labelled_structures(BLIND)
    temp = labelled_temperatures(BLIND).astype(float)
    reference = {"all": round(histogram_peak(y), 3)}
    reference |= {f"{t:g}K": round(histogram_peak(y[temp == t]), 3) for t in TEMPERATURES}
    result = {
        "store": BLIND,
        "snapshots": len(y),
        "traces": int(np.unique(traces).size),
        "reference_peak_G0": reference["all"],
        "reference_peak_4K_G0": reference["4K"],
        "reference_peak_300K_G0": reference["300K"],
        "reference_stability": reference_stability(y, temp, traces),
    }
    rows = [
        (
            "reference peak (all, 4 K, 300 K)",
            f"{reference['all']}, {reference['4K']}, {reference['300K']} G0",
        ),
    ]
    for t, s in result["reference_stability"].items():
        rows.append(
            (
                f"reference {t} bootstrap",
                f"{s['bootstrap_16_84_G0']}, within ±0.05: {s['within_0_05']:.0%}",
            )
        )
    for name in MODELS:
        model = load_shipped_model(name)
        pred = model.predict(structures)
        maps = conditional_maps(model.predict(val_cells), val_y, pred)
        estimates = {
            "prediction": pred,
            "median_map": maps["median_map"],
            "mode_map": maps["mode_map"],
        }
        result[name] = {}
        for estimate, values in estimates.items():
            result[name][estimate] = errors(y, values) | peaks(values, temp, reference)
        draws = load_shipped_residuals(name).sample(pred, draws=DRAWS, rng=0)
        result[name]["predictive"] = peaks(draws, np.repeat(temp, DRAWS), reference)
        for estimate, values in result[name].items():
            r2 = f"R² {values['r2']:.4f}, " if "r2" in values else ""
            rows.append(
                (
                    f"{name} {estimate}",
                    f"{r2}peak {values['peak_G0']} ({values['peak_difference_G0']:+.3f}); "
                    f"4 K {values['peak_4K_difference_G0']:+.3f}, "
                    f"300 K {values['peak_300K_difference_G0']:+.3f} G0",
                )
            )
    write_result("blind_peaks", result, rows)
    return result


if __name__ == "__main__":
    main()
