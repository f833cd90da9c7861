"""Forward models for design: predictors with a predictive standard deviation.

:class:`TanimotoGPModels` (the default of the design): one exact Gaussian process per property
with a Tanimoto kernel on binary Morgan fingerprints of the repeat unit (``*`` ends as dummy
atoms). Its predictive standard deviation grows as a unit moves away from the training data,
and :meth:`TanimotoGPModels.log_domain` adds an applicability-domain term (the largest
Tanimoto similarity to the training units) for the sampler; :func:`fit_design_models`
chooses its threshold on a validation split. :class:`MorganRidgeModels`: Bayesian ridge on
``log1p`` count Morgan fingerprints, cheaper and blind to extrapolation. Any callable
``smiles -> {property: (mean, std)}`` works with :func:`run_smc`.

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

__all__ = ["MorganRidgeModels", "TanimotoGPModels", "fit_design_models", "tanimoto_matrix"]


@lru_cache(maxsize=8)
def _morgan_generator(radius: int, n_bits: int):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def _finite(smiles: Sequence[str], values: Sequence[float]) -> tuple[list[str], np.ndarray]:
    """The repeat units and values of ``(smiles, values)`` whose value is not NaN."""
    y = np.asarray(values, float)
    keep = np.isfinite(y)
    return [s for s, k in zip(smiles, keep, strict=True) if k], y[keep]


class _PerProperty:
    """One fitted model per property, in ``models_``."""

    @property
    def properties(self) -> tuple[str, ...]:
        """Names of the fitted properties (empty before :meth:`fit`)."""
        return tuple(getattr(self, "models_", ()))


class MorganRidgeModels(_PerProperty, BaseEstimator):
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
            units, y = _finite(smiles, values)
            self.models_[name] = BayesianRidge().fit(self.features(units), y)
        return self

    def __call__(self, smiles: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{property: (mean, std)}`` predicted for each repeat unit."""
        check_is_fitted(self, "models_")
        x = self.features(smiles)
        return {name: m.predict(x, return_std=True) for name, m in self.models_.items()}


def _bit_fingerprints(smiles: Sequence[str], radius: int, n_bits: int) -> np.ndarray:
    """Binary Morgan fingerprints as a float32 matrix (n, n_bits); clear error if invalid."""
    gen, rows = _morgan_generator(radius, n_bits), []
    for s in smiles:
        mol = _parse(s)[0]
        if mol is None:
            raise InputError(f"Cannot featurise the repeat unit {s!r}: RDKit cannot parse it.")
        rows.append(gen.GetFingerprintAsNumPy(mol))
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), n_bits)


