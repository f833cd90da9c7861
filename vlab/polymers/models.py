"""Forward models with predictive uncertainty (scikit-learn API), SMILES to (mean, std).

* :class:`EnsembleRegressor` - bootstrap ensemble of any regressor (default: standardised
  multi-layer perceptron); ``predict(X, return_std=True)`` gives the mean and the spread of
  the members.
* :class:`ForestRegressorStd` - random forest whose std is the spread of its trees.
* :class:`PolymerPropertyModel` - featurise repeat units (count Morgan + RDKit descriptors)
  and regress; saved with :func:`save_model` (or ``model.save``) as one ``.npz`` file of
  weights and JSON metadata (format version 2), without pickle, when its regressor is an
  :class:`EnsembleRegressor` of the default kind; :func:`load_model` also reads the
  ``.json`` + ``.npz`` pairs of format version 1.
* :func:`leave_one_out_skill` - the measured error of a model on its training data
  (:class:`ModelSkill`: leave-one-out MAE against the mean predictor's, and the factor that
  calibrates the predictive std); :class:`ModelCard` says what a prediction is (property,
  estimator, training data, skill) and which interval to print;
  :func:`experimental_tc_model` is the built-in thermal-conductivity model with its card.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_selection import VarianceThreshold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

from vlab import __version__
from vlab._utils import read_model_file, write_model_file
from vlab.errors import IncompatibleVersionError, InputError, UnreadableFileError
from vlab.polymers.features import MorganCounts, RDKitDescriptors
from vlab.polymers.smiles import repeat_units

__all__ = [
    "EnsembleRegressor",
    "ForestRegressorStd",
    "ModelCard",
    "ModelSkill",
    "PolymerPropertyModel",
    "cross_validated_skill",
    "default_mlp",
    "describe_estimator",
    "experimental_tc_model",
    "leave_one_out_skill",
    "load_model",
    "load_model_card",
    "load_model_training",
    "model_cache_dir",
    "save_model",
]

_FORMAT = "vlab.polymers.PolymerPropertyModel"
_FORMAT_V1 = "vlab.polymers.PolymerPropertyModel/1"  # a .json + .npz pair
FORMAT_VERSION = 2


def default_mlp(*, hidden_layer_sizes=(64,), alpha: float = 1e-2, max_iter: int = 400):
    """Standardised MLP: ``StandardScaler -> MLPRegressor`` with a standardised target."""
    mlp = MLPRegressor(hidden_layer_sizes=hidden_layer_sizes, alpha=alpha, max_iter=max_iter)
    return TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), mlp), transformer=StandardScaler()
    )


def _seed_all(estimator, seed: int):
    params = {k: seed for k in estimator.get_params() if k.endswith("random_state")}
    return estimator.set_params(**params)


class EnsembleRegressor(RegressorMixin, BaseEstimator):
    """Bootstrap ensemble with predictive mean and standard deviation.

    Parameters
    ----------
    estimator : regressor, optional
        Member template (default :func:`default_mlp`).
    n_estimators : int, default 5
        Number of members.
    bootstrap : bool, default True
        Fit each member on a bootstrap resample (else on all data, differing only by seed).
    random_state : int, optional
        Seed of the resampling and of the members.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> from sklearn.linear_model import Ridge
    >>> model = EnsembleRegressor(Ridge(alpha=1e-3), n_estimators=4, random_state=0).fit(X, y)
    >>> mean, std = model.predict(X[:2], return_std=True)
    >>> bool(np.allclose(mean, y[:2], atol=0.05)), std.shape
    (True, (2,))
    """

    def __init__(self, estimator=None, *, n_estimators=5, bootstrap=True, random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.random_state = random_state

    def fit(self, X, y):
        """Fit ``n_estimators`` members."""
        if not isinstance(self.n_estimators, (int, np.integer)) or self.n_estimators < 1:
            raise InputError(
                "The 'n_estimators' parameter of EnsembleRegressor must be a positive integer. "
                f"Got {self.n_estimators!r}."
            )
        template = self._template()
        X, y = validate_data(
            self,
            X,
            y,
            dtype=np.float64,
            ensure_all_finite=not get_tags(template).input_tags.allow_nan,
            multi_output=True,
            y_numeric=True,
        )
        y = np.asarray(y, dtype=float)
        rng = np.random.default_rng(self.random_state)
        self.estimators_ = []
        for _ in range(self.n_estimators):
            seed = int(rng.integers(2**31 - 1))
            idx = rng.integers(len(X), size=len(X)) if self.bootstrap else np.arange(len(X))
            self.estimators_.append(_seed_all(clone(template), seed).fit(X[idx], y[idx]))
        return self

    def _template(self):
        return default_mlp() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        member = get_tags(self._template())
        tags.input_tags.allow_nan = member.input_tags.allow_nan
        tags.target_tags.multi_output = member.target_tags.multi_output
        return tags

    def predict(self, X, return_std: bool = False):
        """Mean prediction, and the members' standard deviation if ``return_std``."""
        check_is_fitted(self, "estimators_")
        allow_nan = get_tags(self).input_tags.allow_nan
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=not allow_nan, reset=False)
        preds = np.stack([e.predict(X) for e in self.estimators_])
        mean = preds.mean(axis=0)
        return (mean, preds.std(axis=0)) if return_std else mean


