"""Neck-aware slab pooling of per-atom values, and the global-pooling baseline.

The per-atom descriptors of :mod:`vlab.conductance.descriptors` are pooled here.

Neck-aware, size-independent aggregation
----------------------------------------
The conductance of a contact is set by its narrowest cross-section. The surrogate
(:class:`vlab.conductance.surrogate.ConductanceSurrogate`) maps each atom's descriptor to a
non-negative contribution a_i (G0) and then

1. sums contributions over *slabs* perpendicular to z: on planes z_p spaced
   ``grid_spacing`` (0.25 Å) apart across the window, c_p = Σ_i k(z_p - z_i) a_i, where the
   flat-top profile k is 1 within ``slab_half_width`` (1.5 Å) of the plane and falls to 0
   over ``slab_edge`` (0.5 Å) (:func:`slab_matrix`). This is binning into slabs about one
   to one and a half atomic layers thick (the (002) layers of fcc [001] Au are 2.04 Å
   apart), without a grid origin and smooth in the positions. The flat top makes the
   minimum over planes count whole layers: in a compact wire a plane through a layer sees
   that layer only; in a monatomic chain (z spacing up to ~3 Å) every plane sees at least
   one atom with full weight, whatever the bond length; across a gap wider than
   2 × 2.0 Å (a rupture) the sum falls to 0, and between 3 and 4 Å it falls smoothly,
   so the geometry itself tells a rupture from a chain;
2. reduces along z with a *soft minimum* (:func:`soft_minimum`): the softmax(-c/τ)-weighted
   mean of the slab sums, which tends to min_p c_p for τ → 0 and, unlike -τ log Σ exp(-c/τ),
   does not drift with the number of planes (the length of the structure).

Sums grow with the cross-section and the soft minimum neither grows with the length nor with
the width of the electrodes, so the same per-atom model applies to structures of any size.

3. optionally (``ConductanceSurrogate(electrode_coupling=True)``), the electrodes' width
   enters through the soft minimum of the slab sums at each end of the window
   (:func:`batch_end_planes`: the outermost electrode layers): in the spd reference, a thick
   neck conducts ~25 % more between 3x3-cell than between 2x2-cell electrodes, an effect
   beyond r_cut of the neck atoms that steps 1-2 alone cannot see.

Global pooling (:func:`pool_global`, the mean or max of the window atoms' descriptors) is
provided as the baseline: it dilutes the few neck atoms among all the others, so the same
neck inside wider or longer structures yields different features
(numbers in ``benchmarks/results/surrogate.json``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from vlab.conductance.descriptors import LocalDescriptors
from vlab.errors import InputError

__all__ = ["pool_global", "slab_matrix", "soft_minimum"]

_TOL = 1e-6  # Å, as in vlab.conductance.descriptors


def _kernel(dz: np.ndarray, half_width: float, edge: float) -> np.ndarray:
    """Flat-top slab profile: 1 within ``half_width``, cosine fall to 0 over ``edge``."""
    x = (np.abs(dz) - half_width) / edge
    out = (x <= 0.0).astype(float)
    band = (x > 0.0) & (x < 1.0)  # the cosine only where it is neither 1 nor 0
    out[band] = 0.5 * (1.0 + np.cos(np.pi * x[band]))
    return out


def slab_matrix(descriptors: LocalDescriptors) -> sparse.csr_matrix:
    """Sparse matrix S (n_planes × n_centres) of slab weights on a grid of planes along z.

    Planes z_p are spaced ``grid_spacing`` Å apart over the window atoms' z range; a centre i
    belongs to the slab of plane p with the weight k(z_p - z_i): 1 for
    ``|z_p - z_i| <= slab_half_width``, then a cosine fall to 0 over ``slab_edge``. ``S @ a``
    are the slab sums of per-atom values ``a``: a smooth cross-section profile that falls to 0
    inside a gap between atoms, so a rupture shows up as an empty slab.

    Examples
    --------
    >>> from vlab.conductance.descriptors import compute_descriptors
    >>> from vlab.conductance.structures import build_wire
    >>> [desc] = compute_descriptors([build_wire("Au", cross_section=(1, 1), length=1)])
    >>> s = slab_matrix(desc)
    >>> s.shape
    (41, 12)
    >>> sums = s @ np.ones(len(desc))  # atoms per slab: a (002) layer has 2 atoms
    >>> float(sums.min()), float(sums.max())
    (2.0, 4.0)
    """
    return sparse.csr_matrix(_slab_weights(descriptors))


def _slab_weights(descriptors: LocalDescriptors) -> np.ndarray:
    """Dense slab weights (n_planes × n_centres) of :func:`slab_matrix`."""
    settings = descriptors.settings
    dz = _planes(descriptors)[:, None] - descriptors.z[None, :]
    return _kernel(dz, settings.slab_half_width, settings.slab_edge)


def _planes(descriptors: LocalDescriptors) -> np.ndarray:
    """Positions z_p of the slab planes: ``grid_spacing`` apart, centred on the window."""
    zw = descriptors.z[descriptors.window]
    step = descriptors.settings.grid_spacing
    n = int(np.floor((zw.max() - zw.min()) / step + _TOL)) + 1
    return zw.min() + step * np.arange(n) + 0.5 * (zw.max() - zw.min() - step * (n - 1))


def batch_end_planes(descriptors: Sequence[LocalDescriptors]) -> tuple[np.ndarray, np.ndarray]:
    """The electrode-end planes of many structures (indices into the planes of
    :func:`batch_slab_matrix`) and their group: 2k for the left end of structure k, 2k + 1
    for the right end.

    The end of a structure's window is its outermost electrode layer (the last margin PL); its
    end planes are those within ``reach`` (slab half-width + edge) of it, which see that layer
    and the next one only. Their soft minimum is the electrode's cross-section in the units of
    the slab sums: equal to the neck's for a uniform wire, larger for a neck between wider
    electrodes.
    """
    index, groups, start = [], [], 0
    for k, desc in enumerate(descriptors):
        planes = _planes(desc)
        reach = desc.settings.reach + _TOL
        for side, near in enumerate((planes <= planes[0] + reach, planes >= planes[-1] - reach)):
            idx = np.flatnonzero(near)
            index.append(idx + start)
            groups.append(np.full(len(idx), 2 * k + side))
        start += len(planes)
    return np.concatenate(index), np.concatenate(groups)


def batch_slab_matrix(
    descriptors: Sequence[LocalDescriptors],
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Block-diagonal :func:`slab_matrix` of many structures, and the structure of each plane."""
    rows, cols, vals, groups = [], [], [], []
    n_planes = n_centres = 0
    for k, desc in enumerate(descriptors):
        dense = _slab_weights(desc)
        r, c = np.nonzero(dense)
        rows.append(r + n_planes)
        cols.append(c + n_centres)
        vals.append(dense[r, c])
        groups.append(np.full(dense.shape[0], k))
        n_planes += dense.shape[0]
        n_centres += dense.shape[1]
    matrix = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_planes, n_centres),
    )
    return matrix, np.concatenate(groups)


