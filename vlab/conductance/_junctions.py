"""Small ideal junctions that follow the electrode contract (private; tests and benchmarks).

The public structure builders live in :mod:`vlab.conductance.structures`; these minimal,
perfectly ordered geometries exist to check the reference calculators against known answers.
All lengths in Å; gold lattice constant a = 4.08 Å (nearest-neighbour distance 2.885 Å).
Every function returns an :class:`ase.Atoms` tagged 1 (left electrode), 0 (device),
2 (right electrode) with ``info["lead_period"]`` set.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

__all__ = ["chain", "fcc001_wire", "single_atom_contact", "tip_gap"]

A_AU = 4.08  # Å, fcc lattice constant of gold
D_NN = A_AU / np.sqrt(2)  # Å, nearest-neighbour distance


def _assemble(layers: list[np.ndarray], tags: list[int], dz: float, period: float, symbol: str):
    """Stack 2-D layers (lateral xy arrays) along z with spacing ``dz`` and tag them."""
    pos, tag = [], []
    for k, (xy, t) in enumerate(zip(layers, tags, strict=True)):
        pos.extend((x, y, k * dz) for x, y in xy)
        tag.extend([t] * len(xy))
    atoms = Atoms(f"{symbol}{len(pos)}", positions=pos)
    atoms.set_tags(tag)
    atoms.info["lead_period"] = float(period)
    return atoms


def chain(n_device: int = 2, *, n_lead: int = 2, spacing: float = D_NN, symbol: str = "Au"):
    """Perfect monatomic chain: ``n_lead`` one-atom PLs per electrode around ``n_device`` atoms.

    >>> chain(2).get_tags().tolist()
    [1, 1, 0, 0, 2, 2]
    """
    layers = [np.zeros((1, 2))] * (2 * n_lead + n_device)
    tags = [1] * n_lead + [0] * n_device + [2] * n_lead
    return _assemble(layers, tags, spacing, spacing, symbol)


def _fcc001_layer(n_cells: int, parity: int) -> np.ndarray:
    """(002) layer of an n × n-cell fcc [001] wire: 2 n² sites (i a/2, j a/2), i + j ≡ parity."""
    i, j = np.meshgrid(np.arange(2 * n_cells), np.arange(2 * n_cells), indexing="ij")
    keep = (i + j) % 2 == parity
    return np.column_stack([i[keep], j[keep]]) * (A_AU / 2)


def fcc001_wire(n_cells: int, *, n_device_layers: int = 2, n_lead: int = 2, symbol: str = "Au"):
    """Perfect fcc [001] wire of n × n conventional cubic cells (2 n² atoms per layer).

    A PL is one cubic cell along z (two (002) layers, period a = 4.08 Å).

    >>> len(fcc001_wire(2))
    80
    """
    n_layers = 4 * n_lead + n_device_layers
    layers = [_fcc001_layer(n_cells, k % 2) for k in range(n_layers)]
    tags = [1] * (2 * n_lead) + [0] * n_device_layers + [2] * (2 * n_lead)
    return _assemble(layers, tags, A_AU / 2, A_AU, symbol)


def _layer(half_width: int, parity: int) -> np.ndarray:
    """(002) layer sites (i a/2, j a/2) with |i|, |j| <= half_width and i + j ≡ parity (mod 2).

    Parity 0 layers are centred on an atom on the z axis (``half_width=0``: one atom), parity 1
    layers on a hollow site (``half_width=1``: the 4 atoms below/above an apex atom).
    """
    r = np.arange(-half_width, half_width + 1)
    i, j = np.meshgrid(r, r, indexing="ij")
    keep = (i + j) % 2 == parity
    return np.column_stack([i[keep], j[keep]]) * (A_AU / 2)


def _tip_layers(width: int, n_lead: int) -> tuple[list[np.ndarray], list[int]]:
    """Left electrode plus a pyramid down to one apex atom (last layer).

    Electrode PLs are two (002) layers of half-width ``width`` (parity 0 then 1): for
    ``width=1`` 5 + 4 atoms, for ``width=2`` 13 + 12 atoms. The pyramid shrinks the half-width
    by one every two layers and ends with a single parity-0 atom bonded to 4 atoms.
    """
    lead = [_layer(width, 0), _layer(width, 1)] * n_lead
    pyramid = []
    for r in range(width - 1, -1, -1):
        pyramid += [_layer(r, 0), _layer(max(r, 1), 1)] if r else [_layer(0, 0)]
    return lead + pyramid, [1] * len(lead) + [0] * len(pyramid)


def single_atom_contact(width: int = 1, *, n_lead: int = 2, symbol: str = "Au"):
    """Two [001] pyramids sharing one apex atom, bonded to 4 atoms on each side.

    The electrodes are fcc [001] rods (period 4.08 Å) of half-width ``width`` (see
    ``_tip_layers``): ``width=1`` gives 37 atoms (leads of 5 + 4 atom layers), ``width=2``
    119 atoms (13 + 12).

    >>> len(single_atom_contact(1)), int((single_atom_contact(1).get_tags() == 0).sum())
    (37, 1)
    """
    layers, tags = _tip_layers(width, n_lead)
    right = layers[-2::-1]  # mirror image without repeating the shared apex
    right_tags = [2 if t == 1 else 0 for t in tags[-2::-1]]
    return _assemble(layers + right, tags + right_tags, A_AU / 2, A_AU, symbol)


def tip_gap(gap: float, width: int = 1, *, n_lead: int = 2, symbol: str = "Au"):
    """Two [001] pyramidal tips whose apex atoms are ``2.885 + gap`` Å apart along z.

    ``gap=0`` is the contact (apex atoms bonded); ``gap > 0`` is the broken junction.

    >>> atoms = tip_gap(1.0)
    >>> z = sorted(atoms.positions[atoms.get_tags() == 0, 2])
    >>> round(float(z[1] - z[0]), 3)
    3.885
    """
    layers, tags = _tip_layers(width, n_lead)
    left = _assemble(layers, tags, A_AU / 2, A_AU, symbol)
    right = left.copy()
    right.positions[:, 2] *= -1
    right.positions[:, 2] += 2 * left.positions[:, 2].max() + D_NN + gap
    right.set_tags([2 if t == 1 else 0 for t in left.get_tags()])
    atoms = left + right
    atoms.info["lead_period"] = A_AU
    return atoms
