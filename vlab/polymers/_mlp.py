"""A small multi-task perceptron in numpy: masked loss, Adam, L2 towards reference weights.

Private helper of :mod:`vlab.polymers.transfer`. scikit-learn's ``MLPRegressor`` cannot
train on tasks with missing labels (a Tg row has no PI1070 density and vice versa) and cannot
regularise fine-tuning towards the pretrained weights; this module does both with plain
numpy (ReLU hidden layers, linear outputs, mean squared error over the observed entries).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from vlab.errors import InputError


@dataclass(frozen=True, kw_only=True)
class MLPWeights:
    """Weights of a ReLU perceptron acting on standardised inputs.

    ``x_mean``/``x_scale`` standardise the inputs, ``y_mean``/``y_scale`` map the linear
    outputs back to the units of the targets.
    """

    coefs: tuple[np.ndarray, ...]
    intercepts: tuple[np.ndarray, ...]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray

    def hidden(self, X: np.ndarray) -> np.ndarray:
        """Activations of the last hidden layer."""
        return _forward(self, _standardise(self, X))[-1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Outputs in target units, shape ``(n, n_tasks)``."""
        h = self.hidden(X)
        return (h @ self.coefs[-1] + self.intercepts[-1]) * self.y_scale + self.y_mean


def _standardise(w: MLPWeights, X: np.ndarray) -> np.ndarray:
    return ((np.asarray(X, dtype=float) - w.x_mean) / w.x_scale).astype(np.float32)


def _forward(w: MLPWeights, Z: np.ndarray) -> list[np.ndarray]:
    acts = [Z]
    for W, b in zip(w.coefs[:-1], w.intercepts[:-1]):
        acts.append(np.maximum(acts[-1] @ W + b, 0.0))
    return acts


def _init(sizes, rng) -> tuple[list[np.ndarray], list[np.ndarray]]:
    coefs, inter = [], []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        inter.append(np.zeros(fan_out, dtype=np.float32))
    return coefs, inter


def _gradients(params, Z, T, M, task_w):
    """Masked MSE loss and its gradients; ``M`` marks observed entries of ``T``."""
    n_layers = len(params) // 2
    coefs, inter = params[:n_layers], params[n_layers:]
    acts = [Z]
    for W, b in zip(coefs[:-1], inter[:-1]):
        acts.append(np.maximum(acts[-1] @ W + b, 0.0))
    out = acts[-1] @ coefs[-1] + inter[-1]
    resid = np.where(M, out - T, 0.0) * task_w
    delta = 2.0 * resid / len(Z)
    g_coefs, g_inter = [None] * n_layers, [None] * n_layers
    for k in range(n_layers - 1, -1, -1):
        g_coefs[k] = acts[k].T @ delta
        g_inter[k] = delta.sum(axis=0)
        if k:
            delta = (delta @ coefs[k].T) * (acts[k] > 0)
    return float((resid * (out - T)).sum() / len(Z)), g_coefs + g_inter


def _adam(params, grads, state, lr, t, b1=0.9, b2=0.999, eps=1e-8):
    m, v = state
    for i, g in enumerate(grads):
        m[i] = b1 * m[i] + (1 - b1) * g
        v[i] = b2 * v[i] + (1 - b2) * g * g
        params[i] -= lr * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """Optimiser settings of :func:`train`.

    ``l2`` penalises the distance to the reference weights (zero weights when training from
    scratch, the pretrained weights when fine-tuning); ``l2_head`` applies to the last layer.
    """

    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    l2: float = 1e-4
    l2_head: float = 1e-4
    validation_fraction: float = 0.1
    patience: int = 10


def _standardise_targets(Y: np.ndarray):
    M = np.isfinite(Y)
    if not M.any(axis=0).all():
        raise InputError(
            "Every task (column of Y) of the multi-task network needs at least one finite "
            f"value. Got columns without any: {np.flatnonzero(~M.any(axis=0)).tolist()}."
        )
    mean = np.array([Y[M[:, j], j].mean() for j in range(Y.shape[1])])
    scale = np.array([Y[M[:, j], j].std() or 1.0 for j in range(Y.shape[1])])
    return np.where(M, (Y - mean) / scale, 0.0).astype(np.float32), M, mean, scale


