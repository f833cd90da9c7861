"""Embed the neck of a junction between wider electrodes ("type a" larger structures).

:func:`embed_neck` keeps the device (neck, tag 0) atoms of a snapshot exactly where they are
and replaces both electrode blocks by wider, bulk-like fcc [001] blocks cut from the same
crystal lattice as the old electrodes: every old electrode site of the principal layer (PL)
next to the device is also a site of the new block, so the neck attaches as before, only to
wider crystal faces. The result obeys the geometry contract of
:mod:`vlab.conductance.structures` and typically holds 2-4 times more atoms, so it tests
whether a surrogate trained on small cells transfers to larger structures that contain the
same necks; its reference conductance comes from the same calculators.

Examples
--------
>>> from vlab.conductance.structures import build_wire, validate_structure
>>> wire = build_wire("Au", cross_section=(1, 1), length=6, electrode_layers=3)
>>> big = embed_neck(wire, electrode_cross_section=(2, 2), electrode_layers=3)
>>> len(wire), len(big)
(48, 120)
>>> validate_structure(big)
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from vlab.conductance.structures import _check_pair, validate_structure
from vlab.conductance.transport import lead_layers
from vlab.errors import InvalidStructureError

__all__ = ["embed_neck"]

_TOL = 1e-3  # Å


def _lattice_constant(atoms: Atoms, period: float) -> float:
    direction = atoms.info.get("direction", "001")  # MD snapshots store +-1 here
    if isinstance(direction, str) and direction != "001":
        raise InvalidStructureError(
            "embed_neck supports fcc [001] junctions only (info['direction'] == '001'). "
            f"Got direction {direction!r}."
        )
    a = float(atoms.info.get("lattice_constant", period))
    if abs(a - period) > _TOL:
        raise InvalidStructureError(
            f"For an fcc [001] junction info['lead_period'] ({period} Å) must equal the lattice "
            f"constant ({a} Å): one cubic cell per principal layer."
        )
    return a


def _block(inner: np.ndarray, a: float, cells: tuple[int, int], n_pl: int, sign: float):
    """fcc sites of an ``cells``-wide, ``n_pl``-PL block whose innermost PL holds ``inner``.

    ``inner`` are the positions of the old innermost electrode PL (two (002) layers); the new
    block continues their lattice, centred on them laterally, away from the device
    (``sign`` -1: towards -z, +1: towards +z).
    """
    origin = inner[np.argmin(inner[:, 2])]
    rel = np.rint((inner - origin) / (a / 2)).astype(int)
    if np.abs(inner - origin - rel * (a / 2)).max() > 0.05 * a:
        raise InvalidStructureError(
            "The electrode next to the device is not an fcc [001] crystal block (its atoms are "
            "off the lattice by more than 5 % of a); embed_neck needs crystalline electrodes."
        )
    width = 2 * np.array(cells)
    span = rel[:, :2].max(0) - rel[:, :2].min(0) + 1
    if np.any(span > width):
        raise InvalidStructureError(
            f"The 'electrode_cross_section' parameter of embed_neck must be at least as wide as "
            f"the old electrodes ({tuple(int(s) for s in (span + 1) // 2)} cells). "
            f"Got {cells}."
        )
    start = rel[:, :2].min(0) - (width - span) // 2
    i, j = (np.arange(s, s + w) for s, w in zip(start, width))
    k0 = rel[:, 2].min()
    ks = np.arange(k0, k0 + 2 * n_pl) if sign > 0 else np.arange(k0 + 2 - 2 * n_pl, k0 + 2)
    ii, jj, kk = np.meshgrid(i, j, ks, indexing="ij")
    keep = (ii + jj + kk) % 2 == 0  # fcc: (i + j + k) even relative to a site
    sites = np.column_stack([ii[keep], jj[keep], kk[keep]]) * (a / 2)
    return origin + sites


def embed_neck(
    atoms: Atoms,
    *,
    electrode_cross_section: tuple[int, int] = (2, 2),
    electrode_layers: int = 3,
    vacuum: float = 8.0,
) -> Atoms:
    """Keep the device atoms of an fcc [001] junction and give it wider electrodes.

    Parameters
    ----------
    atoms : ase.Atoms
        Junction obeying the geometry contract (e.g. a break-junction snapshot of an fcc
        [001] wire); its electrodes must be crystalline (rigid MD electrodes are).
    electrode_cross_section : (int, int)
        Lateral size of the new electrodes in cubic cells (a × a, 2 atoms per cell and
        (002) layer), at least the size of the old ones.
    electrode_layers : int
        PLs (cubic cells along z) of each new electrode block (>= 2). Three keep the s-band
        tunnelling tail of the outermost PL from reaching the device.
    vacuum : float
        Vacuum on each lateral side, Å.

    Returns
    -------
    ase.Atoms
        The new junction: tags 1/0/2, sorted by z, ``info`` copied from ``atoms`` plus
        ``embedded_from`` (the old atom count); ``pbc=False``.

    Raises
    ------
    InvalidStructureError
        If ``atoms`` breaks the contract, is not fcc [001], the new electrodes are narrower
        than the old ones, or new electrode atoms would overlap device atoms.

    Examples
    --------
    >>> from vlab.conductance.structures import build_wire
    >>> big = embed_neck(build_wire("Au", cross_section=(1, 1), length=2),
    ...                  electrode_cross_section=(3, 3))
    >>> [int((big.get_tags() == t).sum()) for t in (0, 1, 2)]
    [8, 108, 108]
    """
    cells = _check_pair(electrode_cross_section, "electrode_cross_section", "embed_neck")
    n_pl = int(electrode_layers) if isinstance(electrode_layers, (int, np.integer)) else 0
    if isinstance(electrode_layers, bool) or n_pl < 2:
        raise InvalidStructureError(
            "The 'electrode_layers' parameter of embed_neck must be an integer >= 2. "
            f"Got {electrode_layers!r}."
        )
    if not (np.isfinite(vacuum) and vacuum > 0):
        raise InvalidStructureError(
            f"The 'vacuum' parameter of embed_neck must be a positive number of Å. Got {vacuum!r}."
        )
    layers = lead_layers(atoms)
    a = _lattice_constant(atoms, layers.period)
    pos = atoms.get_positions()
    symbol = atoms.get_chemical_symbols()[layers.left[0][0]]
    left = _block(pos[layers.left[-1]], a, cells, n_pl, -1.0)
    right = _block(pos[layers.right[-1]], a, cells, n_pl, +1.0)
    device = pos[layers.device]
    parts = [(left, 1), (device, 0), (right, 2)]
    positions = np.concatenate([p for p, _ in parts])
    tags = np.concatenate([np.full(len(p), t) for p, t in parts])
    numbers = np.concatenate(
        [
            np.full(len(left), atoms.numbers[layers.left[0][0]]),
            atoms.numbers[layers.device],
            np.full(len(right), atoms.numbers[layers.right[0][0]]),
        ]
    )
    return _assemble(atoms, positions, numbers, tags, vacuum, symbol)


def _assemble(atoms, positions, numbers, tags, vacuum, symbol) -> Atoms:
    order = np.lexsort(np.round(positions, 6).T)
    positions, numbers, tags = positions[order], numbers[order], tags[order]
    lateral = np.ptp(positions[:, :2], axis=0) + 2 * vacuum
    shift = 0.5 * lateral - 0.5 * (positions[:, :2].min(0) + positions[:, :2].max(0))
    positions[:, :2] += shift
    length = max(float(atoms.cell[2, 2]), float(np.ptp(positions[:, 2])))
    new = Atoms(numbers=numbers, positions=positions, cell=[*lateral, length], pbc=False)
    new.set_tags(tags)
    new.info.update(atoms.info)
    new.info["embedded_from"] = len(atoms)
    try:
        validate_structure(new)
    except InvalidStructureError as err:
        raise InvalidStructureError(
            f"embed_neck could not attach the {symbol} neck to the wider electrodes: {err}"
        ) from None
    return new