class ForestRegressorStd(RandomForestRegressor):
    """:class:`~sklearn.ensemble.RandomForestRegressor` with ``predict(X, return_std=True)``.

    The std is the spread of the individual trees' predictions.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(50, 2)); y = X[:, 0]
    >>> f = ForestRegressorStd(n_estimators=20, random_state=0).fit(X, y)
    >>> [a.shape for a in f.predict(X[:3], return_std=True)]
    [(3,), (3,)]
    """

    def predict(self, X, return_std: bool = False):
        """Mean over trees; with ``return_std`` also the std over trees."""
        mean = super().predict(X)
        if not return_std:
            return mean
        X = self._validate_X_predict(X)
        preds = np.stack([t.predict(X) for t in self.estimators_])
        return mean, preds.std(axis=0)


class PolymerPropertyModel(RegressorMixin, BaseEstimator):
    """From repeat-unit SMILES to a property with uncertainty.

    Features: :class:`~vlab.polymers.features.MorganCounts` (and, if ``descriptors``,
    :class:`~vlab.polymers.features.RDKitDescriptors`), constant columns dropped.

    Parameters
    ----------
    regressor : regressor with ``predict(X, return_std=True)``, optional
        Default :class:`EnsembleRegressor` of :func:`default_mlp`.
    radius, n_bits : int
        Morgan parameters.
    descriptors : bool, default True
        Append RDKit descriptors.
    random_state : int, optional
        Seed passed to the default regressor.

    Examples
    --------
    >>> smiles = ["*CC*", "*CC(*)C", "*CC(*)CC", "*CC(*)CCC", "*CC(*)CCCC", "*CCO*"]
    >>> model = PolymerPropertyModel(
    ...     ForestRegressorStd(n_estimators=10, random_state=0), n_bits=64, descriptors=False
    ... ).fit(smiles, [1.0, 2, 3, 4, 5, 6])
    >>> mean, std = model.predict(["*CC(*)CC"], return_std=True)
    >>> mean.shape, bool(std[0] >= 0)
    ((1,), True)
    """

    def __init__(
        self, regressor=None, *, radius=2, n_bits=1024, descriptors=True, random_state=None
    ):
        self.regressor = regressor
        self.radius = radius
        self.n_bits = n_bits
        self.descriptors = descriptors
        self.random_state = random_state

    def _featurizer(self) -> Pipeline:
        parts = [MorganCounts(radius=self.radius, n_bits=self.n_bits)]
        if self.descriptors:
            parts.append(RDKitDescriptors())
        return make_pipeline(make_union(*parts), VarianceThreshold())

    def fit(self, smiles, y):
        """Featurise ``smiles`` and fit the regressor to ``y`` (finite values, one per unit,
        at least two units)."""
        smiles = repeat_units(smiles, "PolymerPropertyModel.fit")
        values = np.asarray(y, dtype=float)
        rows = len(values) if values.ndim else 0
        if rows != len(smiles) or len(smiles) < 2:
            raise InputError(
                "PolymerPropertyModel.fit needs at least 2 repeat units and one value (or row "
                f"of values) per unit. Got {len(smiles)} units and {rows} values."
            )
        finite = np.isfinite(values).reshape(rows, -1).all(axis=1)
        bad = np.flatnonzero(~finite)
        if bad.size:
            raise InputError(
                f"PolymerPropertyModel.fit: {bad.size} of the {rows} values are not finite "
                f"(NaN or infinite), the first at index {bad[0]} ({smiles[bad[0]]!r}); drop those "
                "rows before fitting."
            )
        self.featurizer_ = self._featurizer().fit(smiles)
        reg = self.regressor
        if reg is None:
            reg = EnsembleRegressor(random_state=self.random_state)
        self.regressor_ = clone(reg).fit(self.featurizer_.transform(smiles), np.asarray(y, float))
        return self

    def predict(self, smiles, return_std: bool = False):
        """Predicted mean (and std if ``return_std``) for each repeat unit."""
        check_is_fitted(self, "regressor_")
        return self.regressor_.predict(self.featurizer_.transform(smiles), return_std=return_std)

    def save(self, path, *, card: ModelCard | None = None) -> Path:
        """Write the fitted model to one ``.npz`` file (see :func:`save_model`)."""
        return save_model(self, path, card=card)

    @classmethod
    def load(cls, path) -> PolymerPropertyModel:
        """Read a model written by :meth:`save` (see :func:`load_model`)."""
        return load_model(path)