def train(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    hidden: tuple[int, ...] = (256, 64),
    options: TrainOptions = TrainOptions(),
    init: MLPWeights | None = None,
    new_head: bool = True,
    task_weights: np.ndarray | None = None,
    rng: np.random.Generator,
) -> MLPWeights:
    """Fit a ReLU perceptron to the finite entries of ``Y`` (NaN = task not observed).

    With ``init`` the hidden layers start from (and are pulled by ``options.l2`` towards)
    ``init``'s weights and standardisation; the output layer is new (random) if
    ``new_head``, else ``init``'s (fine-tuning a head set by :func:`with_head`).
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float).reshape(len(X), -1)
    T, M, y_mean, y_scale = _standardise_targets(Y)
    if init is None:
        x_mean, x_scale = X.mean(axis=0), X.std(axis=0)
        x_scale = np.where(x_scale > 0, x_scale, 1.0)
        coefs, inter = _init([X.shape[1], *hidden, Y.shape[1]], rng)
    else:
        x_mean, x_scale = init.x_mean, init.x_scale
        coefs = [c.astype(np.float32) for c in init.coefs[:-1]]
        inter = [b.astype(np.float32) for b in init.intercepts[:-1]]
        if new_head:
            head_c, head_b = _init([coefs[-1].shape[1], Y.shape[1]], rng)
        else:
            head_c = [init.coefs[-1].astype(np.float32)]
            head_b = [init.intercepts[-1].astype(np.float32)]
        coefs, inter = coefs + head_c, inter + head_b
    ref = [c.copy() if init is not None else np.zeros_like(c) for c in coefs[:-1]]
    Z = ((X - x_mean) / x_scale).astype(np.float32)
    params = _fit(Z, T, M, coefs + inter, ref, options, task_weights, rng)
    n = len(coefs)
    return MLPWeights(
        coefs=tuple(params[:n]),
        intercepts=tuple(params[n:]),
        x_mean=x_mean,
        x_scale=x_scale,
        y_mean=y_mean,
        y_scale=y_scale,
    )


def _fit(Z, T, M, params, ref, opt: TrainOptions, task_weights, rng):
    n_layers = len(params) // 2
    tw = np.ones(T.shape[1], np.float32) if task_weights is None else task_weights
    tw = np.asarray(tw, dtype=np.float32)
    n_val = int(opt.validation_fraction * len(Z)) if opt.validation_fraction else 0
    perm = rng.permutation(len(Z))
    val, trn = perm[:n_val], perm[n_val:]
    state = ([np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params])
    best, best_params, bad, step = np.inf, [p.copy() for p in params], 0, 0
    for _ in range(opt.epochs):
        for batch in np.array_split(rng.permutation(trn), max(1, len(trn) // opt.batch_size)):
            _, grads = _gradients(params, Z[batch], T[batch], M[batch], tw)
            for k in range(n_layers):
                lam = opt.l2_head if k == n_layers - 1 else opt.l2
                base = 0.0 if k == n_layers - 1 else ref[k]
                grads[k] = grads[k] + 2 * lam * (params[k] - base)
            step += 1
            _adam(params, grads, state, opt.learning_rate, step)
        if n_val:
            loss = _gradients(params, Z[val], T[val], M[val], tw)[0]
            if loss < best - 1e-6:
                best, best_params, bad = loss, [p.copy() for p in params], 0
            elif (bad := bad + 1) >= opt.patience:
                break
    return best_params if n_val else params


def with_head(w: MLPWeights, coef: np.ndarray, intercept: float, mean: float, scale: float):
    """Copy of ``w`` whose single output is ``hidden @ coef + intercept`` (target units)."""
    return replace(
        w,
        coefs=(*w.coefs[:-1], (np.asarray(coef, float) / scale)[:, None]),
        intercepts=(*w.intercepts[:-1], np.array([(intercept - mean) / scale])),
        y_mean=np.array([mean]),
        y_scale=np.array([scale]),
    )
