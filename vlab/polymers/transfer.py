"""Small-data transfer learning to thermal conductivity (Protocol A of the polymer lab).

A multi-output MLP is pretrained on the *source* part of PI1070 (its MD properties other
than thermal conductivity, see :func:`~vlab.polymers.datasets.pi1070_source_columns`). On
28 target polymers drawn from the disjoint *target pool* three learners are compared on the
same features and the same draws:

(a) ``frozen``: ridge regression on the pretrained hidden-layer activations, and
    ``outputs``: ridge regression on the pretrained network's predicted source properties;
(b) ``finetune``: the pretrained network with a new output unit, trained further on the 28
    points (``partial_fit`` from the pretrained weights);
(c) ``scratch``: ridge regression on the standardised input features.

Splits are by canonical repeat unit (rows are already unique per unit), and the training
polymers of a draw never appear in its test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vlab.errors import InputError

__all__ = ["PretrainedNet", "TransferResult", "pretrain", "protocol_a", "split_by_unit"]

_ALPHAS = np.logspace(-2, 4, 13)


@dataclass(frozen=True, kw_only=True)
class TransferResult:
    """Per-draw test errors of Protocol A (MAE in the target unit, R² dimensionless).

    ``mae[name]`` and ``r2[name]`` are arrays over draws for the learners ``"scratch"``,
    ``"frozen"``, ``"outputs"``, ``"finetune"`` and ``"mean"`` (predicting the training mean).
    """

    mae: dict[str, np.ndarray]
    r2: dict[str, np.ndarray]
    n_train: int
    n_draws: int

    def summary(self) -> dict[str, float]:
        """Mean MAE and R² per learner, and the paired ratio best-transfer / scratch."""
        out = {f"mae_{k}": float(v.mean()) for k, v in self.mae.items()}
        out.update({f"r2_{k}": float(v.mean()) for k, v in self.r2.items()})
        key = min(("frozen", "outputs", "finetune"), key=lambda k: self.mae[k].mean())
        ratio = self.mae[key] / self.mae["scratch"]
        out.update(best_transfer=key, ratio_mean=float(ratio.mean()), ratio_std=float(ratio.std()))
        return out


@dataclass(frozen=True, kw_only=True)
class PretrainedNet:
    """A pretrained multi-output MLP with its input scaler."""

    scaler: StandardScaler
    mlp: MLPRegressor

    def hidden(self, X: np.ndarray) -> np.ndarray:
        """Activations of the last hidden layer."""
        h = self.scaler.transform(X)
        for w, b in zip(self.mlp.coefs_[:-1], self.mlp.intercepts_[:-1]):
            h = np.maximum(h @ w + b, 0.0) if self.mlp.activation == "relu" else np.tanh(h @ w + b)
        return h


def split_by_unit(n: int, *, source_fraction: float = 2 / 3, rng: np.random.Generator):
    """Random split of ``n`` unique repeat units into source and target-pool indices."""
    if not 0 < source_fraction < 1:
        raise InputError(
            f"The 'source_fraction' parameter of split_by_unit must be in (0, 1). "
            f"Got {source_fraction!r}."
        )
    perm = rng.permutation(n)
    cut = round(source_fraction * n)
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def pretrain(
    X: np.ndarray, Y: np.ndarray, *, hidden=(256, 64), alpha=1e-2, max_iter=300, seed=0
) -> PretrainedNet:
    """Fit a multi-output MLP to standardised source properties ``Y`` (NaN -> column mean)."""
    Y = np.where(np.isfinite(Y), Y, np.nanmean(Y, axis=0))
    Ys = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    scaler = StandardScaler().fit(X)
    mlp = MLPRegressor(
        hidden_layer_sizes=hidden,
        alpha=alpha,
        max_iter=max_iter,
        random_state=seed,
        early_stopping=True,
        n_iter_no_change=20,
    )
    mlp.fit(scaler.transform(X), Ys)
    return PretrainedNet(scaler=scaler, mlp=mlp)


def _ridge(X, y, X_test):
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=_ALPHAS)).fit(X, y)
    return model.predict(X_test)


def _finetune(net: PretrainedNet, X, y, X_test, *, epochs=200, seed=0):
    """Warm start from the pretrained hidden layers; new output unit fitted by ridge first."""
    H = net.hidden(X)
    head = RidgeCV(alphas=_ALPHAS).fit(H, y)
    mlp = MLPRegressor(
        hidden_layer_sizes=net.mlp.hidden_layer_sizes,
        alpha=net.mlp.alpha,
        learning_rate_init=1e-4,
        random_state=seed,
        activation=net.mlp.activation,
    )
    mu, sd = y.mean(), y.std() or 1.0
    Xs = net.scaler.transform(X)
    mlp.partial_fit(Xs[:2], (y[:2] - mu) / sd)  # allocates the optimiser state
    mlp.coefs_ = [w.copy() for w in net.mlp.coefs_[:-1]] + [head.coef_[:, None] / sd]
    mlp.intercepts_ = [b.copy() for b in net.mlp.intercepts_[:-1]] + [
        np.array([(head.intercept_ - mu) / sd])
    ]
    mlp._optimizer = None
    del mlp._optimizer
    for _ in range(epochs):
        mlp.partial_fit(Xs, (y - mu) / sd)
    return mlp.predict(net.scaler.transform(X_test)) * sd + mu


def protocol_a(
    X: np.ndarray,
    y: np.ndarray,
    Y_source: np.ndarray,
    *,
    n_splits: int = 4,
    draws_per_split: int = 5,
    n_train: int = 28,
    rng: np.random.Generator,
    pretrain_kwargs: dict | None = None,
) -> TransferResult:
    """Run Protocol A: per split pretrain on the source part, then draw 28-point targets.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Features of unique repeat units.
    y : ndarray, shape (n,)
        Target (thermal conductivity, W/(m K)); used only in the target pool.
    Y_source : ndarray, shape (n, k)
        Source-task properties (never the target or columns derived from it).
    """
    names = ("scratch", "frozen", "outputs", "finetune", "mean")
    mae = {k: [] for k in names}
    r2 = {k: [] for k in names}
    for s in range(n_splits):
        src, pool = split_by_unit(len(X), rng=rng)
        pool = pool[np.isfinite(y[pool])]
        net = pretrain(X[src], Y_source[src], seed=s, **(pretrain_kwargs or {}))
        H = net.hidden(X)
        P = net.mlp.predict(net.scaler.transform(X))
        for _ in range(draws_per_split):
            perm = rng.permutation(pool)
            tr, te = perm[:n_train], perm[n_train:]
            preds = {
                "scratch": _ridge(X[tr], y[tr], X[te]),
                "frozen": _ridge(H[tr], y[tr], H[te]),
                "outputs": _ridge(P[tr], y[tr], P[te]),
                "finetune": _finetune(net, X[tr], y[tr], X[te], seed=s),
                "mean": np.full(len(te), y[tr].mean()),
            }
            for k, p in preds.items():
                mae[k].append(mean_absolute_error(y[te], p))
                r2[k].append(r2_score(y[te], p))
    return TransferResult(
        mae={k: np.asarray(v) for k, v in mae.items()},
        r2={k: np.asarray(v) for k, v in r2.items()},
        n_train=n_train,
        n_draws=n_splits * draws_per_split,
    )
