"""Calibrated predictive intervals: chemical-family splits, distance term, conformal scale.

A model's own standard deviation (ensemble spread) is usually too small for polymers of a
family it has not seen. :class:`IntervalCalibrator` learns, on calibration rows the model
never trained on (ideally whole held-out families, see :func:`butina_clusters`),

    σ_cal² = (a σ)² + (b d)²

with ``d = 1 - `` the nearest-neighbour Tanimoto similarity to the training set
(:func:`nearest_similarity`), by maximum Gaussian likelihood, and then the split-conformal
multipliers ``z_p`` (the ``p`` quantiles of ``|y - μ| / σ_cal``) that make the ``p``
intervals ``μ ± z_p σ_cal`` cover a fraction ``p`` of the calibration rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.ML.Cluster import Butina
from scipy.stats import spearmanr

from vlab.errors import InputError

__all__ = [
    "IntervalCalibrator",
    "butina_clusters",
    "coverage",
    "fingerprints",
    "group_split",
    "interval_report",
    "nearest_similarity",
]

_GRID = np.geomspace(0.05, 100, 80)


def fingerprints(smiles: Sequence[str], *, radius: int = 2, n_bits: int = 2048) -> list:
    """Morgan bit vectors of repeat units or molecules (``*`` counts as an atom)."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise InputError(f"Cannot parse the SMILES {s!r}; fix or drop that row.")
        out.append(gen.GetFingerprint(mol))
    return out


def butina_clusters(smiles: Sequence[str], *, cutoff: float = 0.6, fps=None) -> np.ndarray:
    """Chemical-family labels by Butina clustering (Tanimoto distance below ``cutoff``).

    Examples
    --------
    >>> butina_clusters(["*CC*", "*CCC*", "*c1ccc(cc1)O*"], cutoff=0.8).tolist()
    [0, 0, 1]
    """
    if not 0 < cutoff < 1:
        raise InputError(f"The 'cutoff' of butina_clusters must be in (0, 1). Got {cutoff!r}.")
    fps = fingerprints(smiles) if fps is None else fps
    dists = []
    for i in range(1, len(fps)):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])
        dists.extend(1.0 - s for s in sims)
    clusters = Butina.ClusterData(dists, len(fps), cutoff, isDistData=True)
    labels = np.empty(len(fps), dtype=int)
    for k, members in enumerate(sorted(clusters, key=lambda c: min(c))):
        labels[list(members)] = k
    return labels


def nearest_similarity(train_fps, query_fps) -> np.ndarray:
    """Largest Tanimoto similarity of each query to the training fingerprints."""
    return np.array([max(DataStructs.BulkTanimotoSimilarity(q, train_fps)) for q in query_fps])


def group_split(groups, fractions: Sequence[float], *, rng) -> list[np.ndarray]:
    """Row indices split by whole groups into parts of about ``fractions`` of the rows.

    Examples
    --------
    >>> parts = group_split([0, 0, 1, 1, 2, 2, 3, 3], [0.5, 0.5], rng=np.random.default_rng(0))
    >>> sorted(len(p) for p in parts)
    [4, 4]
    """
    groups = np.asarray(groups)
    labels = rng.permutation(np.unique(groups))
    sizes = np.array([np.sum(groups == g) for g in labels])
    edges = np.cumsum(fractions)[:-1] / np.sum(fractions) * len(groups)
    part = np.searchsorted(edges, np.cumsum(sizes) - sizes / 2)
    return [np.flatnonzero(np.isin(groups, labels[part == k])) for k in range(len(fractions))]


def coverage(y, mean, sigma, z: float) -> float:
    """Fraction of ``y`` inside ``mean ± z sigma``."""
    y, mean, sigma = (np.asarray(a, dtype=float) for a in (y, mean, sigma))
    return float(np.mean(np.abs(y - mean) <= z * sigma))


@dataclass(frozen=True, kw_only=True)
class IntervalCalibrator:
    """σ_cal = sqrt((a σ)² + (b d)²) and conformal multipliers per nominal level.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> std = rng.uniform(0.5, 2, 4000); y = rng.normal(0, 3 * std)
    >>> cal = IntervalCalibrator.fit(y[:2000], np.zeros(2000), std[:2000])
    >>> cov = coverage(y[2000:], 0, cal.sigma(std[2000:]), cal.z[0.68])
    >>> bool(abs(cal.a - 3) < 0.2), bool(abs(cov - 0.68) < 0.03)
    (True, True)
    """

    a: float
    b: float
    z: dict[float, float]

    @classmethod
    def fit(cls, y, mean, std, distance=None, *, levels=(0.68, 0.95)) -> IntervalCalibrator:
        """Fit on calibration rows the model did not train on."""
        y, mean, std = (np.asarray(v, dtype=float).ravel() for v in (y, mean, std))
        d = np.zeros_like(std) if distance is None else np.asarray(distance, float).ravel()
        if not (len(y) == len(mean) == len(std) == len(d)) or len(y) < 5:
            raise InputError(
                "IntervalCalibrator.fit needs y, mean, std (and distance) of one length >= 5. "
                f"Got lengths {len(y)}, {len(mean)}, {len(std)}, {len(d)}."
            )
        r2 = (y - mean) ** 2
        s = np.maximum(std, 1e-12)
        b_grid = np.concatenate([[0.0], _GRID * np.sqrt(r2.mean())]) if d.any() else [0.0]
        best = None
        for b in b_grid:
            for a in _GRID:
                var = (a * s) ** 2 + (b * d) ** 2
                nll = float(np.mean(np.log(var) + r2 / var))
                if best is None or nll < best[0]:
                    best = (nll, a, b)
        _, a, b = best
        sig = np.sqrt((a * s) ** 2 + (b * d) ** 2)
        z = {float(p): float(np.quantile(np.sqrt(r2) / sig, p)) for p in levels}
        return cls(a=float(a), b=float(b), z=z)

    def sigma(self, std, distance=None) -> np.ndarray:
        """Calibrated standard deviation."""
        std = np.asarray(std, dtype=float)
        d = np.zeros_like(std) if distance is None else np.asarray(distance, dtype=float)
        return np.sqrt((self.a * std) ** 2 + (self.b * d) ** 2)

    def interval(self, mean, std, distance=None, *, level: float = 0.68):
        """Lower and upper ends of the calibrated ``level`` interval."""
        if level not in self.z:
            raise InputError(
                f"The 'level' must be one of the calibrated levels {sorted(self.z)}. Got {level!r}."
            )
        half = self.z[level] * self.sigma(std, distance)
        return np.asarray(mean) - half, np.asarray(mean) + half


def interval_report(y, mean, sigma, *, z68: float = 1.0, z95: float = 1.959964) -> dict:
    """MAE, coverage of ``mean ± z68 σ`` and ``mean ± z95 σ``, Spearman(|error|, σ)."""
    y, mean, sigma = (np.asarray(a, dtype=float) for a in (y, mean, sigma))
    err = np.abs(y - mean)
    rho = spearmanr(err, sigma).statistic if np.ptp(sigma) > 0 else float("nan")
    return {
        "mae": float(err.mean()),
        "coverage_68": coverage(y, mean, sigma, z68),
        "coverage_95": coverage(y, mean, sigma, z95),
        "spearman_error_sigma": float(rho),
        "n": len(y),
    }
