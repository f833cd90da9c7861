"""Forward models with predictive uncertainty (scikit-learn API), SMILES to (mean, std).

* :class:`EnsembleRegressor` - bootstrap ensemble of any regressor (default: standardised
  multi-layer perceptron); ``predict(X, return_std=True)`` gives the mean and the spread of
  the members.
* :class:`ForestRegressorStd` - random forest whose std is the spread of its trees.
* :class:`PolymerPropertyModel` - featurise repeat units (count Morgan + RDKit descriptors)
  and regress; saved with :func:`save_model` as ``.npz`` weights + JSON metadata, without
  pickle, when its regressor is an :class:`EnsembleRegressor` of the default kind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_selection import VarianceThreshold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from vlab import __version__
from vlab.errors import IncompatibleVersionError, InputError
from vlab.polymers.features import MorganCounts, RDKitDescriptors

__all__ = [
    "EnsembleRegressor",
    "ForestRegressorStd",
    "PolymerPropertyModel",
    "default_mlp",
    "load_model",
    "save_model",
]

_FORMAT = "vlab.polymers.PolymerPropertyModel/1"


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
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        rng = np.random.default_rng(self.random_state)
        template = default_mlp() if self.estimator is None else self.estimator
        self.estimators_ = []
        for _ in range(self.n_estimators):
            seed = int(rng.integers(2**31 - 1))
            idx = rng.integers(len(X), size=len(X)) if self.bootstrap else np.arange(len(X))
            self.estimators_.append(_seed_all(clone(template), seed).fit(X[idx], y[idx]))
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, return_std: bool = False):
        """Mean prediction, and the members' standard deviation if ``return_std``."""
        check_is_fitted(self, "estimators_")
        preds = np.stack([e.predict(np.asarray(X, dtype=float)) for e in self.estimators_])
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
        """Featurise ``smiles`` and fit the regressor to ``y``."""
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


def save_model(model: PolymerPropertyModel, path) -> Path:
    """Save a fitted model as ``<path>.npz`` (weights) and ``<path>.json`` (metadata)."""
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
        "format": _FORMAT,
        "vlab_version": __version__,
        "params": {k: model.get_params()[k] for k in ("radius", "n_bits", "descriptors")},
        "layers": layers,
        "activation": activation,
        "y_ndim": int(model.regressor_.estimators_[0].transformer_.mean_.shape[0] > 1),
    }
    path = Path(path)
    np.savez(path.with_suffix(".npz"), **arrays)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return path.with_suffix(".json")


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


def load_model(path) -> PolymerPropertyModel:
    """Load a model written by :func:`save_model` (no pickle involved).

    Raises
    ------
    IncompatibleVersionError
        If the files were written in another format.
    """
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    if meta.get("format") != _FORMAT:
        raise IncompatibleVersionError(
            f"The model file {path.with_suffix('.json')} has format {meta.get('format')!r}; "
            f"this vlab ({__version__}) reads {_FORMAT!r}. Re-train and save the model again."
        )
    arrays = dict(np.load(path.with_suffix(".npz"), allow_pickle=False))
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
