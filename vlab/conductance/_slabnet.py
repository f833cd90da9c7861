"""A small numpy network with neck-aware slab pooling, trained end to end (private).

Forward pass for a batch of structures (see :mod:`vlab.conductance.pooling`)::

    h = tanh(... tanh(x W1 + b1) ...)            per centre, x standardised SOAP
    a = softplus(h W_out + b_out)                 per-atom contribution, G0 (>= 0)
    c = S a                                       slab sums (S: block-diagonal slab matrix)
    m = Σ_j w_j c_j, w = softmax(-c / τ)          soft minimum per structure
    G = m                                         or, with electrode coupling (:func:`pool`),
    G = m (1 + κ) / (1 + κ/2 Σ_s (m / E_s)^q)     E_s: soft minimum over the end planes of side s

The loss is the mean squared error in G0 plus ``alpha / 2 · Σ W² / n_structures``; the
gradient is exact (hand-written back-propagation, checked against finite differences in
``tests/conductance/test_slabnet.py``) and L-BFGS minimises it, with the coupling (θ_κ, θ_q)
appended to the network parameters.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

from vlab.conductance.descriptors import LocalDescriptors
from vlab.conductance.pooling import batch_end_planes, batch_slab_matrix, soft_minimum_weights


@dataclass(frozen=True, eq=False)
class Batch:
    """Stacked centres of many structures: features, slab matrix, slab -> structure map, and
    (for the electrode coupling only) the electrode-end planes, indices into the slabs, with
    their (structure, side) group."""

    x: np.ndarray
    slabs: sparse.csr_matrix
    groups: np.ndarray
    n_structures: int
    end_planes: np.ndarray | None = None
    end_groups: np.ndarray | None = None


def make_batch(
    descriptors: list[LocalDescriptors], mean: np.ndarray, scale: np.ndarray, *, ends: bool
) -> Batch:
    """Standardise and stack the descriptors of ``descriptors`` into one :class:`Batch`, with
    the electrode-end planes if ``ends`` (needed by the electrode coupling only)."""
    x = np.concatenate([d.features for d in descriptors])
    x = (x - mean) / scale
    slabs, groups = batch_slab_matrix(descriptors)
    end = batch_end_planes(descriptors) if ends else (None, None)
    return Batch(x, slabs, groups, len(descriptors), *end)


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


def _sigmoid(o):
    return 0.5 * (1.0 + np.tanh(0.5 * o))


def coupling_constants(head: np.ndarray) -> tuple[float, float]:
    """κ = softplus(θ_κ) >= 0 and q = 1 + softplus(θ_q) >= 1 of a coupling head (θ_κ, θ_q)."""
    return float(_softplus(head[0])), 1.0 + float(_softplus(head[1]))


def _soft_minimum_backward(values, result, weights, groups, grad, temperature) -> np.ndarray:
    """d(loss)/d(values) of a soft minimum per group, from d(loss)/d(result) ``grad``."""
    return grad[groups] * weights * (1.0 - (values - result[groups]) / temperature)


def pool(c: np.ndarray, batch: Batch, temperature: float, head: np.ndarray | None):
    """Conductance of each structure from its slab sums ``c``, and a cache for :func:`unpool`.

    Without ``head``: the soft minimum m. With ``head`` = (θ_κ, θ_q), the electrode
    coupling: with E_L, E_R the soft minima over each end's planes (the electrodes'
    cross-sections) and r_s = m / E_s,

        G = m (1 + κ) / (1 + κ/2 · (r_L^q + r_R^q)),  κ = softplus(θ_κ), q = 1 + softplus(θ_q)

    G = m for a uniform wire (r = 1); a neck between wider electrodes (r < 1) conducts up to
    (1 + κ) m: a series "contact" term that falls as the electrodes widen.
    """
    m, w = soft_minimum_weights(c, batch.groups, temperature)
    if head is None:
        return m, (c, m, w, None)
    e, we = soft_minimum_weights(c[batch.end_planes], batch.end_groups, temperature)
    e2 = np.maximum(e.reshape(-1, 2), 1e-9)
    kappa, q = coupling_constants(head)
    r = m[:, None] / e2
    rq = r**q
    den = 1.0 + 0.5 * kappa * rq.sum(axis=1)
    g = m * (1.0 + kappa) / den
    return g, (c, m, w, (e, we, e2, r, rq, den, kappa, q, head))


def unpool(dg: np.ndarray, cache, batch: Batch, temperature: float):
    """Gradients of the loss with respect to the slab sums and the head, from dL/dG."""
    c, m, w, coupling = cache
    if coupling is None:
        return _soft_minimum_backward(c, m, w, batch.groups, dg, temperature), None
    e, we, e2, r, rq, den, kappa, q, head = coupling
    s = rq.sum(axis=1)
    dm = dg * (1.0 + kappa) / den * (1.0 - 0.5 * kappa * q * s / den)
    de = (dg * m * (1.0 + kappa) / den**2)[:, None] * 0.5 * kappa * q * rq / e2
    d_kappa = float(dg @ (m / den - m * (1.0 + kappa) * 0.5 * s / den**2))
    rlog = np.where(r > 0, rq * np.log(np.where(r > 0, r, 1.0)), 0.0)
    d_q = float(dg @ (-m * (1.0 + kappa) * 0.5 * kappa * rlog.sum(axis=1) / den**2))
    dc = _soft_minimum_backward(c, m, w, batch.groups, dm, temperature)
    ends = c[batch.end_planes]
    d_ends = _soft_minimum_backward(ends, e, we, batch.end_groups, de.ravel(), temperature)
    np.add.at(dc, batch.end_planes, d_ends)
    return dc, np.array([d_kappa * _sigmoid(head[0]), d_q * _sigmoid(head[1])])


def forward(params: list[np.ndarray], batch: Batch, temperature: float, head=None) -> np.ndarray:
    """Predicted conductance G/G0 of every structure in ``batch``."""
    a, _, _ = atom_contributions(params, batch.x)
    return pool(batch.slabs @ a, batch, temperature, head)[0]


#: Centres per block of :func:`forward_ensemble`: every row is computed on its own, and blocks
#: of this size keep the members' activations in the cache (a whole large batch at once
#: spills them to memory, about twice slower on 60,000 rows).
FORWARD_ROWS = 256


def forward_ensemble(members: list[list[np.ndarray]], batch: Batch, temperature: float, heads=None):
    """Predictions of every member, shape (n_members, n_structures): :func:`forward` each.

    The first layers of all members are applied in one matrix product (the costly part), the
    deeper hidden layers of all members in one stacked product per layer, both in single
    precision (faster than double; the predictions change by ~1e-6 G0), the output layer in
    double precision, and the slab sums of all members in one sparse product. The centres go
    through the networks in blocks of :data:`FORWARD_ROWS`.
    """
    heads = [None] * len(members) if heads is None else heads
    if len(members[0]) == 2:  # no hidden layer
        return np.stack([forward(p, batch, temperature, h) for p, h in zip(members, heads)])
    weights = np.concatenate([p[0] for p in members], axis=1).astype(np.float32)
    bias = np.concatenate([p[1] for p in members]).astype(np.float32)
    deeper = [
        (
            np.stack([p[j] for p in members]).astype(np.float32),
            np.stack([p[j + 1] for p in members]).astype(np.float32)[:, None, :],
        )
        for j in range(2, len(members[0]) - 2, 2)
    ]
    w_out = np.stack([p[-2][:, 0] for p in members])
    b_out = np.array([p[-1][0] for p in members])
    n_members, width = len(members), members[0][0].shape[1]
    a = np.empty((n_members, len(batch.x)))
    for start in range(0, len(batch.x), FORWARD_ROWS):  # intermediates stay in the cache
        rows = slice(start, start + FORWARD_ROWS)
        first = np.tanh(batch.x[rows].astype(np.float32) @ weights + bias)
        h = np.ascontiguousarray(first.reshape(len(first), n_members, width).transpose(1, 0, 2))
        for w, b in deeper:
            h = np.tanh(h @ w + b)
        out = np.einsum("mnk,mk->mn", h.astype(np.float64), w_out)
        a[:, rows] = _softplus(out + b_out[:, None])
    sums = np.asarray(batch.slabs @ a.T).T
    return np.stack([pool(c, batch, temperature, head)[0] for c, head in zip(sums, heads)])


#: Width of the smooth absolute error sqrt(δ² + r²) - δ, G0 (``loss="absolute"``).
ABSOLUTE_DELTA = 0.02


def loss_and_grad(
    theta, batch: Batch, y, weight, hidden, temperature, alpha, n_head=0, loss="squared"
):
    """Weighted mean squared (or smooth absolute) error + L2 penalty, and its gradient with
    respect to the flat parameters (network parameters, then the ``n_head`` coupling
    parameters)."""
    n_in = batch.x.shape[1]
    head = theta[len(theta) - n_head :] if n_head else None
    params = _unflatten(theta[: len(theta) - n_head], n_in, hidden)
    a, acts, o = atom_contributions(params, batch.x)
    g, cache = pool(batch.slabs @ a, batch, temperature, head)
    resid = g - y
    total = weight.sum()
    weights = params[::2]
    if loss == "absolute":
        root = np.sqrt(ABSOLUTE_DELTA**2 + resid**2)
        error, derror = float(weight @ (root - ABSOLUTE_DELTA)) / total, resid / root
    else:
        error, derror = float(weight @ resid**2) / total, 2.0 * resid
    value = error + 0.5 * alpha * sum(float((p**2).sum()) for p in weights) / batch.n_structures
    dc, dhead = unpool(weight * derror / total, cache, batch, temperature)
    da = batch.slabs.T @ dc
    delta = (da / (1.0 + np.exp(-o)))[:, None]
    grads = []
    for k in range(len(weights) - 1, -1, -1):
        gw = acts[k].T @ delta + alpha * weights[k] / batch.n_structures
        grads[:0] = [gw, delta.sum(0)]
        if k:
            delta = (delta @ weights[k].T) * (1.0 - acts[k] ** 2)
    flat = _flatten(grads)
    return value, flat if dhead is None else np.concatenate([flat, dhead])


def train(
    params, batch, y, weight, *, hidden, temperature, alpha, max_iter, tol, head=None,
    loss="squared",
):  # fmt: skip
    """Minimise the loss with L-BFGS from ``params`` (and the coupling ``head``, if given);
    return (params, head, n_iter, final loss)."""
    n_in = batch.x.shape[1]
    n_head = 0 if head is None else len(head)
    theta = _flatten(params) if head is None else np.concatenate([_flatten(params), head])
    result = optimize.minimize(
        loss_and_grad,
        theta,
        args=(batch, y, weight, hidden, temperature, alpha, n_head, loss),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-10},
    )
    x = result.x
    params = _unflatten(x[: len(x) - n_head], n_in, hidden)
    head = x[len(x) - n_head :].copy() if n_head else None
    return params, head, int(result.nit), float(result.fun)