# --- measured skill and model cards -----------------------------------------------------

MIN_SKILL = 0.1
"""A model has skill when its leave-one-out MAE is at least this fraction below the mean
predictor's (``ModelSkill.skill >= MIN_SKILL``)."""


@dataclass(frozen=True, kw_only=True)
class ModelSkill:
    """Leave-one-out error of a model on its own training data (see :func:`leave_one_out_skill`).

    Attributes
    ----------
    n : int
        Training points (rows of one repeat unit are held out together).
    mae : float
        Mean absolute error of the model refitted without each point, at that point (units
        of the property, e.g. W/(m K)).
    baseline_mae : float
        The same for the mean predictor (the mean of the other points), same units.
    std_scale : float
        Root mean square of the leave-one-out z-scores ``(y - mean) / std``: the factor that
        calibrates the model's predictive std (1: calibrated; 2: the std is half too small).
    spread : float
        Standard deviation of the training values (``ddof=1``), same units.

    Examples
    --------
    >>> s = ModelSkill(n=34, mae=0.046, baseline_mae=0.045, std_scale=2.0, spread=0.054)
    >>> round(s.skill, 3), s.has_skill
    (-0.022, False)
    """

    n: int
    mae: float
    baseline_mae: float
    std_scale: float
    spread: float

    @property
    def skill(self) -> float:
        """``1 - mae / baseline_mae``: 0 for the mean predictor, 1 for a perfect model."""
        return 1.0 - self.mae / self.baseline_mae if self.baseline_mae > 0 else 0.0

    @property
    def has_skill(self) -> bool:
        """True when :attr:`skill` is at least :data:`MIN_SKILL`."""
        return self.skill >= MIN_SKILL

    @property
    def percent(self) -> str:
        """:attr:`skill` as a percentage, with a decimal where whole percents would hide on
        which side of :data:`MIN_SKILL` it lies.

        >>> ModelSkill(n=9, mae=0.9004, baseline_mae=1.0, std_scale=1.0, spread=1.0).percent
        '9.96%'
        """
        if (round(self.skill, 2) >= MIN_SKILL) != self.has_skill:
            return f"{self.skill:.2%}"
        return f"{self.skill:.0%}"


def leave_one_out_skill(model, smiles, y) -> ModelSkill:
    """Refit ``model`` without each point, predict it, and compare with the mean predictor.

    Points that are the same polymer (one repeat unit written differently or measured twice,
    see :func:`~vlab.polymers.smiles.normalize_repeat_unit`) are left out together, so a
    model is never scored on a polymer it was fitted on.

    Parameters
    ----------
    model : regressor with ``predict(X, return_std=True)``
        Unfitted template (cloned per fold), e.g. :class:`PolymerPropertyModel`.
    smiles : sequence
        Training inputs (repeat units for :class:`PolymerPropertyModel`).
    y : array-like of float
        Training values (units of the property).

    Returns
    -------
    ModelSkill

    Raises
    ------
    InputError
        Fewer than 3 points or distinct repeat units, or ``smiles`` and ``y`` of different
        lengths.

    Examples
    --------
    >>> smiles = ["*CC*", "*CC(*)C", "*CC(*)CC", "*CC(*)CCC", "*CC(*)CCCC", "*CCO*"]
    >>> forest = ForestRegressorStd(n_estimators=10, random_state=0)
    >>> skill = leave_one_out_skill(
    ...     PolymerPropertyModel(forest, n_bits=64, descriptors=False), smiles, [1, 2, 3, 4, 5, 6]
    ... )
    >>> skill.n, round(skill.baseline_mae, 2)
    (6, 1.8)
    """
    return _fold_skill(model, smiles, y, None, "leave_one_out_skill")


