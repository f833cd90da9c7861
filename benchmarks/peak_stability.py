"""How stable is the conductance-histogram peak of the spd labels, per temperature?

Run from the repository root (about a minute)::

    python benchmarks/peak_stability.py   # writes benchmarks/results/peak_stability.json

The surrogate's per-temperature peaks are compared with the reference's on the blind traces
96-119 (``au-spd-2x2-test``: 12 traces at 4 K, 12 at 300 K). This measures how precisely those
reference peaks are defined at all, with the peak finder of vlab.conductance.histogram
(``histogram_peak``), without any model:

* the trace bootstrap of the reference peak (traces resampled with replacement, ``RESAMPLES``
  times): its 16-84 % range and how often it stays within ±0.05 G0 of the full-set peak;
* the peak of the reference labels plus Gaussian noise of standard deviation s (clipped at 0):
  how often it stays within ±0.05 G0, as a function of s (an error the size of s in a
  surrogate's predictions moves the peak at least this much);
* the shape: the share of snapshots in 0.8-1.2 G0, the spread of the labels there, and the
  height of the smoothed histogram's maximum near 1 G0 against its highest maximum above
  1.3 G0, on the blind set and on the active-learning pool (``au-spd-2x2-train``, ``-2x2``,
  ``-2x2-extra``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: I001  (pins BLAS threads first)

import numpy as np

from vlab import catalog
from vlab.conductance import histogram_peak

BLIND = "au-spd-2x2-test"
POOL = ("au-spd-2x2-train", "au-spd-2x2", "au-spd-2x2-extra")
RESAMPLES = 400
NOISE = (0.02, 0.05, 0.08, 0.1, 0.13, 0.18, 0.25)
WINDOW = 0.05


def load(names) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """spd labels, temperatures (K) and trace keys (store index, trace) of ``names``."""
    ys, ts, keys = [], [], []
    for k, name in enumerate(names):
        ds = catalog.select(catalog.open_store(catalog.get_entry(name).location), status="done")
        ys.append(ds["conductance"].values.astype(float))
        ts.append(ds["temperature"].values.astype(float))
        keys.append(k * 100_000 + ds["trace"].values.astype(int))
    return np.concatenate(ys), np.concatenate(ts), np.concatenate(keys)


def shape(g: np.ndarray) -> dict:
    """Share and spread of the labels in 0.8-1.2 G0, and the prominence of the 1 G0 maximum."""
    counts, edges = np.histogram(g[(g >= 0.3) & (g <= 3.0)], bins=135, range=(0.3, 3.0))
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    centre = 0.5 * (edges[1:] + edges[:-1])
    window = (g >= 0.8) & (g <= 1.2)
    near = smooth[(centre > 0.85) & (centre < 1.1)].max()
    return {
        "n": int(g.size),
        "peak_G0": round(histogram_peak(g), 3),
        "share_0_8_1_2G0": round(float(window.mean()), 3),
        "std_0_8_1_2G0": round(float(g[window].std()), 3),
        "max_near_1G0_over_max_above_1_3G0": round(float(near / smooth[centre > 1.3].max()), 2),
    }


def bootstrap(g, traces, rng) -> dict:
    """Trace bootstrap of the peak."""
    full = histogram_peak(g)
    names = np.unique(traces)
    peaks = np.array([
        histogram_peak(np.concatenate([g[traces == k] for k in rng.choice(names, names.size)]))
        for _ in range(RESAMPLES)
    ])  # fmt: skip
    return {
        "traces": int(names.size),
        "peak_16_84_G0": [round(float(np.percentile(peaks, q)), 3) for q in (16, 84)],
        "share_within_0_05G0": round(float(np.mean(np.abs(peaks - full) <= WINDOW)), 3),
    }


def noise(g, rng) -> dict:
    """Share of noisy copies whose peak stays within ±0.05 G0, per noise level (G0)."""
    full = histogram_peak(g)
    out = {}
    for s in NOISE:
        moved = [
            abs(histogram_peak(np.clip(g + rng.normal(0.0, s, g.size), 0.0, None)) - full)
            for _ in range(RESAMPLES // 2)
        ]
        out[str(s)] = round(float(np.mean(np.array(moved) <= WINDOW)), 3)
    return out


def main() -> dict:
    rng = np.random.default_rng(0)
    y, t, traces = load([BLIND])
    y_pool, t_pool, _ = load(POOL)
    out: dict = {"blind": f"{BLIND} (traces 96-119)", "pool": list(POOL), "resamples": RESAMPLES}
    rows = []
    for temp in (4.0, 300.0):
        m, mp = t == temp, t_pool == temp
        block = {
            "blind": shape(y[m]),
            "pool": shape(y_pool[mp]),
            "blind_trace_bootstrap": bootstrap(y[m], traces[m], rng),
            "blind_noise_share_within_0_05G0": noise(y[m], rng),
        }
        out[f"{temp:g}K"] = block
        boot = block["blind_trace_bootstrap"]
        rows += [
            (f"{temp:g} K blind reference peak, trace bootstrap 16-84 %",
             f"{boot['peak_16_84_G0']} G0 (within ±0.05: {boot['share_within_0_05G0']})"),
            (f"{temp:g} K peak within ±0.05 G0 with noise s = 0.02 / 0.05 / 0.13 G0",
             " / ".join(str(block["blind_noise_share_within_0_05G0"][k])
                        for k in ("0.02", "0.05", "0.13"))),
            (f"{temp:g} K max near 1 G0 / max above 1.3 G0 (blind, pool)",
             f"{block['blind']['max_near_1G0_over_max_above_1_3G0']}, "
             f"{block['pool']['max_near_1G0_over_max_above_1_3G0']}"),
        ]  # fmt: skip
    write_result("peak_stability", out, rows)
    return out


if __name__ == "__main__":
    main()
