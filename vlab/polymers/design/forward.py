"""Cheap forward models for design: Bayesian ridge on log count-Morgan fingerprints.

The SMC sampler calls its predictor hundreds of times per second, so the design loop uses
linear models with a closed-form predictive standard deviation (scikit-learn's
``BayesianRidge``) on ``log1p`` count Morgan fingerprints of the repeat unit (``*`` ends as
dummy atoms). The heavier ensembles of :mod:`vlab.polymers.models` can replace them (any
callable ``smiles -> {property: (mean, std)}`` works with :func:`run_smc`).

Examples
--------
>>> models = MorganRidgeModels().fit({"x": (["*CC*", "*CC(*)C", "*CCO*", "*CC(*)CC"],
...                                        [1.0, 2.0, 1.5, 3.0])})
>>> mean, std = models(["*CC(*)C"])["x"]
>>> mean.shape, bool(std[0] > 0)
((1,), True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from rdkit.Chem import rdFingerprintGenerator
from sklearn.base import BaseEstimator
from sklearn.linear_model import BayesianRidge
from sklearn.utils.validation import check_is_fitted

from vlab.errors import InputError
from vlab.polymers.smiles import _parse

__all__ = ["MorganRidgeModels"]


@lru_cache(maxsize=8)
def _morgan_generator(radius: int, n_bits: int):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


class MorganRidgeModels(BaseEstimator):
    """One ``BayesianRidge`` per property on ``log1p`` count Morgan fingerprints.

    Its parameters follow scikit-learn (``get_params``, ``set_params``, ``clone``); ``fit``
    takes ``{property: (smiles, values)}`` rather than ``(X, y)``.

    Parameters
    ----------
    radius, n_bits : int
        Morgan fingerprint radius and length.

    Attributes
    ----------
    models_ : dict of str to BayesianRidge
        The fitted model of each property.
    """

    def __init__(self, *, radius: int = 2, n_bits: int = 1024) -> None:
        self.radius = radius
        self.n_bits = n_bits

    def features(self, smiles: Sequence[str]) -> np.ndarray:
        """``log1p`` count fingerprints, shape (n, n_bits); invalid SMILES give a clear error."""
        gen, rows = _morgan_generator(self.radius, self.n_bits), []
        for s in smiles:
            mol = _parse(s)[0]  # within the SMILES limits
            if mol is None:
                raise InputError(f"Cannot featurise the repeat unit {s!r}: RDKit cannot parse it.")
            rows.append(gen.GetCountFingerprintAsNumPy(mol))
        return np.log1p(np.asarray(rows, dtype=float).reshape(len(rows), self.n_bits))

    def fit(self, data: Mapping[str, tuple[Sequence[str], Sequence[float]]]) -> MorganRidgeModels:
        """Fit one model per property from ``{name: (smiles, values)}`` (NaN values dropped)."""
        self.models_: dict[str, BayesianRidge] = {}
        for name, (smiles, values) in data.items():
            y = np.asarray(values, float)
            keep = np.isfinite(y)
            x = self.features([s for s, k in zip(smiles, keep, strict=True) if k])
            self.models_[name] = BayesianRidge().fit(x, y[keep])
        return self

    @property
    def properties(self) -> tuple[str, ...]:
        """Names of the fitted properties (empty before :meth:`fit`)."""
        return tuple(getattr(self, "models_", ()))

    def __call__(self, smiles: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{property: (mean, std)}`` predicted for each repeat unit."""
        check_is_fitted(self, "models_")
        x = self.features(smiles)
        return {name: m.predict(x, return_std=True) for name, m in self.models_.items()}
