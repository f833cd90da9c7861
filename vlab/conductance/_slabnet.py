"""A small numpy network with neck-aware slab pooling, trained end to end (private).

Forward pass for a batch of structures (see :mod:`vlab.conductance.descriptors`)::

    h = tanh(... tanh(x W1 + b1) ...)            per centre, x standardised SOAP
    a = softplus(h W_out + b_out)                 per-atom contribution, G0 (>= 0)
    c = S a                                       slab sums (S: block-diagonal slab matrix)
    G = Σ_j w_j c_j, w = softmax(-c / τ)          soft minimum per structure

The loss is the mean squared error in G0 plus ``alpha / 2 · Σ W² / n_structures``; the
gradient is exact (hand-written back-propagation) and L-BFGS minimises it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

from vlab.conductance.descriptors import LocalDescriptors, _soft_minimum, batch_slab_matrix


@dataclass(frozen=True, eq=False)
class Batch:
    """Stacked centres of many structures: features, slab matrix and slab -> structure map."""

    x: np.ndarray
    slabs: sparse.csr_matrix
    groups: np.ndarray
    n_structures: int


def make_batch(descriptors: list[LocalDescriptors], mean: np.ndarray, scale: np.ndarray) -> Batch:
    """Standardise and stack the descriptors of ``descriptors`` into one :class:`Batch`."""
    x = np.concatenate([d.features for d in descriptors])
    x = (x - mean) / scale
    slabs, groups = batch_slab_matrix(descriptors)
    return Batch(x, slabs, groups, len(descriptors))


def _shapes(n_in: int, hidden: tuple[int, ...]) -> list[tuple[int, int]]:
    sizes = [n_in, *hidden, 1]
    return list(itertools.pairwise(sizes))


def init_params(n_in, hidden, rng: np.random.Generator, out_bias: float) -> list[np.ndarray]:
    """Glorot-uniform weights, zero biases, output bias ``out_bias``."""
    params = []
    for fan_in, fan_out in _shapes(n_in, hidden):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)))
        params.append(np.zeros(fan_out))
    params[-1][:] = out_bias
    return params


def _flatten(params: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([p.ravel() for p in params])


def _unflatten(theta: np.ndarray, n_in: int, hidden: tuple[int, ...]) -> list[np.ndarray]:
    params, start = [], 0
    for fan_in, fan_out in _shapes(n_in, hidden):
        params.append(theta[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
        params.append(theta[start : start + fan_out])
        start += fan_out
    return params


def _softplus(o: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, o)


def atom_contributions(params: list[np.ndarray], x: np.ndarray):
    """Per-atom contributions a (G0) and the activations needed for back-propagation."""
    acts = [x]
    h = x
    for w, b in zip(params[:-2:2], params[1:-2:2]):
        h = np.tanh(h @ w + b)
        acts.append(h)
    o = (h @ params[-2] + params[-1])[:, 0]
    return _softplus(o), acts, o


def forward(params: list[np.ndarray], batch: Batch, temperature: float) -> np.ndarray:
    """Predicted conductance G/G0 of every structure in ``batch``."""
    a, _, _ = atom_contributions(params, batch.x)
    g, _ = _soft_minimum(batch.slabs @ a, batch.groups, temperature)
    return g


def forward_ensemble(members: list[list[np.ndarray]], batch: Batch, temperature: float):
    """Predictions of every member, shape (n_members, n_structures): :func:`forward` each,
    with the first layers of all members applied in one matrix product (the costly part)."""
    if len(members[0]) == 2:  # no hidden layer
        return np.stack([forward(p, batch, temperature) for p in members])
    first = np.tanh(
        batch.x @ np.concatenate([p[0] for p in members], axis=1)
        + np.concatenate([p[1] for p in members])
    )
    out, start = [], 0
    for params in members:
        width = params[0].shape[1]
        h = first[:, start : start + width]
        start += width
        for w, b in zip(params[2:-2:2], params[3:-2:2]):
            h = np.tanh(h @ w + b)
        a = _softplus((h @ params[-2] + params[-1])[:, 0])
        out.append(_soft_minimum(batch.slabs @ a, batch.groups, temperature)[0])
    return np.stack(out)


def loss_and_grad(theta, batch: Batch, y, weight, hidden, temperature, alpha):
    """Weighted MSE + L2 penalty, and its gradient with respect to the flat parameters."""
    n_in = batch.x.shape[1]
    params = _unflatten(theta, n_in, hidden)
    a, acts, o = atom_contributions(params, batch.x)
    c = batch.slabs @ a
    g, w = _soft_minimum(c, batch.groups, temperature)
    resid = g - y
    total = weight.sum()
    weights = params[::2]
    loss = (
        float(weight @ resid**2) / total
        + 0.5 * alpha * sum(float((p**2).sum()) for p in weights) / batch.n_structures
    )
    dg = 2.0 * weight * resid / total
    gs = g[batch.groups]
    dc = dg[batch.groups] * w * (1.0 - (c - gs) / temperature)
    da = batch.slabs.T @ dc
    delta = (da / (1.0 + np.exp(-o)))[:, None]
    grads = []
    for k in range(len(weights) - 1, -1, -1):
        gw = acts[k].T @ delta + alpha * weights[k] / batch.n_structures
        grads[:0] = [gw, delta.sum(0)]
        if k:
            delta = (delta @ weights[k].T) * (1.0 - acts[k] ** 2)
    return loss, _flatten(grads)


def train(params, batch: Batch, y, weight, *, hidden, temperature, alpha, max_iter, tol):
    """Minimise the loss with L-BFGS from ``params``; return (params, n_iter, final loss)."""
    n_in = batch.x.shape[1]
    result = optimize.minimize(
        loss_and_grad,
        _flatten(params),
        args=(batch, y, weight, hidden, temperature, alpha),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-10},
    )
    return _unflatten(result.x, n_in, hidden), int(result.nit), float(result.fun)