def soft_minimum(values, groups, temperature: float) -> np.ndarray:
    """Soft minimum of ``values`` within each group: Σ_j w_j v_j, w = softmax(-v/τ).

    Tends to the group minimum for τ → 0 and to the mean for τ → ∞; adding copies of the
    same value leaves it unchanged (length independence).

    Parameters
    ----------
    values : array-like, shape (n,)
        Values (e.g. slab sums, G0).
    groups : array-like of int, shape (n,)
        Group index of each value, 0 .. n_groups - 1 (every group non-empty).
    temperature : float
        τ > 0, in the units of ``values``.

    Returns
    -------
    ndarray, shape (n_groups,)

    Examples
    --------
    >>> soft_minimum([1.0, 3.0, 3.0, 2.0, 2.0], [0, 0, 0, 1, 1], 0.1).round(6)
    array([1., 2.])
    """
    return soft_minimum_weights(np.asarray(values, float), np.asarray(groups, int), temperature)[0]


def soft_minimum_weights(values: np.ndarray, groups: np.ndarray, temperature: float):
    """Soft minimum per group and the softmax weights (for back-propagation)."""
    n_groups = int(groups.max()) + 1
    lowest = np.full(n_groups, np.inf)
    np.minimum.at(lowest, groups, values)
    e = np.exp(-(values - lowest[groups]) / temperature)
    weights = e / np.bincount(groups, e, minlength=n_groups)[groups]
    return np.bincount(groups, weights * values, minlength=n_groups), weights


def pool_global(descriptors: Sequence[LocalDescriptors], *, mode: str = "mean") -> np.ndarray:
    """Global pooling of the window atoms' descriptors (the baseline that ignores the neck).

    Parameters
    ----------
    descriptors : list of LocalDescriptors
    mode : {"mean", "max", "meanmax"}
        Mean, element-wise maximum, or both concatenated.

    Returns
    -------
    ndarray, shape (n_structures, n_features) or (n_structures, 2 n_features)

    Examples
    --------
    >>> from vlab.conductance.descriptors import compute_descriptors
    >>> from vlab.conductance.structures import build_wire
    >>> descs = compute_descriptors([build_wire("Au", cross_section=(1, 1), length=1)])
    >>> pool_global(descs, mode="meanmax").shape
    (1, 210)
    """
    modes = ("mean", "max", "meanmax")
    if mode not in modes:
        raise InputError(
            f"The 'mode' parameter of pool_global must be one of {', '.join(modes)}. Got {mode!r}."
        )
    rows = []
    for desc in descriptors:
        x = desc.features[desc.window]
        parts = {"mean": [x.mean(0)], "max": [x.max(0)], "meanmax": [x.mean(0), x.max(0)]}
        rows.append(np.concatenate(parts[mode]))
    return np.asarray(rows)