def cross_validated_skill(
    model,
    smiles,
    y,
    *,
    folds: int = 5,
    random_state=0,
    progress: Callable[[int], None] | None = None,
) -> ModelSkill:
    """As :func:`leave_one_out_skill` with ``folds`` shuffled folds (for larger training sets).

    Each point is predicted by the model refitted on the other folds, and the mean predictor
    of a point is the mean of those other folds' values. The folds split the distinct repeat
    units: all rows of one polymer are in the same fold. ``progress``, if given, is called
    with 1 after each fold (e.g. a progress bar's ``update``).

    Examples
    --------
    >>> smiles = ["*CC*", "*CC(*)C", "*CC(*)CC", "*CC(*)CCC", "*CC(*)CCCC", "*CCO*"]
    >>> forest = ForestRegressorStd(n_estimators=10, random_state=0)
    >>> skill = cross_validated_skill(
    ...     PolymerPropertyModel(forest, n_bits=64, descriptors=False), smiles,
    ...     [1, 2, 3, 4, 5, 6], folds=3
    ... )
    >>> skill.n, skill.baseline_mae > 0
    (6, True)
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InputError(f"cross_validated_skill: folds must be an integer >= 2. Got {folds!r}.")
    kfold = (folds, random_state)
    return _fold_skill(model, smiles, y, kfold, "cross_validated_skill", progress=progress)


def _unit_groups(smiles) -> np.ndarray:
    """Group index of each input, numbered in order of first appearance: inputs that are the
    same polymer (:func:`~vlab.polymers.smiles.normalize_repeat_unit`) share one; an input
    that is not a repeat unit is its own group."""
    from vlab.polymers.smiles import normalize_many

    keys, bad = normalize_many(smiles)
    if bad.count:  # keep positions: the invalid inputs stand for themselves
        good = iter(keys)
        skip = set(bad.indices)
        keys = [("input", i) if i in skip else next(good) for i in range(len(smiles))]
    index: dict = {}
    return np.array([index.setdefault(k, len(index)) for k in keys], dtype=int)


def _fold_skill(model, smiles, y, kfold, name: str, *, progress=None) -> ModelSkill:
    """Refit per fold, predict the held-out points; ``kfold`` None: one repeat unit per fold;
    ``progress(1)`` after each fold. Rows of one repeat unit are always in one fold."""
    from sklearn.model_selection import KFold

    smiles, y = list(smiles), np.asarray(y, dtype=float)
    n = len(y)
    least = 3 if kfold is None else max(3, kfold[0])
    if n != len(smiles) or n < least:
        raise InputError(
            f"{name} needs at least {least} training points and one value per input. "
            f"Got {len(smiles)} inputs and {n} values."
        )
    group = _unit_groups(smiles)
    n_groups = int(group.max()) + 1
    if n_groups < least:
        raise InputError(
            f"{name} needs at least {least} distinct repeat units (rows of one unit share a "
            f"fold). Got {n} points of {n_groups} distinct units."
        )
    if kfold is None:
        parts = [np.array([g]) for g in range(n_groups)]
    else:
        parts = [
            test
            for _, test in KFold(kfold[0], shuffle=True, random_state=kfold[1]).split(
                np.arange(n_groups)
            )
        ]
    rows = np.arange(n)
    splits = [(rows[~np.isin(group, p)], rows[np.isin(group, p)]) for p in parts]
    residual, std, baseline = np.empty(n), np.empty(n), np.empty(n)
    for train, test in splits:
        fold = clone(model).fit([smiles[i] for i in train], y[train])
        mean_t, std_t = fold.predict([smiles[i] for i in test], return_std=True)
        residual[test], std[test] = y[test] - mean_t, std_t
        baseline[test] = y[test] - y[train].mean()
        if progress is not None:
            progress(1)
    z = residual / np.maximum(std, np.finfo(float).tiny)
    return ModelSkill(
        n=n,
        mae=float(np.abs(residual).mean()),
        baseline_mae=float(np.abs(baseline).mean()),
        std_scale=float(np.sqrt(np.mean(z**2))),
        spread=float(y.std(ddof=1)),
    )


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """What a prediction is: property, units, estimator, training data and measured skill.

    Attributes
    ----------
    property : str
        Human name of the property, e.g. ``"thermal conductivity λ"``.
    symbol : str
        Short label of a value, e.g. ``"λ"``.
    units : str
        Units of the predictions, e.g. ``"W/(m K)"``.
    estimator : str
        What computes the prediction (see :func:`describe_estimator`).
    training : str
        The training data, e.g. a source name and what it holds.
    n_train : int or None
        Training points (None: not recorded).
    skill : ModelSkill or None
        Leave-one-out error on the training data (None: not measured).
    validation : str
        How :attr:`skill` was measured (e.g. ``"nested leave-one-out"``).
    calibration : str or None
        Set when the intervals are conformal: how the multipliers were fitted (e.g. ``"on a
        split by chemical family"``); :attr:`ModelSkill.std_scale` is then the 68 % multiplier
        of the std and :attr:`scale_95` the 95 % one, used whether or not the model has skill.
    scale_95 : float or None
        95 % multiplier of the std (conformal cards only).
    lower_limit : float or None
        The smallest value the property can take (0 for a thermal conductivity), where
        :meth:`bounds_95` cuts the 95 % interval; None: no limit.
    """

    property: str
    symbol: str
    units: str
    estimator: str
    training: str
    n_train: int | None = None
    skill: ModelSkill | None = None
    validation: str = "leave-one-out"
    calibration: str | None = None
    scale_95: float | None = None
    lower_limit: float | None = None

    def interval(self, std) -> np.ndarray:
        """Half-width of the interval to print after ``±`` (units of the property).

        For a conformal card, the 68 % half-width (std times :attr:`ModelSkill.std_scale`).
        Otherwise the predictive std times :attr:`ModelSkill.std_scale` when the model has
        skill (calibrated on the errors of :attr:`validation`); the spread of the training data when
        it has none; the raw predictive std when the skill was not measured.
        """
        std = np.asarray(std, dtype=float)
        if self.skill is None:
            return std
        if self.calibration is None and not self.skill.has_skill:
            return np.full_like(std, self.skill.spread)
        return std * self.skill.std_scale

    def interval_95(self, std) -> np.ndarray | None:
        """Half-width of the 95 % interval of a conformal card (None for other cards)."""
        if self.calibration is None or self.scale_95 is None:
            return None
        return np.asarray(std, dtype=float) * self.scale_95

    def bounds_95(self, mean, std) -> tuple[np.ndarray, np.ndarray] | None:
        """Low and high ends of the 95 % interval of a conformal card, the low end cut at
        :attr:`lower_limit` (None for other cards).

        Examples
        --------
        >>> card = ModelCard(property="λ", symbol="λ", units="W/(m K)", estimator="-",
        ...                  training="-", calibration="-", scale_95=2.0, lower_limit=0.0)
        >>> [b.tolist() for b in card.bounds_95([0.1, 0.5], [0.1, 0.1])]
        [[0.0, 0.3], [0.3, 0.7]]
        """
        wide = self.interval_95(std)
        if wide is None:
            return None
        mean = np.asarray(mean, dtype=float)
        low = mean - wide
        if self.lower_limit is not None:
            low = np.maximum(low, self.lower_limit)
        return low, mean + wide

    def describe(self) -> list[str]:
        """Two lines: what is predicted and how, and the measured error with the ± meaning."""
        points = f", {self.n_train} points" if self.n_train else ""
        head = (
            f"{self.property} [{self.units}]: {self.estimator}, trained on {self.training}{points}."
        )
        return [head, self.verdict()]

    def verdict(self) -> str:
        """The measured error and what the printed ``±`` means."""
        s, u = self.skill, self.units
        if s is None:
            return (
                "error not measured (no leave-one-out record with this model): the ± is the "
                "ensemble spread, not a calibrated interval."
            )
        versus = (
            f"{self.validation} MAE {s.mae:.3f} vs {s.baseline_mae:.3f} {u} for predicting the mean"
        )
        if self.calibration is not None:
            verdict = f"skill {s.percent}" if s.has_skill else f"little skill ({s.percent})"
            return (
                f"{verdict}: {versus}; ± is the 68 % and [low, high] the 95 % interval, "
                f"conformal {self.calibration}."
            )
        if not s.has_skill:
            return (
                f"no skill: {versus}; the interval is the spread of the training data "
                f"(± {s.spread:.3f} {u}), not the model's uncertainty."
            )
        return (
            f"skill {s.percent}: {versus}; the ± is the predictive std × {s.std_scale:.2f}, "
            f"calibrated on the {self.validation} errors."
        )

    def as_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> ModelCard:
        """Inverse of :meth:`as_dict`."""
        data = dict(data)
        skill = data.pop("skill", None)
        return cls(**data, skill=None if skill is None else ModelSkill(**skill))


def describe_estimator(model: PolymerPropertyModel) -> str:
    """One line naming the regressor and the features of ``model``.

    Examples
    --------
    >>> describe_estimator(PolymerPropertyModel())
    'bootstrap ensemble of 5 MLPs (64 hidden units) on count-Morgan fingerprints (radius 2, 1024 bits) + RDKit descriptors'
    """  # noqa: E501
    features = f"count-Morgan fingerprints (radius {model.radius}, {model.n_bits} bits)"
    if model.descriptors:
        features += " + RDKit descriptors"
    reg = getattr(model, "regressor_", None) or model.regressor or EnsembleRegressor()
    if not isinstance(reg, EnsembleRegressor):
        return f"{type(reg).__name__} on {features}"
    members = getattr(reg, "estimators_", None)
    count = len(members) if members else reg.n_estimators
    mlp = _mlp_of(members[0] if members else (reg.estimator or default_mlp()))
    if mlp is None:
        name = f"{type(reg.estimator).__name__} members"
    else:
        coefs = getattr(mlp, "coefs_", None)
        sizes = [w.shape[1] for w in coefs[:-1]] if coefs else list(mlp.hidden_layer_sizes)
        name = f"MLPs ({'-'.join(map(str, sizes))} hidden units)"
    bootstrap = "bootstrap ensemble" if reg.bootstrap else "ensemble"
    return f"{bootstrap} of {count} {name} on {features}"


def _mlp_of(member) -> MLPRegressor | None:
    inner = getattr(member, "regressor_", None) or getattr(member, "regressor", None) or member
    steps = getattr(inner, "steps", [("", inner)])
    return next((s for _, s in steps if isinstance(s, MLPRegressor)), None)


_SKILLS: dict[str, ModelSkill] = {}


def model_cache_dir() -> Path:
    """The folder of cached model by-products (configuration key ``polymers.model_cache_dir``).

    By default ``$XDG_CACHE_HOME/vlab/models`` (``~/.cache/vlab/models``).
    """
    from vlab import config

    configured = config.get("polymers.model_cache_dir")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "vlab" / "models"


def _cached_skill(model, smiles: list[str], y: np.ndarray) -> ModelSkill:
    """:func:`leave_one_out_skill`, kept per process and in :func:`model_cache_dir`.

    The key is a content hash of the training data, the model's parameters and the vlab and
    scikit-learn versions, so a changed table or model recomputes it.
    """
    import sklearn

    from vlab._utils import content_hash

    key = content_hash(
        "leave-one-out", __version__, sklearn.__version__, repr(model), smiles, y.tolist()
    )[:20]
    if key in _SKILLS:
        return _SKILLS[key]
    path = model_cache_dir() / f"leave-one-out-{key}.json"
    try:
        skill = ModelSkill(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        skill = leave_one_out_skill(model, smiles, y)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{id(skill)}.tmp")
            tmp.write_text(json.dumps(asdict(skill)))
            tmp.replace(path)
        except OSError:  # a read-only cache: keep it for this process only
            pass
    _SKILLS[key] = skill
    return skill


#: The name that stands for :func:`experimental_tc_model` wherever a model is named.
BUILTIN_TC_MODEL = "builtin:experimental-tc"


@lru_cache(maxsize=4)
def experimental_tc_model(*, random_state: int = 0, morphology: str = "amorphous"):
    """The built-in model of measured thermal conductivity, fitted, and its card.

    The variant that the nested comparison's selection chooses on the embedded measured
    table (:func:`~vlab.polymers.load_experimental_tc`; candidates and network in
    :func:`~vlab.polymers.transfer.build_measured_tc`), fitted on all of it, with the
    morphology flag as an input. Its card holds the nested leave-one-out error of the
    selection procedure next to the mean predictor's and the conformal 68 %/95 % multipliers
    fitted on a split by chemical family. The selection and calibration ship with vlab,
    measured ahead; only if the table or the settings differ from the shipped ones does the
    first call pretrain and measure (several minutes) and cache the result in
    :func:`model_cache_dir`. A call takes seconds otherwise.

    Parameters
    ----------
    random_state : int, default 0
        Seed of the bootstrap heads of a ridge head (the forest has a fixed seed).
    morphology : {"amorphous", "semicrystalline"}
        Sample morphology assumed for the polymers to predict.

    Returns
    -------
    model : MeasuredTCModel
        ``predict(smiles, return_std=True)``: λ in W/(m K) and the calibrated std.
    card : ModelCard
    """
    from vlab.polymers.datasets import load_experimental_tc
    from vlab.polymers.transfer import INNER_REPEATS, SIM2REAL_VARIANTS, build_measured_tc

    model = build_measured_tc(morphology=morphology)
    if random_state != 0:
        model.regressor.set_params(random_state=random_state)
        model.regressor.fit(*_measured_rows(model, load_experimental_tc()))
    fit = model.fit
    y = np.asarray(load_experimental_tc().column("thermal_conductivity"), dtype=float)
    learner = {
        "mean": "the training mean",
        "scratch": "ridge on RDKit descriptors + count-Morgan fingerprints",
        "forest": "random forest (50 trees) on RDKit descriptors + count-Morgan fingerprints",
        "as_is": "the MD-λ network's prediction",
        "outputs": "ridge on the λ that a network pretrained on PI1070 MD predicts",
        "frozen": "ridge on the last hidden layer of a network pretrained on PI1070 MD λ",
    }[SIM2REAL_VARIANTS[fit.variant][1]]
    card = ModelCard(
        property="thermal conductivity λ",
        symbol="λ",
        units="W/(m K)",
        estimator=f"{fit.variant}: {learner}, and the morphology flag ({morphology}); "
        f"the variant most often chosen by {INNER_REPEATS} x 5-fold inner CV in a nested "
        "leave-one-out among the "
        "mean, ridge, random forest and the MD-λ network used as is, corrected or as features",
        training="the embedded measured table experimental_tc (room-temperature values of "
        f"homopolymers, cited per row); selection and calibration {model.origin}",
        n_train=fit.n,
        skill=ModelSkill(
            n=fit.n,
            mae=fit.nested_mae,
            baseline_mae=fit.nested_mae_mean,
            std_scale=fit.z68,
            spread=float(np.std(y, ddof=1)),
        ),
        validation="nested leave-one-out",
        calibration=f"on a split by chemical family ({fit.n_families} Butina clusters held out "
        "in 5 folds)",
        scale_95=fit.z95,
        lower_limit=0.0,
    )
    return model, card


def _measured_rows(model, table):
    from vlab.polymers.transfer import morphology_flags

    X = model.design(table.smiles)[:, :-1]
    return np.hstack([X, morphology_flags(table.text["morphology"])]), np.asarray(
        table.column("thermal_conductivity"), dtype=float
    )


# --- save / load without pickle ---------------------------------------------------------


def _mlp_members(model: PolymerPropertyModel):
    reg = model.regressor_
    ok = isinstance(reg, EnsembleRegressor) and all(
        isinstance(m, TransformedTargetRegressor)
        and isinstance(m.regressor_, Pipeline)
        and [type(s) for _, s in m.regressor_.steps] == [StandardScaler, MLPRegressor]
        for m in reg.estimators_
    )
    if not ok:
        raise InputError(
            "save_model supports a fitted PolymerPropertyModel whose regressor is an "
            "EnsembleRegressor of default_mlp() members. Got "
            f"{type(reg).__name__}; use the default regressor, or pickle at your own risk."
        )
    return reg.estimators_


def save_model(
    model: PolymerPropertyModel,
    path,
    *,
    card: ModelCard | None = None,
    training: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Save a fitted model as one file, ``<path>.npz`` (weights and JSON metadata).

    Parameters
    ----------
    model : PolymerPropertyModel
        Fitted, with the default regressor.
    path : path-like
        The file (``.npz`` is appended if missing).
    card : ModelCard, optional
        What the model predicts and its measured skill (e.g. from
        :func:`leave_one_out_skill`); ``vlab polymers predict --model`` prints it.
    training : sequence of mappings, optional
        The identity of the data the model learned from, e.g. ``[{"store":
        "polymers-polymon_tg", "property": "Tg", "sha256": ..., "n_rows": 1000}]``;
        :func:`load_model_training` returns it.

    Returns
    -------
    pathlib.Path
        The file written: a NumPy ``.npz`` archive (no pickle) whose ``metadata`` member is
        JSON with ``format``, ``format_version`` (2), ``vlab_version``, the model's
        parameters and the card.
    """
    check_is_fitted(model, "regressor_")
    arrays: dict[str, np.ndarray] = {
        "support": model.featurizer_[-1].get_support(),
    }
    desc = model.featurizer_[0].transformer_list
    if model.descriptors:
        arrays["fill_values"] = desc[1][1].fill_values_
    layers = []
    for k, member in enumerate(_mlp_members(model)):
        scaler, mlp = (s for _, s in member.regressor_.steps)
        arrays[f"m{k}_x_mean"], arrays[f"m{k}_x_scale"] = scaler.mean_, scaler.scale_
        arrays[f"m{k}_y_mean"] = member.transformer_.mean_
        arrays[f"m{k}_y_scale"] = member.transformer_.scale_
        for j, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
            arrays[f"m{k}_w{j}"], arrays[f"m{k}_b{j}"] = w, b
        layers.append(len(mlp.coefs_))
        activation = mlp.activation
    meta = {
        "params": {k: model.get_params()[k] for k in ("radius", "n_bits", "descriptors")},
        "layers": layers,
        "activation": activation,
        "y_ndim": int(model.regressor_.estimators_[0].transformer_.mean_.shape[0] > 1),
        "card": None if card is None else card.as_dict(),
        "training": [dict(t) for t in training or ()],
    }
    return write_model_file(
        path, model_type=_FORMAT, format_version=FORMAT_VERSION, metadata=meta, arrays=arrays
    )


def _rebuild_member(arrays, k: int, n_layers: int, activation: str):
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = arrays[f"m{k}_x_mean"], arrays[f"m{k}_x_scale"]
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = scaler.mean_.shape[0]
    mlp = MLPRegressor(activation=activation)
    mlp.coefs_ = [arrays[f"m{k}_w{j}"] for j in range(n_layers)]
    mlp.intercepts_ = [arrays[f"m{k}_b{j}"] for j in range(n_layers)]
    mlp.n_layers_, mlp.n_outputs_ = n_layers + 1, mlp.coefs_[-1].shape[1]
    mlp.out_activation_, mlp.n_features_in_ = "identity", scaler.n_features_in_
    y_scaler = StandardScaler()
    y_scaler.mean_, y_scaler.scale_ = arrays[f"m{k}_y_mean"], arrays[f"m{k}_y_scale"]
    y_scaler.var_, y_scaler.n_features_in_ = y_scaler.scale_**2, y_scaler.mean_.shape[0]
    member = TransformedTargetRegressor(regressor=make_pipeline(scaler, mlp))
    member.regressor_, member.transformer_ = member.regressor, y_scaler
    member._training_dim = 1 + int(y_scaler.mean_.shape[0] > 1)
    return member


def _read_saved(path) -> tuple[dict, dict]:
    """Metadata and arrays of a saved model: one ``.npz`` file, or a version-1 ``.json`` pair."""
    path = Path(path)
    if not path.is_file() and path.suffix not in (".npz", ".json"):
        for candidate in (path.with_name(path.name + ".npz"), path.with_suffix(".json")):
            if candidate.is_file():
                path = candidate
                break
    if path.suffix == ".json":
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise UnreadableFileError(
                f"Could not read a saved PolymerPropertyModel from {str(path)!r} "
                f"({' '.join(str(err).split())}). Give a file written by save_model."
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT_V1:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise IncompatibleVersionError(
                f"The model file {str(path)!r} has format {found!r}; this vlab "
                f"({__version__}) reads {_FORMAT!r} files (.npz, format version 2) and "
                f"{_FORMAT_V1!r} (.json). Re-train and save the model again."
            )
        arrays_path = path.with_suffix(".npz")
        try:
            with np.load(arrays_path, allow_pickle=False) as data:
                return meta, {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise UnreadableFileError(
                f"Could not read the arrays {str(arrays_path)!r} of the saved "
                f"PolymerPropertyModel {str(path)!r} ({' '.join(str(err).split())}). A "
                "format-version-1 model is a .json file with its .npz beside it."
            ) from None
    return read_model_file(
        path,
        model_type=_FORMAT,
        versions=(FORMAT_VERSION,),
        saver="save_model",
        name="PolymerPropertyModel",
    )


def load_model(path) -> PolymerPropertyModel:
    """Load a model written by :func:`save_model` (no pickle involved).

    ``path`` is the ``.npz`` file (its ``.npz`` may be left out), or the ``.json`` file of a
    format-version-1 pair.

    Raises
    ------
    UnreadableFileError
        If the file is missing, unreadable or holds another type of model.
    IncompatibleVersionError
        If the file has another format version.
    """
    meta, arrays = _read_saved(path)
    model = PolymerPropertyModel(**meta["params"])
    feat = model._featurizer()
    union = feat[0]
    for _, t in union.transformer_list:
        t.fit(["*CC*"])
    if model.descriptors:
        union.transformer_list[1][1].fill_values_ = arrays["fill_values"]
    vt = feat[-1]
    vt.variances_ = arrays["support"].astype(float)
    vt.n_features_in_ = arrays["support"].shape[0]
    model.featurizer_ = feat
    ens = EnsembleRegressor()
    ens.estimators_ = [
        _rebuild_member(arrays, k, n, meta["activation"]) for k, n in enumerate(meta["layers"])
    ]
    ens.n_features_in_ = int(arrays["support"].sum())
    model.regressor_ = ens
    return model


def load_model_training(path) -> list[dict]:
    """The identity of the training data saved with a model (empty if none was recorded)."""
    meta, _ = _read_saved(path)
    return [dict(t) for t in meta.get("training") or ()]


def load_model_card(path) -> ModelCard | None:
    """The :class:`ModelCard` saved with a model by :func:`save_model` (None if there is none)."""
    meta, _ = _read_saved(path)
    card = meta.get("card")
    return None if card is None else ModelCard.from_dict(card)
