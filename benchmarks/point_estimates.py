"""Which point estimate of a snapshot's conductance puts the histogram peak at the reference's?

Run from the repository root (about a minute)::

    python benchmarks/point_estimates.py   # writes benchmarks/results/point_estimates.json

Validation traces only (18-23 of ``au-spd-2x2`` and ``au-spd-2x2-more``; not trained on, not
blind); the blind sets are not read. Given a surrogate's prediction p, the reference G of the
snapshots that get p is spread (most single-atom contacts near 0.97 G0, a tail of breaking
ones below), so there is a choice of which point of that conditional distribution to report.
For each shipped model (``spd-headline``, ``spd-bottleneck``) the validation traces are split
in two halves by trace, ``SPLITS`` times at random. On one half a map from p to a point of the
reference's distribution given p is estimated; on the other half it is applied and scored:

* ``prediction``: the model's own output (conditional mean for the headline's squared loss,
  conditional median for the fast model's absolute loss);
* ``mean_map`` / ``median_map`` / ``mode_map``: the mean, median and mode of the reference
  given p, estimated with Gaussian kernel weights in p (width ``P_WIDTH``) and, for the mode, a
  Gaussian kernel density in G (width ``G_WIDTH``); fixed before the run, not tuned;
* ``quantile_map``: per temperature, the monotone map that gives the predictions of the first
  half the distribution of its reference (quantile mapping: a prediction's quantile among the
  first half's predictions, read off the first half's reference);
* ``predictive``: no point estimate, the histogram of ``ConditionalResiduals`` draws (residuals
  of the first half drawn around each prediction of the second).

Reported per estimate (medians over the splits): R², MAE, MAE on the 0.8-1.2 G0 plateau, and
the histogram peak (all snapshots, 4 K, 300 K) minus the reference peak of the same half.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PLATEAU_G0, write_result  # noqa: I001  (pins BLAS threads first)
from train_headline import validation_structures

import numpy as np

from vlab.conductance import ConditionalResiduals, histogram_peak, load_shipped_model

MODELS = ("spd-headline", "spd-bottleneck")
SPLITS = 20
P_WIDTH = 0.05  # G0, kernel width along the prediction
G_WIDTH = 0.03  # G0, kernel width of the density of the reference (mode)
DRAWS = 20
ESTIMATES = ("prediction", "mean_map", "median_map", "mode_map", "quantile_map", "predictive")


def conditional_maps(p_fit, y_fit, p_new) -> dict[str, np.ndarray]:
    """Mean, median and mode of the reference given the prediction, fitted on ``(p_fit,
    y_fit)`` and evaluated at ``p_new`` (linear interpolation on a grid of p)."""
    grid_p = np.arange(0.0, max(p_fit.max(), p_new.max()) + 0.02, 0.01)
    grid_g = np.arange(0.0, y_fit.max() + 0.2, 0.005)
    weights = np.exp(-0.5 * ((grid_p[:, None] - p_fit[None, :]) / P_WIDTH) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    mean = weights @ y_fit
    order = np.argsort(y_fit)
    cumulative = np.cumsum(weights[:, order], axis=1)
    median = y_fit[order][np.argmax(cumulative >= 0.5, axis=1)]
    density = weights @ np.exp(-0.5 * ((y_fit[:, None] - grid_g[None, :]) / G_WIDTH) ** 2)
    mode = grid_g[np.argmax(density, axis=1)]
    return {
        name: np.interp(p_new, grid_p, values)
        for name, values in (("mean_map", mean), ("median_map", median), ("mode_map", mode))
    }


def quantile_map(p_fit, y_fit, t_fit, p_new, t_new) -> np.ndarray:
    """Per temperature, ``p_new`` mapped so that ``p_fit`` would take the distribution of
    ``y_fit``: the empirical quantile of a prediction among ``p_fit``, read off ``y_fit``."""
    out = np.empty_like(p_new, dtype=float)
    for t in np.unique(t_new):
        ps, ys = np.sort(p_fit[t_fit == t]), np.sort(y_fit[t_fit == t])
        q = np.interp(p_new[t_new == t], ps, np.linspace(0.0, 1.0, ps.size))
        out[t_new == t] = np.interp(q, np.linspace(0.0, 1.0, ys.size), ys)
    return out


def scores(y, estimate, temp_estimate, temp_y) -> dict[str, float]:
    """Peak errors of ``estimate`` against ``y`` (all, 4 K, 300 K), and, for a point estimate
    (one value per snapshot), R², MAE and MAE on the plateau."""
    out = {"peak_error_G0": histogram_peak(estimate) - histogram_peak(y)}
    for t in (4.0, 300.0):
        out[f"peak_error_{t:g}K_G0"] = histogram_peak(estimate[temp_estimate == t]) - (
            histogram_peak(y[temp_y == t])
        )
    if estimate.shape == y.shape:
        plateau = (y >= PLATEAU_G0[0]) & (y <= PLATEAU_G0[1])
        out["r2"] = float(1 - np.sum((y - estimate) ** 2) / np.sum((y - y.mean()) ** 2))
        out["mae_G0"] = float(np.abs(y - estimate).mean())
        out["mae_0_8_1_2G0"] = float(np.abs(y - estimate)[plateau].mean())
    return out


def evaluate(pred, y, temp, traces) -> dict:
    """Medians over ``SPLITS`` trace splits of the scores of every estimate."""
    rng = np.random.default_rng(0)
    unique = np.unique(traces)
    collected: dict[str, list[dict]] = {name: [] for name in ESTIMATES}
    for _ in range(SPLITS):
        first = rng.choice(unique, size=unique.size // 2, replace=False)
        fit = np.isin(traces, first)
        new = ~fit
        maps = conditional_maps(pred[fit], y[fit], pred[new])
        maps["prediction"] = pred[new]
        maps["quantile_map"] = quantile_map(pred[fit], y[fit], temp[fit], pred[new], temp[new])
        residuals = ConditionalResiduals(pred[fit], y[fit], bin_width=0.1, min_count=30)
        draws = residuals.sample(pred[new], draws=DRAWS, rng=0)
        maps["predictive"] = draws
        for name in ESTIMATES:
            temp_estimate = np.repeat(temp[new], DRAWS) if name == "predictive" else temp[new]
            collected[name].append(scores(y[new], maps[name], temp_estimate, temp[new]))
    return {
        name: {key: round(statistics.median(run[key] for run in runs), 4) for key in runs[0]}
        | {
            "peak_error_range_G0": [
                round(min(run["peak_error_G0"] for run in runs), 3),
                round(max(run["peak_error_G0"] for run in runs), 3),
            ]
        }
        for name, runs in collected.items()
    }


def main() -> dict:
    cells, y, temp, traces = validation_structures()
    result = {
        "snapshots": len(y),
        "traces": int(np.unique(traces).size),
        "splits": SPLITS,
        "p_width_G0": P_WIDTH,
        "g_width_G0": G_WIDTH,
        "reference_peak_G0": round(histogram_peak(y), 3),
    }
    rows = []
    for name in MODELS:
        pred = load_shipped_model(name).predict(cells)
        result[name] = evaluate(pred, y, temp, traces)
        for estimate, values in result[name].items():
            r2 = f"R² {values['r2']:.4f}, MAE {values['mae_G0']:.3f}, " if "r2" in values else ""
            rows.append(
                (
                    f"{name} {estimate}",
                    f"{r2}peak error {values['peak_error_G0']:+.3f} "
                    f"(4 K {values['peak_error_4K_G0']:+.3f}, "
                    f"300 K {values['peak_error_300K_G0']:+.3f}) G0",
                )
            )
    write_result("point_estimates", result, rows)
    return result


if __name__ == "__main__":
    main()
