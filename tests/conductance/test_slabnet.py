"""Tests of the surrogate's network (private ``_slabnet``): exact gradients, and the electrode
coupling of the pooling (uniform wires unchanged, wider electrodes conduct more)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dscribe")  # the 'descriptors' extra
from vlab.conductance import _slabnet
from vlab.conductance.descriptors import compute_descriptors
from vlab.conductance.embedding import embed_neck
from vlab.conductance.structures import build_wire, perturb

HIDDEN = (5,)


@pytest.fixture(scope="module")
def batch():
    """Three disordered 2x2 wires, and the first one's neck between 3x3-cell electrodes."""
    wire = build_wire("Au", cross_section=(2, 2), length=3, electrode_layers=2)
    structures = [perturb(wire, amplitude=0.2, rng=k) for k in range(3)]
    structures.append(embed_neck(structures[0], electrode_cross_section=(3, 3)))
    descs = compute_descriptors(structures)
    x = np.concatenate([d.features for d in descs])
    return _slabnet.make_batch(descs, x.mean(axis=0), x.std(axis=0) + 1e-9, ends=True)


@pytest.mark.parametrize("loss", ["squared", "absolute"])
@pytest.mark.parametrize("head", [None, np.array([0.3, -0.2])])
def test_gradient_matches_finite_differences(batch, head, loss):
    rng = np.random.default_rng(0)
    params = _slabnet.init_params(batch.x.shape[1], HIDDEN, rng, 0.0)
    n_head = 0 if head is None else 2
    theta = np.concatenate([_slabnet._flatten(params), [] if head is None else head])
    y, weight = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 0.0, 1.0])
    args = (batch, y, weight, HIDDEN, 0.1, 1e-2, n_head, loss)
    _, grad = _slabnet.loss_and_grad(theta, *args)
    n_net = len(theta) - n_head
    picks = [*rng.choice(n_net, 12, replace=False), *range(n_net, len(theta))]
    for i in picks:
        step = np.zeros_like(theta)
        step[i] = 1e-6
        numeric = (
            _slabnet.loss_and_grad(theta + step, *args)[0]
            - _slabnet.loss_and_grad(theta - step, *args)[0]
        ) / 2e-6
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8), i


def test_coupling_leaves_uniform_wires_and_raises_necks_between_wider_electrodes(batch):
    head = np.array([0.5, 0.5])
    kappa, _ = _slabnet.coupling_constants(head)
    # slab sums = atoms per slab: the neck of the embedded structure is as thick as the wire,
    # its electrodes' outermost layers are wider
    sums = batch.slabs @ np.ones(batch.x.shape[0])
    m, _ = _slabnet.pool(sums, batch, 0.1, None)
    g, cache = _slabnet.pool(sums, batch, 0.1, head)
    ends = cache[3][2]
    # 2x2 electrodes: E ~ m
    np.testing.assert_allclose(ends[:3], np.tile(m[:3, None], 2), rtol=0.02)
    np.testing.assert_allclose(g[:3], m[:3], rtol=0.02)  # ... so G ~ m
    assert np.all(ends[3] > 2 * m[3])  # 3x3-cell electrode layers: 18 atoms vs 8
    assert m[3] < g[3] < (1 + kappa) * m[3]


@pytest.mark.parametrize("hidden", [(6, 5), (4,)])
def test_ensemble_forward_matches_members_in_double_precision(batch, hidden):
    """The stacked single-precision forward pass of all members equals each member's own
    double-precision forward pass up to float32 rounding (~1e-6 G0)."""
    rng = np.random.default_rng(3)
    members = [_slabnet.init_params(batch.x.shape[1], hidden, rng, 0.2) for _ in range(3)]
    heads = [None, np.array([0.3, -0.2]), np.array([-1.0, 0.5])]
    expected = np.stack(
        [_slabnet.forward(p, batch, 0.1, h) for p, h in zip(members, heads, strict=True)]
    )
    got = _slabnet.forward_ensemble(members, batch, 0.1, heads)
    assert got.shape == (3, batch.n_structures)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rows", [1, 7, 10_000])
def test_ensemble_forward_does_not_depend_on_its_block_size(batch, rows, monkeypatch):
    """The centres go through the networks in blocks; every block size gives the same
    predictions (to float32 rounding), blocks that split a structure and a last short one
    included."""
    rng = np.random.default_rng(4)
    members = [_slabnet.init_params(batch.x.shape[1], (6, 5), rng, 0.2) for _ in range(3)]
    expected = _slabnet.forward_ensemble(members, batch, 0.1)
    monkeypatch.setattr(_slabnet, "FORWARD_ROWS", rows)
    np.testing.assert_allclose(_slabnet.forward_ensemble(members, batch, 0.1), expected, rtol=1e-6)


def test_absolute_loss_is_the_smooth_absolute_error(batch):
    params = _slabnet.init_params(batch.x.shape[1], HIDDEN, np.random.default_rng(1), 0.0)
    theta = _slabnet._flatten(params)
    g = _slabnet.forward(params, batch, 0.1)
    y, weight = g + np.array([0.5, -0.5, 0.0, 1.0]), np.ones(4)
    args = (batch, y, weight, HIDDEN, 0.1, 0.0, 0)
    absolute = _slabnet.loss_and_grad(theta, *args, "absolute")[0]
    squared = _slabnet.loss_and_grad(theta, *args, "squared")[0]
    delta = _slabnet.ABSOLUTE_DELTA
    expected = np.mean(np.sqrt(delta**2 + (y - g) ** 2) - delta)
    assert absolute == pytest.approx(expected, rel=1e-9)
    assert squared == pytest.approx(np.mean((y - g) ** 2), rel=1e-9)
