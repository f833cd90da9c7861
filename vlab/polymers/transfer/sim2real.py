"""Sim2Real transfer: from MD-computed thermal conductivity to measured values.

A network pretrained on simulated data (PI1070 MD properties, λ included, optionally with
PoLyInfo Tg and small-molecule Cp; see :func:`~vlab.polymers.transfer.pretrain`) supplies
inputs to a small model fitted on a few *measured* values. :class:`Sim2RealRegressor` is
that model, a scikit-learn regressor on rows ``[features | extra]`` whose last ``n_extra``
columns (e.g. the morphology flag of :func:`morphology_flags`) go to the head unchanged.
Its ``learner`` says how the pretrained network is used:

``mean``
    the training mean (no network);
``scratch``
    ridge on the features and the extra columns (no network);
``forest``
    a random forest on the same inputs (no network);
``as_is``
    the network's prediction of the MD task ``task`` (a simulated λ used as the
    prediction; nothing is fitted);
``outputs``
    ridge on the network's predicted tasks (learning scale) and the extra columns: a
    learned correction of the simulated properties;
``frozen``
    ridge on the network's last hidden layer and the extra columns;
``finetune``
    each member network gets a new output initialised by ridge on its hidden layer and is
    trained on the measured points with an L2 pull towards the pretrained weights; a linear
    term in the extra columns is fitted on the residuals.

Every learner gives ``predict(X, return_std=True)``: the spread of heads fitted on
bootstrap resamples (or of the members for ``finetune``) combined with the leave-one-out
residual error of the training points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_selection import VarianceThreshold
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from vlab.errors import InputError
from vlab.polymers.transfer._learners import ALPHAS, finetune_members
from vlab.polymers.transfer.pretrain import PretrainedNet, PretrainOptions

__all__ = ["MORPHOLOGIES", "SIM2REAL_LEARNERS", "Sim2RealRegressor", "morphology_flags"]

#: Sample morphologies of the measured table, in the order of the flag (0, 1).
MORPHOLOGIES = ("amorphous", "semicrystalline")
#: Learners of :class:`Sim2RealRegressor`; the first three use no network.
SIM2REAL_LEARNERS = ("mean", "scratch", "forest", "as_is", "outputs", "frozen", "finetune")
_NET_FREE = ("mean", "scratch", "forest")


def morphology_flags(morphology: Sequence[str]) -> np.ndarray:
    """Column of 1.0 for semicrystalline and 0.0 for amorphous samples.

    Examples
    --------
    >>> morphology_flags(["amorphous", "Semicrystalline"]).tolist()
    [[0.0], [1.0]]
    """
    out = []
    for m in morphology:
        key = str(m).strip().lower()
        if key not in MORPHOLOGIES:
            raise InputError(
                f"A morphology must be one of {', '.join(MORPHOLOGIES)}. Got {m!r}; "
                "fix the 'morphology' column."
            )
        out.append(float(MORPHOLOGIES.index(key)))
    return np.asarray(out, dtype=float).reshape(-1, 1)


class Sim2RealRegressor(RegressorMixin, BaseEstimator):
    """Model of measured values on top of a network pretrained on simulations.

    Parameters
    ----------
    net : PretrainedNet, optional
        Pretrained network (needed by ``as_is``, ``outputs``, ``frozen``, ``finetune``);
        its input width is the number of feature columns.
    learner : str, default "outputs"
        One of :data:`SIM2REAL_LEARNERS` (see :mod:`vlab.polymers.transfer.sim2real`).
    n_extra : int, default 0
        Trailing columns of ``X`` passed to the head unchanged (e.g. morphology).
    task : int, default 0
        Output of ``net`` that is the simulated target (``as_is``).
    n_boot : int, default 16
        Bootstrap heads behind the predictive standard deviation (0: the standard deviation
        is the leave-one-out residual error alone).
    options : PretrainOptions, optional
        Fine-tuning settings (``finetune``).
    random_state : int, optional
        Seed of the bootstrap heads and of fine-tuning (the forest has a fixed seed).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); y = X @ [0.1, -0.05, 0.0] + 0.2
    >>> model = Sim2RealRegressor(learner="scratch", random_state=0).fit(X, y)
    >>> mean, std = model.predict(X[:2], return_std=True)
    >>> bool(np.allclose(mean, y[:2], atol=0.01)), bool((std > 0).all())
    (True, True)
    """

    def __init__(
        self,
        net: PretrainedNet | None = None,
        *,
        learner: str = "outputs",
        n_extra: int = 0,
        task: int = 0,
        n_boot: int = 16,
        options: PretrainOptions | None = None,
        random_state=None,
    ):
        self.net = net
        self.learner = learner
        self.n_extra = n_extra
        self.task = task
        self.n_boot = n_boot
        self.options = options
        self.random_state = random_state

    # --- parameters --------------------------------------------------------------------

    def _check_params(self, n_columns: int):
        if self.learner not in SIM2REAL_LEARNERS:
            raise InputError(
                f"The 'learner' parameter of Sim2RealRegressor must be one of "
                f"{', '.join(SIM2REAL_LEARNERS)}. Got {self.learner!r}."
            )
        if self.net is None and self.learner not in _NET_FREE:
            raise InputError(
                f"Sim2RealRegressor(learner={self.learner!r}) needs a pretrained 'net'. "
                "Got net=None; pass one from pretrain() or use learner='scratch'."
            )
        if not isinstance(self.n_extra, (int, np.integer)) or not 0 <= self.n_extra < n_columns:
            raise InputError(
                "The 'n_extra' parameter of Sim2RealRegressor must be an integer in "
                f"[0, {n_columns}) for X with {n_columns} columns. Got {self.n_extra!r}."
            )
        if not isinstance(self.n_boot, (int, np.integer)) or self.n_boot < 0:
            raise InputError(
                f"The 'n_boot' parameter of Sim2RealRegressor must be an integer >= 0. "
                f"Got {self.n_boot!r}."
            )

    def _split(self, X):
        d = X.shape[1] - self.n_extra
        return X[:, :d], X[:, d:]

    def _design(self, X) -> np.ndarray:
        base, extra = self._split(X)
        if self.learner in _NET_FREE:
            return X
        if self.learner == "outputs":
            return np.hstack([self.net.outputs(base), extra])
        if self.learner == "frozen":
            return np.hstack([self.net.hidden(base), extra])
        return np.hstack([self.net.predict(base)[:, [self.task]], extra])

    # --- fit / predict -----------------------------------------------------------------

    def fit(self, X, y):
        """Fit the head (and the bootstrap heads) on measured values ``y``."""
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        self._check_params(X.shape[1])
        if len(X) < 3:
            raise InputError(
                f"Sim2RealRegressor needs at least 3 samples. Got n_samples = {len(X)}."
            )
        rng = np.random.default_rng(self.random_state)
        self.y_mean_ = float(y.mean())
        if self.learner == "finetune":
            self._fit_finetune(X, y, rng)
        else:
            self._fit_head(self._design(X), y, rng)
        return self

    def _head(self, alpha=None):
        if self.learner == "forest":
            return RandomForestRegressor(
                n_estimators=50,
                min_samples_leaf=2,
                max_features="sqrt",
                oob_score=True,
                random_state=0,
            )
        ridge = RidgeCV(alphas=ALPHAS) if alpha is None else Ridge(alpha=alpha)
        return make_pipeline(VarianceThreshold(), StandardScaler(), ridge)

    def _fit_head(self, Z, y, rng):
        n = len(Z)
        if self.learner in ("mean", "as_is"):
            loo = self._fixed_loo(Z, y)
            self.head_, self.boot_ = None, []
        elif self.learner == "forest":
            self.head_ = self._head().fit(Z, y)
            loo, self.boot_ = y - self.head_.oob_prediction_, []
        else:
            self.head_, alpha, loo = _ridge_with_loo(Z, y)
            self.boot_ = [
                self._head(alpha).fit(Z[idx], y[idx])
                for idx in (rng.integers(n, size=n) for _ in range(self.n_boot))
            ]
        self.sigma_residual_ = float(np.sqrt(np.mean(np.square(loo))))

    def _fixed_loo(self, Z, y):
        if self.learner == "mean":
            n = len(y)
            return (y - self.y_mean_) * n / (n - 1)
        return y - Z[:, 0]

    def _fit_finetune(self, X, y, rng):
        base, extra = self._split(X)
        options = self.options or PretrainOptions()
        self.members_ = finetune_members(self.net, base, y, options, rng)
        pred = np.mean([m.predict(base)[:, 0] for m in self.members_], axis=0)
        self.extra_head_ = LinearRegression().fit(extra, y - pred) if extra.shape[1] else None
        # residual scale: leave-one-out error of the ridge head on the hidden layer
        _, _, loo = _ridge_with_loo(np.hstack([self.net.hidden(base), extra]), y)
        self.sigma_residual_ = float(np.sqrt(np.mean(np.square(loo))))
        self.head_, self.boot_ = None, []

    def predict(self, X, return_std: bool = False):
        """Predicted values; with ``return_std`` also the predictive standard deviation."""
        check_is_fitted(self, "sigma_residual_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.learner == "finetune":
            mean, spread = self._predict_finetune(X)
        elif self.learner == "mean":
            mean, spread = np.full(len(X), self.y_mean_), np.zeros(len(X))
        else:
            Z = self._design(X)
            mean = Z[:, 0].copy() if self.learner == "as_is" else self.head_.predict(Z)
            spread = self._spread(Z)
        if not return_std:
            return mean
        return mean, np.sqrt(spread**2 + self.sigma_residual_**2)

    def _spread(self, Z):
        if self.learner == "forest":
            est = self.head_.estimators_
            return np.std([t.predict(Z) for t in est], axis=0)
        if not self.boot_:
            return np.zeros(len(Z))
        return np.std([b.predict(Z) for b in self.boot_], axis=0)

    def _predict_finetune(self, X):
        base, extra = self._split(X)
        preds = np.array([m.predict(base)[:, 0] for m in self.members_])
        mean = preds.mean(axis=0)
        if self.extra_head_ is not None:
            mean = mean + self.extra_head_.predict(extra)
        return mean, preds.std(axis=0)


def _ridge_with_loo(Z, y):
    """Fitted scaler + RidgeCV pipeline, its penalty and leave-one-out residuals."""
    pre = make_pipeline(VarianceThreshold(), StandardScaler()).fit(Z)
    ridge = RidgeCV(alphas=ALPHAS, store_cv_results=True).fit(pre.transform(Z), y)
    k = int(np.argmin(np.abs(ALPHAS - ridge.alpha_)))
    loo = np.sqrt(ridge.cv_results_[:, k])
    return make_pipeline(pre[0], pre[1], ridge), float(ridge.alpha_), loo
