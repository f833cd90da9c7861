"""Metal nanowire and point-contact builders for break-junction simulations.

Geometry contract (shared with :mod:`vlab.conductance.transport`)
----------------------------------------------------------------
* Structures are :class:`ase.Atoms`, lengths in Å, transport axis = Cartesian z, left
  electrode at small z, right electrode at large z. Atoms are sorted by z.
* ``atoms.get_tags()``: 1 = left electrode, 2 = right electrode, 0 = scattering region.
* Each electrode block holds ``>= 2`` identical principal layers (PLs) that repeat with the
  period ``atoms.info["lead_period"]`` (Å) along z; the electrode is the semi-infinite
  continuation of its outermost PL. The PL is one conventional cell for fcc [001]
  (2 atomic layers, period a), one hexagonal ABC stack for [111] (3 layers, a√3) and two
  rectangular cells for [110] (4 layers, a√2), so every period is at least a (4.08 Å for
  Au): longer than any nearest-neighbour bond, couplings only join adjacent PLs.
* Laterally the structures are finite (vacuum in the cell, ``pbc=False``).

Lattice constants default to the experimental values in :data:`ase.data.reference_states`
(Au 4.08, Ag 4.09, Cu 3.61, Pt 3.92 Å). The EMT potential relaxes bulk fcc to
Au 4.056, Ag 4.064, Cu 3.590 (ASE EMT; asap3 3.593) and Pt 3.922 Å; pass
``lattice_constant=`` to use those.

Examples
--------
>>> from vlab.conductance.structures import build_wire, validate_structure
>>> wire = build_wire("Au", cross_section=(2, 2), length=2, electrode_layers=2)
>>> len(wire), wire.info["lead_period"]
(96, 4.08)
>>> sorted(set(wire.get_tags().tolist()))
[0, 1, 2]
>>> validate_structure(wire)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii, reference_states
from ase.lattice.cubic import FaceCenteredCubic
from scipy.spatial import cKDTree

from vlab.errors import InputError, InvalidStructureError

__all__ = [
    "ELEMENTS",
    "build_contact",
    "build_point_contact",
    "build_wire",
    "electrode_atoms_per_layer",
    "has_junction_tags",
    "perturb",
    "validate_structure",
]

#: Elements supported by the builders (fcc metals with EMT parameters).
ELEMENTS = ("Ag", "Au", "Cu", "Pt")

# Lateral x, lateral y and transport (z) Miller directions, and cubic cells per PL.
_DIRECTIONS = {
    "001": (((1, 0, 0), (0, 1, 0), (0, 0, 1)), 1),
    "110": (((0, 0, 1), (1, -1, 0), (1, 1, 0)), 2),
    "111": (((1, -1, 0), (1, 1, -2), (1, 1, 1)), 1),
}
_TOL = 1e-3  # Å, tolerance for layer assignment and PL comparison


# --------------------------------------------------------------------------- validation helpers
def _check_element(element: object, caller: str) -> str:
    if element not in ELEMENTS:
        raise InvalidStructureError(
            f"The 'element' parameter of {caller} must be one of {', '.join(ELEMENTS)}. "
            f"Got {element!r}."
        )
    return str(element)


def _check_int(value: object, name: str, caller: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidStructureError(
            f"The {name!r} parameter of {caller} must be an integer >= {minimum}. Got {value!r}."
        )
    return int(value)


def _check_pair(value: object, name: str, caller: str) -> tuple[int, int]:
    ok = isinstance(value, Sequence) and len(value) == 2
    if ok:
        ok = all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in value
        )
    if not ok:
        raise InvalidStructureError(
            f"The {name!r} parameter of {caller} must be a pair of positive integers "
            f"(nx, ny). Got {value!r}."
        )
    return int(value[0]), int(value[1])


def _check_float(value: object, name: str, caller: str, *, low: float, unit: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number <= low:
        raise InvalidStructureError(
            f"The {name!r} parameter of {caller} must be a finite number > {low} {unit}. "
            f"Got {value!r}."
        )
    return number


def _lattice_constant(element: str, value: float | None, caller: str) -> float:
    if value is None:
        return float(reference_states[atomic_numbers[element]]["a"])
    return _check_float(value, "lattice_constant", caller, low=0.0, unit="Å")


# --------------------------------------------------------------------------- assembling
def _finish(
    positions: np.ndarray,
    element: str,
    *,
    period: float,
    n_electrode_layers: int,
    length_z: float,
    vacuum: float,
) -> Atoms:
    """Sort by z, tag the outer ``n_electrode_layers`` PLs of each side, centre laterally."""
    positions = positions - [0.0, 0.0, positions[:, 2].min()]
    order = np.lexsort(np.round(positions, 6).T)  # by z, then y, then x
    positions = positions[order]
    z = positions[:, 2]
    tags = np.zeros(len(z), dtype=int)
    tags[z < n_electrode_layers * period - _TOL] = 1
    tags[z > z.max() - n_electrode_layers * period + _TOL] = 2
    lateral = np.ptp(positions[:, :2], axis=0) + 2 * vacuum
    atoms = Atoms(
        f"{element}{len(z)}",
        positions=positions,
        cell=[lateral[0], lateral[1], length_z],
        pbc=False,
        tags=tags,
    )
    shift = 0.5 * lateral - 0.5 * (positions[:, :2].min(0) + positions[:, :2].max(0))
    atoms.positions[:, :2] += shift
    atoms.info["lead_period"] = float(period)
    return atoms


def build_wire(
    element: str = "Au",
    *,
    direction: str = "001",
    cross_section: tuple[int, int] = (2, 2),
    length: int = 4,
    electrode_layers: int = 2,
    lattice_constant: float | None = None,
    vacuum: float = 8.0,
) -> Atoms:
    """Build a perfect fcc nanowire along z with tagged electrode blocks.

    Parameters
    ----------
    element : {"Au", "Ag", "Cu", "Pt"}
        The metal.
    direction : {"001", "110", "111"}
        Crystal direction along the wire (the transport axis z).
    cross_section : (int, int)
        Repetitions of the smallest rectangular lateral cell along x and y: for "001" the cubic
        cell (a × a, 2 atoms per layer), for "110" a × a/√2 (1 atom per layer), for "111"
        a/√2 × a√6/2 (2 atoms per layer).
    length : int
        Number of principal layers (PLs) in the scattering region (tag 0).
    electrode_layers : int
        Number of PLs in each electrode block (tags 1 and 2), at least 2.
    lattice_constant : float, optional
        Cubic lattice constant a in Å; default: the experimental value from ase.data.
    vacuum : float
        Vacuum on each lateral side, Å.

    Returns
    -------
    ase.Atoms
        The wire, sorted by z, ``pbc=False``; the cell length along z is
        ``(length + 2 * electrode_layers) * info["lead_period"]`` so that the wire is continuous
        if made periodic along z.

    Raises
    ------
    InvalidStructureError
        If a parameter is not allowed (the message names it).

    Examples
    --------
    >>> wire = build_wire("Cu", direction="111", cross_section=(1, 1), length=1)
    >>> len(wire), round(wire.info["lead_period"], 3)
    (30, 6.253)
    """
    caller = "build_wire"
    element = _check_element(element, caller)
    if direction not in _DIRECTIONS:
        raise InvalidStructureError(
            f"The 'direction' parameter of {caller} must be one of "
            f"{', '.join(repr(d) for d in _DIRECTIONS)}. Got {direction!r}."
        )
    nx, ny = _check_pair(cross_section, "cross_section", caller)
    length = _check_int(length, "length", caller)
    electrode_layers = _check_int(electrode_layers, "electrode_layers", caller, minimum=2)
    a = _lattice_constant(element, lattice_constant, caller)
    vacuum = _check_float(vacuum, "vacuum", caller, low=0.0, unit="Å")
    axes, cells_per_pl = _DIRECTIONS[direction]
    n_pl = length + 2 * electrode_layers
    bulk = FaceCenteredCubic(
        directions=[list(v) for v in axes],
        size=(nx, ny, n_pl * cells_per_pl),
        symbol=element,
        latticeconstant=a,
        pbc=False,
    )
    period = float(bulk.cell.lengths()[2]) / n_pl
    atoms = _finish(
        bulk.positions,
        element,
        period=period,
        n_electrode_layers=electrode_layers,
        length_z=n_pl * period,
        vacuum=vacuum,
    )
    atoms.info.update(direction=direction, lattice_constant=a)
    return atoms


def build_contact(
    element: str = "Au",
    *,
    electrode_cross_section: tuple[int, int] = (3, 3),
    neck_cross_section: tuple[int, int] = (2, 2),
    length: int = 2,
    electrode_layers: int = 2,
    lattice_constant: float | None = None,
    vacuum: float = 8.0,
) -> Atoms:
    """Build an fcc [001] junction whose electrodes are wider than its neck.

    The electrodes are [001] wires of ``electrode_cross_section`` cubic cells; the neck is the
    centred block of ``neck_cross_section`` cubic cells cut from the same lattice, so the
    junction is a perfect crystal with a narrower middle.

    Parameters
    ----------
    element : {"Au", "Ag", "Cu", "Pt"}
        The metal.
    electrode_cross_section, neck_cross_section : (int, int)
        Lateral size in cubic cells (a × a) of the electrodes and of the neck; the neck must
        not be wider than the electrodes.
    length : int
        Number of cubic cells (PLs, 2 atomic layers each) in the neck (the scattering region).
    electrode_layers : int
        Number of PLs in each electrode block (>= 2).
    lattice_constant : float, optional
        Cubic lattice constant a in Å; default: the experimental value from ase.data.
    vacuum : float
        Vacuum on each lateral side, Å.

    Returns
    -------
    ase.Atoms
        Tagged junction (electrodes 1 and 2, neck 0), ``info["lead_period"] = a``.

    Examples
    --------
    >>> junction = build_contact("Au", length=1)
    >>> [int((junction.get_tags() == t).sum()) for t in (0, 1, 2)]
    [16, 72, 72]
    """
    caller = "build_contact"
    element = _check_element(element, caller)
    ex, ey = _check_pair(electrode_cross_section, "electrode_cross_section", caller)
    nx, ny = _check_pair(neck_cross_section, "neck_cross_section", caller)
    if nx > ex or ny > ey:
        raise InvalidStructureError(
            f"The 'neck_cross_section' parameter of {caller} must not exceed "
            f"'electrode_cross_section' {(ex, ey)} in either direction. Got {(nx, ny)}."
        )
    length = _check_int(length, "length", caller)
    electrode_layers = _check_int(electrode_layers, "electrode_layers", caller, minimum=2)
    a = _lattice_constant(element, lattice_constant, caller)
    vacuum = _check_float(vacuum, "vacuum", caller, low=0.0, unit="Å")
    n_pl = length + 2 * electrode_layers
    bulk = FaceCenteredCubic(size=(ex, ey, n_pl), symbol=element, latticeconstant=a, pbc=False)
    columns = np.rint(bulk.positions[:, :2] / (a / 2)).astype(int)
    offset = np.array([ex - nx, ey - ny])
    in_neck = np.all((columns >= offset) & (columns < offset + 2 * np.array([nx, ny])), axis=1)
    z = bulk.positions[:, 2]
    in_middle = (z > electrode_layers * a - _TOL) & (z < (n_pl - electrode_layers) * a - _TOL)
    keep = in_neck | ~in_middle
    atoms = _finish(
        bulk.positions[keep],
        element,
        period=a,
        n_electrode_layers=electrode_layers,
        length_z=n_pl * a,
        vacuum=vacuum,
    )
    atoms.info.update(direction="001", lattice_constant=a)
    return atoms


def _pyramid_layer(k: int, half_width: float, d: float) -> np.ndarray:
    """In-plane positions of layer ``k`` (k = 0: apex) of an fcc(001) double pyramid."""
    shift = 0.5 * (abs(k) % 2)
    limit = min(half_width, 0.5 * abs(k) * d) + _TOL
    m = np.arange(-abs(k) - 2, abs(k) + 3) + shift
    u = m[np.abs(m * d) <= limit] * d
    uu, vv = np.meshgrid(u, u, indexing="ij")
    return np.column_stack([uu.ravel(), vv.ravel()])


def build_point_contact(
    element: str = "Au",
    *,
    tip_size: int = 4,
    electrode_layers: int = 2,
    gap: float = 0.0,
    lattice_constant: float | None = None,
    vacuum: float = 8.0,
) -> Atoms:
    """Build a single-atom contact between two pyramidal fcc [001] tips.

    Two square pyramids with {111} facets, cut from one fcc crystal, share their apex atom:
    the layer ``k`` atomic layers away from the apex holds ``(k + 1)²`` atoms, up to
    ``tip_size`` layers; beyond that every layer is truncated at the half width
    ``tip_size · d / 2`` (d = a/√2, the nearest-neighbour distance), which makes bulk-like
    [001] electrode blocks of alternating (tip_size + 1)² and tip_size² layers
    (for ``tip_size=4``: 41 atoms per PL). The lateral axes are [110] and [-110].
    At ``gap=0`` every bond has the bulk length; ``gap > 0`` moves the right tip (all atoms
    beyond the apex) away by ``gap`` Å along z, so the apex stays on the left tip
    (a broken contact for tunnelling).

    Parameters
    ----------
    element : {"Au", "Ag", "Cu", "Pt"}
        The metal.
    tip_size : int
        Number of pyramid layers of each tip between the apex and the electrode (>= 1). The
        electrodes are as wide as the tips: below 4 they are so narrow that their subband
        edges lie near E_F, where the transmission jumps (s-band reference at ``gap=0``:
        0.96 G0 for 4, 0.58 for 3, 2e-4 for 2 between 0.89 and 1.09 at -0.1 and +0.1 eV).
    electrode_layers : int
        Number of PLs (2 atomic layers, period a) in each electrode block (>= 2).
    gap : float
        Extra separation in Å added between the apex atom and the right tip (may be
        negative down to the point where atoms overlap).
    lattice_constant : float, optional
        Cubic lattice constant a in Å; default: the experimental value from ase.data.
    vacuum : float
        Vacuum on each lateral side, Å.

    Returns
    -------
    ase.Atoms
        Tagged contact: electrodes 1 and 2, tips and apex 0; ``info["lead_period"] = a``.

    Examples
    --------
    >>> contact = build_point_contact("Au")
    >>> len(contact), int((contact.get_tags() == 0).sum())
    (273, 109)
    """
    caller = "build_point_contact"
    element = _check_element(element, caller)
    tip_size = _check_int(tip_size, "tip_size", caller)
    electrode_layers = _check_int(electrode_layers, "electrode_layers", caller, minimum=2)
    a = _lattice_constant(element, lattice_constant, caller)
    vacuum = _check_float(vacuum, "vacuum", caller, low=0.0, unit="Å")
    gap = _check_float(gap, "gap", caller, low=-np.inf, unit="Å")
    d = a / np.sqrt(2)
    half = tip_size + 2 * electrode_layers
    layers = []
    for k in range(-half, half + 1):
        xy = _pyramid_layer(k, 0.5 * tip_size * d, d)
        z = (k + half) * a / 2 + (gap if k > 0 else 0.0)
        layers.append(np.column_stack([xy, np.full(len(xy), z)]))
    atoms = _finish(
        np.concatenate(layers),
        element,
        period=a,
        n_electrode_layers=electrode_layers,
        length_z=(2 * half + 1) * a / 2 + max(gap, 0.0),
        vacuum=vacuum,
    )
    atoms.info.update(direction="001", lattice_constant=a, gap=gap)
    _check_overlaps(atoms, hint="the 'gap' parameter of build_point_contact")
    return atoms


# --------------------------------------------------------------------------- perturb / validate
def perturb(atoms: Atoms, *, amplitude: float, rng: np.random.Generator | int) -> Atoms:
    """Return a copy with random Gaussian displacements of the scattering-region atoms.

    Parameters
    ----------
    atoms : ase.Atoms
        Tagged structure; electrode atoms (tags 1 and 2) are not moved.
    amplitude : float
        Standard deviation of each Cartesian displacement, Å (>= 0).
    rng : numpy.random.Generator or int
        Random generator, or a seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    ase.Atoms
        The displaced copy (tags and info kept).

    Examples
    --------
    >>> wire = build_wire("Au", cross_section=(1, 1), length=1)
    >>> moved = perturb(wire, amplitude=0.05, rng=0)
    >>> bool((moved.positions != wire.positions).any(axis=1)[wire.get_tags() > 0].any())
    False
    """
    try:
        amp = float(amplitude)
    except (TypeError, ValueError):
        amp = float("nan")
    if not np.isfinite(amp) or amp < 0:
        raise InputError(
            f"The 'amplitude' parameter of perturb must be a finite number >= 0 Å. "
            f"Got {amplitude!r}."
        )
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    moved = atoms.copy()
    mobile = moved.get_tags() == 0
    moved.positions[mobile] += generator.normal(scale=amp, size=(int(mobile.sum()), 3))
    return moved


def _check_overlaps(atoms: Atoms, *, hint: str = "the positions") -> None:
    """Raise if two atoms are closer than half the sum of their covalent radii."""
    radii = covalent_radii[atoms.numbers]
    tree = cKDTree(atoms.positions)
    pairs = tree.query_pairs(r=float(radii.max()), output_type="ndarray")
    if len(pairs) == 0:
        return
    dist = np.linalg.norm(atoms.positions[pairs[:, 0]] - atoms.positions[pairs[:, 1]], axis=1)
    limit = 0.5 * (radii[pairs[:, 0]] + radii[pairs[:, 1]])
    bad = np.flatnonzero(dist < limit)
    if bad.size:
        i, j = pairs[bad[0]]
        raise InvalidStructureError(
            f"Atoms {i} and {j} overlap: they are {dist[bad[0]]:.3f} Å apart, closer than half "
            f"their nearest-neighbour distance ({limit[bad[0]]:.3f} Å; {bad.size} such pairs). "
            f"Check {hint}."
        )


def _principal_layers(positions: np.ndarray, period: float, side: str) -> list[np.ndarray]:
    """Split electrode positions into PLs counted from the outer end, each sorted."""
    z = positions[:, 2]
    depth = (z - z.min()) if side == "left" else (z.max() - z)
    n_layers = int(np.floor(depth.max() / period + _TOL / period)) + 1
    if n_layers > len(positions):  # some layers would be empty: a period far too short
        raise InvalidStructureError(
            f"The {side} electrode's {len(positions)} atoms span {depth.max():.3g} Å along z: "
            f"info['lead_period'] = {period:.3g} Å would make {n_layers:,} principal layers, "
            "more than its atoms. Give the electrode's repeat along z."
        )
    index = np.floor(depth / period + _TOL / period).astype(int)
    layers = []
    for k in range(index.max() + 1):
        block = positions[index == k] - [0.0, 0.0, (k if side == "left" else -k) * period]
        layers.append(block[np.lexsort(np.round(block, 3).T)])
    return layers


def _check_electrode(atoms: Atoms, tag: int, period: float) -> None:
    side = "left" if tag == 1 else "right"
    layers = _principal_layers(atoms.positions[atoms.get_tags() == tag], period, side)
    same = all(
        len(pl) == len(layers[0]) and np.allclose(pl, layers[0], atol=10 * _TOL) for pl in layers
    )
    if len(layers) < 2 or not same:
        raise InvalidStructureError(
            f"The {side} electrode (tag {tag}) must consist of >= 2 identical principal layers "
            f"repeating every info['lead_period'] = {period} Å along z; got {len(layers)} "
            f"layer(s) with {[len(pl) for pl in layers]} atoms{'' if same else ', not identical'}."
            " Build structures with vlab.conductance.structures or fix the tags."
        )


def has_junction_tags(tags) -> bool:
    """Whether ``tags`` follow the geometry contract: only 0 (device), 1 (left electrode) and
    2 (right electrode), both electrodes present.

    >>> has_junction_tags([1, 1, 0, 2, 2]), has_junction_tags([0, 0, 0])
    (True, False)
    """
    found = {int(t) for t in np.unique(tags)}
    return found <= {0, 1, 2} and {1, 2} <= found


def electrode_atoms_per_layer(atoms: Atoms) -> int | None:
    """Atoms per principal layer of the narrower electrode: the electrodes' cross-section.

    A 1x1-cell [001] gold wire has 4, a 2x2-cell one 16, a 3x3-cell one 36. None if the
    structure has no electrode tags (1 and 2) or no positive ``info["lead_period"]``.

    >>> [electrode_atoms_per_layer(build_wire(cross_section=(n, n), length=2)) for n in (1, 2, 3)]
    [4, 16, 36]
    """
    tags = atoms.get_tags()
    period = atoms.info.get("lead_period")
    if not has_junction_tags(tags) or not isinstance(period, (int, float, np.floating)):
        return None
    if not np.isfinite(period) or period <= 0:
        return None
    widths = []
    for tag in (1, 2):
        z = atoms.positions[tags == tag, 2]
        layers = int(np.floor((z.max() - z.min()) / period + _TOL / period)) + 1
        widths.append(len(z) / layers)
    return round(min(widths))


def _check_tags(atoms: Atoms) -> None:
    tags = atoms.get_tags()
    if not has_junction_tags(tags):
        raise InvalidStructureError(
            "The tags of the structure must be 1 (left electrode), 2 (right electrode) or 0 "
            "(scattering region), with both electrodes present. "
            f"Got tags {np.unique(tags).tolist()}."
        )
    period = atoms.info.get("lead_period")
    if not isinstance(period, (float, int, np.floating)) or not np.isfinite(period) or period <= 0:
        raise InvalidStructureError(
            f"The structure must carry info['lead_period'], a positive length in Å. Got {period!r}."
        )
    z = atoms.positions[:, 2]
    left, right, middle = z[tags == 1], z[tags == 2], z[tags == 0]
    below = left.max() < min(right.min(), middle.min(initial=np.inf))
    above = right.min() > max(left.max(), middle.max(initial=-np.inf))
    if not (below and above):
        raise InvalidStructureError(
            "The left electrode (tag 1) must lie entirely below, and the right electrode "
            "(tag 2) entirely above, the scattering region (tag 0) along z."
        )
    for tag in (1, 2):
        _check_electrode(atoms, tag, float(period))


def validate_structure(atoms: Atoms, *, require_electrodes: bool = True) -> None:
    """Check an arbitrary structure against the geometry contract; raise if it breaks it.

    Checks: the input is a non-empty :class:`ase.Atoms`; positions are finite; no two atoms
    are closer than half their nearest-neighbour distance (estimated as the sum of covalent
    radii from :data:`ase.data.covalent_radii`); and, if ``require_electrodes``, the tags
    contract of this module (tags in {0, 1, 2}, ``info["lead_period"] > 0``, electrodes at the
    two ends, each made of >= 2 identical principal layers).

    Parameters
    ----------
    atoms : ase.Atoms
        The structure.
    require_electrodes : bool
        Also check tags and electrode principal layers.

    Raises
    ------
    InvalidStructureError
        With a message naming the first violated rule.

    Examples
    --------
    >>> from ase import Atoms
    >>> validate_structure(Atoms("Au2", positions=[[0, 0, 0], [0, 0, 0.3]]),
    ...                    require_electrodes=False)
    Traceback (most recent call last):
    ...
    vlab.errors.InvalidStructureError: Atoms 0 and 1 overlap: ...
    """
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise InvalidStructureError(
            f"The structure must be a non-empty ase.Atoms object. Got {type(atoms).__name__} "
            f"with {len(atoms) if isinstance(atoms, Atoms) else 'no'} atoms."
        )
    bad = np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))
    if bad.size:
        raise InvalidStructureError(
            f"The positions of atoms {bad[:10].tolist()} are not finite (NaN or inf); every "
            "position must be a finite number in Å."
        )
    _check_overlaps(atoms)
    if require_electrodes:
        _check_tags(atoms)
