"""Calibrated intervals: coverage on synthetic data, family splits, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from vlab.errors import InputError
from vlab.polymers.uncertainty import (
    IntervalCalibrator,
    butina_clusters,
    coverage,
    fingerprints,
    group_split,
    interval_report,
    nearest_similarity,
)


def test_calibrator_restores_nominal_coverage_with_distance_term():
    rng = np.random.default_rng(0)
    n = 6000
    std = rng.uniform(0.5, 1.5, n)  # stated σ, too small ...
    d = rng.uniform(0, 1, n)  # ... and blind to the distance from the training set
    y = rng.normal(0, np.sqrt((2 * std) ** 2 + (3 * d) ** 2))
    cal = IntervalCalibrator.fit(y[:3000], np.zeros(3000), std[:3000], d[:3000])
    assert cal.a == pytest.approx(2, rel=0.15) and cal.b == pytest.approx(3, rel=0.15)
    sig = cal.sigma(std[3000:], d[3000:])
    assert coverage(y[3000:], 0, std[3000:], 1.0) < 0.5  # the raw σ under-covers
    assert coverage(y[3000:], 0, sig, cal.z[0.68]) == pytest.approx(0.68, abs=0.03)
    assert coverage(y[3000:], 0, sig, cal.z[0.95]) == pytest.approx(0.95, abs=0.02)
    lo, hi = cal.interval(np.zeros(3), std[:3], d[:3], level=0.95)
    assert np.all(hi > lo)
    rep = interval_report(y[3000:], np.zeros(3000), sig)
    assert rep["spearman_error_sigma"] > 0.2
    with pytest.raises(InputError, match="calibrated levels"):
        cal.interval(np.zeros(3), std[:3], level=0.5)
    with pytest.raises(InputError, match="one length >= 5"):
        IntervalCalibrator.fit(y[:3], np.zeros(3), std[:4])


def test_butina_families_and_group_split():
    smiles = ["*CC*", "*CCC*", "*CCCC*", "*c1ccc(cc1)O*", "*c1ccc(cc1)S*", "*C(F)(F)C(F)(F)*"]
    labels = butina_clusters(smiles, cutoff=0.8)
    assert labels[0] == labels[1] and labels[0] != labels[3]
    parts = group_split(labels, [0.5, 0.5], rng=np.random.default_rng(0))
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(smiles)))
    for g in np.unique(labels):  # a family is never split between parts
        assert sum(np.isin(np.flatnonzero(labels == g), p).any() for p in parts) == 1
    fps = fingerprints(smiles)
    sim = nearest_similarity(fps[:3], fps[3:])
    assert sim.shape == (3,) and np.all((sim >= 0) & (sim <= 1))
    with pytest.raises(InputError, match="Cannot parse the SMILES 'C1CC'"):
        fingerprints(["C1CC"])
    with pytest.raises(InputError, match="'cutoff' of butina_clusters"):
        butina_clusters(smiles, cutoff=1.5)