def tanimoto_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of binary fingerprint rows: ``a.b / (|a| + |b| - a.b)``.

    Examples
    --------
    >>> x = np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32)
    >>> tanimoto_matrix(x, x).astype(float).round(3).tolist()
    [[1.0, 0.333], [0.333, 1.0]]
    """
    dot = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - dot
    return np.where(union > 0, dot / np.maximum(union, 1e-12), 1.0).astype(np.float32)


class _GP:
    """Exact GP regression, kernel ``s2 * (T + r I)`` with a constant mean.

    For each candidate noise ratio ``r`` the signal variance ``s2`` has a closed-form maximum
    of the marginal likelihood; the ``r`` of highest profile evidence is kept.
    """

    def __init__(self, fp: np.ndarray, y: np.ndarray, noises: Sequence[float]) -> None:
        from scipy.linalg import cho_factor, cho_solve

        self.fp, self.offset, self.scale = fp, float(y.mean()), float(y.std() or 1.0)
        z = (y - self.offset) / self.scale
        gram = tanimoto_matrix(fp, fp).astype(float)
        best = None
        for noise in noises:
            factor = cho_factor(gram + noise * np.eye(len(z)), lower=True)
            alpha = cho_solve(factor, z)
            s2 = float(z @ alpha) / len(z)
            evidence = -0.5 * len(z) * np.log(s2) - np.log(np.diag(factor[0])).sum()
            if best is None or evidence > best[0]:
                best = (evidence, noise, s2, factor[0], alpha)
        _, self.noise, self.s2, self.chol, alpha = best
        self.alpha = alpha.astype(np.float32)

    def predict(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.linalg import solve_triangular

        mean = (k @ self.alpha).astype(float)
        v = solve_triangular(self.chol, k.T.astype(float), lower=True, check_finite=False)
        quad = np.einsum("ij,ij->j", v, v)
        var = self.s2 * np.maximum(1.0 - quad, 0.0) + self.s2 * self.noise
        return self.offset + self.scale * mean, self.scale * np.sqrt(var)


class TanimotoGPModels(_PerProperty, BaseEstimator):
    """One Gaussian process per property on Morgan fingerprints (Tanimoto kernel).

    The predictive standard deviation of a Tanimoto-kernel GP grows towards the prior
    standard deviation of the property as a repeat unit's fingerprint moves away from every
    training unit, so a design that maximises the probability of lying in a target box is
    not rewarded for extrapolating. Targets are standardised; the kernel is
    ``k(a, b) = T(a, b)`` (Tanimoto similarity of binary Morgan fingerprints) plus a white
    noise chosen per property from ``noises`` by the log marginal likelihood (the evidence).

    An applicability-domain term is available for the sampler: :meth:`log_domain` returns
    ``-domain_weight * max(0, domain_threshold - s)`` where ``s`` is the Tanimoto similarity
    of a unit to its nearest training unit, the smallest over the properties
    (:meth:`max_similarity`).

    Its parameters follow scikit-learn (``get_params``, ``set_params``, ``clone``); ``fit``
    takes ``{property: (smiles, values)}`` rather than ``(X, y)``.

    Parameters
    ----------
    radius, n_bits : int
        Morgan fingerprint radius and length.
    noises : tuple of float
        Candidate white-noise variances (in units of the property's variance).
    domain_threshold : float
        Tanimoto similarity below which :meth:`log_domain` penalises a unit.
    domain_weight : float
        Log-likelihood lost per unit of similarity below ``domain_threshold`` (0: no term).

    Attributes
    ----------
    noise_ : dict of str to float
        The chosen noise variance of each property (standardised units).

    Examples
    --------
    >>> train = ["*CC*", "*CC(*)C", "*CCO*", "*CC(*)CC", "*CC(*)c1ccccc1"]
    >>> gp = TanimotoGPModels(n_bits=256).fit({"x": (train, [1.0, 2.0, 1.5, 3.0, 4.0])})
    >>> near, far = gp(["*CC(*)CC", "*C(F)(F)C(*)(F)F"])["x"][1]
    >>> bool(near < far)
    True
    """

    def __init__(
        self,
        *,
        radius: int = 2,
        n_bits: int = 2048,
        noises: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3),
        domain_threshold: float = 0.4,
        domain_weight: float = 0.0,
    ) -> None:
        self.radius = radius
        self.n_bits = n_bits
        self.noises = noises
        self.domain_threshold = domain_threshold
        self.domain_weight = domain_weight

    def fit(self, data: Mapping[str, tuple[Sequence[str], Sequence[float]]]) -> TanimotoGPModels:
        """Fit one GP per property from ``{name: (smiles, values)}`` (NaN values dropped)."""
        self.models_: dict[str, _GP] = {}
        for name, (smiles, values) in data.items():
            units, y = _finite(smiles, values)
            if len(y) < 2:
                raise InputError(f"TanimotoGPModels needs at least 2 values of {name!r}.")
            fp = _bit_fingerprints(units, self.radius, self.n_bits)
            self.models_[name] = _GP(fp, y, self.noises)
        self.noise_ = {name: m.noise for name, m in self.models_.items()}
        self._similarity: dict[str, float] = {}
        return self

    def __call__(self, smiles: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{property: (mean, std)}`` predicted for each repeat unit."""
        check_is_fitted(self, "models_")
        fp = _bit_fingerprints(smiles, self.radius, self.n_bits)
        out, nearest = {}, np.ones(len(smiles), dtype=np.float32)
        for name, model in self.models_.items():
            k = tanimoto_matrix(fp, model.fp)
            nearest = np.minimum(nearest, k.max(axis=1))
            out[name] = model.predict(k)
        if len(self._similarity) > 200_000:
            self._similarity.clear()
        self._similarity.update(zip(smiles, nearest.tolist()))
        return out

    def max_similarity(self, smiles: Sequence[str]) -> np.ndarray:
        """Similarity of each unit to the nearest training unit, the smallest over properties.

        For each property, the largest Tanimoto similarity to that property's training units;
        a unit is as far from the data as its least-covered property.
        """
        check_is_fitted(self, "models_")
        missing = [s for s in dict.fromkeys(smiles) if s not in self._similarity]
        if missing:
            self(missing)
        return np.array([self._similarity[s] for s in smiles], dtype=float)

    def log_domain(self, smiles: Sequence[str]) -> np.ndarray:
        """Applicability-domain log-weight ``-w * max(0, threshold - similarity)`` (<= 0)."""
        gap = np.maximum(0.0, self.domain_threshold - self.max_similarity(smiles))
        return -self.domain_weight * gap


def fit_design_models(
    data: Mapping[str, tuple[Sequence[str], Sequence[float]]],
    *,
    rng: np.random.Generator | int,
    validation_fraction: float = 0.2,
    coverage: float = 0.9,
    domain_weight: float = 50.0,
) -> tuple[TanimotoGPModels, dict[str, float]]:
    """GP forward models with an applicability domain chosen on a validation split.

    A random ``validation_fraction`` of each property's units is held out, a
    :class:`TanimotoGPModels` is fitted on the rest, and the domain threshold is the similarity
    that ``coverage`` of the validation units reach (their largest Tanimoto similarity to the
    fitted units of their property), the smallest over the properties: new units less similar
    to the training data than 90 % of unseen polymers of the data sets are penalised. The
    returned models are then fitted on all of ``data``.

    Parameters
    ----------
    data : mapping of str to (sequence of str, sequence of float)
        ``{property: (smiles, values)}`` in canonical units.
    rng : numpy.random.Generator or int
        Source of randomness of the validation split.
    validation_fraction : float, default 0.2
        Fraction of each property's units used to choose the threshold.
    coverage : float, default 0.9
        Fraction of validation units inside the domain.
    domain_weight : float, default 50
        Log-likelihood lost per unit of similarity below the threshold.

    Returns
    -------
    models : TanimotoGPModels
        Fitted on all of ``data``, with ``domain_threshold`` and ``domain_weight`` set.
    validation : dict
        ``domain_threshold`` and the validation R^2 of each property (``r2_<property>``).
    """
    if not 0 < validation_fraction < 1 or not 0 < coverage < 1:
        raise InputError(
            "fit_design_models needs validation_fraction and coverage in (0, 1). "
            f"Got {validation_fraction!r} and {coverage!r}."
        )
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    sims, report = [], {}
    for name, (smiles, values) in data.items():
        smiles, y = np.asarray(list(smiles), dtype=object), np.asarray(values, float)
        keep = np.flatnonzero(np.isfinite(y))
        perm = rng.permutation(keep)
        cut = max(1, int(validation_fraction * len(perm)))
        val, fit = perm[:cut], perm[cut:]
        gp = TanimotoGPModels().fit({name: (list(smiles[fit]), y[fit])})
        mean = gp(list(smiles[val]))[name][0]
        resid = np.sum((y[val] - mean) ** 2)
        report[f"r2_{name}"] = float(1 - resid / max(np.sum((y[val] - y[val].mean()) ** 2), 1e-300))
        sims.append(float(np.quantile(gp.max_similarity(list(smiles[val])), 1 - coverage)))
    threshold = min(sims)
    report["domain_threshold"] = threshold
    models = TanimotoGPModels(domain_threshold=threshold, domain_weight=domain_weight)
    return models.fit(data), report
