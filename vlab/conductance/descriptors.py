"""Local atomic-environment descriptors of junctions (pooled in :mod:`vlab.conductance.pooling`).

Per-atom descriptors
--------------------
Every atom is described by its SOAP power spectrum (``dscribe``; default r_cut 5.5 Å,
n_max 6, l_max 4, Gaussian width 0.5 Å: 105 numbers per atom for one species). Only atoms
near the scattering region are described ("centres"):

* *window atoms*: the device (tag 0) plus the ``margin_layers`` electrode principal layers
  (PLs) next to it on each side. The neck sits in the device, but the first electrode layers
  shape how it connects, so they are kept; deeper electrode atoms are bulk-like and the same
  in every structure, so they carry no information and are left out.
* *slab partners*: atoms within ``slab_half_width + slab_edge`` along z of a window atom
  (they enter the slab sums at the edges of the window, see
  :mod:`vlab.conductance.pooling`).

Before SOAP is computed, each electrode is *padded*: its outermost PL is repeated outward
(the semi-infinite electrode of the geometry contract) until every centre sees a complete
environment within r_cut. The descriptors therefore do not depend on how many electrode PLs
the structure happens to carry, and the artificial end surfaces of a finite cell never enter.

How the per-atom descriptors are pooled into a size-independent conductance is described
in :mod:`vlab.conductance.pooling`.

Examples
--------
>>> from vlab.conductance.structures import build_wire
>>> wire = build_wire("Au", cross_section=(1, 1), length=2, electrode_layers=2)
>>> [desc] = compute_descriptors([wire])
>>> desc.features.shape, int(desc.window.sum())
((16, 105), 16)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from vlab.conductance.transport import lead_layers
from vlab.errors import InputError, optional_import, reject_unknown

__all__ = [
    "DescriptorSettings",
    "LocalDescriptors",
    "centre_atoms",
    "compute_descriptors",
]

_TOL = 1e-6


@dataclass(frozen=True, kw_only=True)
class DescriptorSettings:
    """Settings of the per-atom SOAP descriptors and of the slab pooling (saved with models).

    Parameters
    ----------
    species : tuple of str
        Chemical symbols that may occur (SOAP channels).
    r_cut : float
        SOAP cutoff radius, Å (3-8).
    n_max, l_max : int
        Number of radial basis functions (1-12) and maximum angular degree (0-9).
    sigma : float
        Width of the atomic Gaussians, Å (> 0).
    slab_half_width : float
        Atoms within this distance along z of a plane count fully in its slab sum, Å.
    slab_edge : float
        Beyond ``slab_half_width`` the weight falls to 0 over this distance (cosine), Å.
    grid_spacing : float
        Spacing of the planes on which slab sums are evaluated, Å (0.05-1).
    margin_layers : int
        Electrode principal layers next to the device that are pooled with it (>= 0).

    Examples
    --------
    >>> DescriptorSettings().n_features
    105
    >>> DescriptorSettings(r_cut=1.0)
    Traceback (most recent call last):
    ...
    vlab.errors.InputError: The 'r_cut' parameter of DescriptorSettings must be ...
    """

    species: tuple[str, ...] = ("Au",)
    r_cut: float = 5.5
    n_max: int = 6
    l_max: int = 4
    sigma: float = 0.5
    slab_half_width: float = 1.5
    slab_edge: float = 0.5
    grid_spacing: float = 0.25
    margin_layers: int = 1

    def __post_init__(self) -> None:
        species = self.species
        if isinstance(species, str) or not isinstance(species, Sequence) or not species:
            raise _bad("species", "a non-empty tuple of chemical symbols", species)
        object.__setattr__(self, "species", tuple(str(s) for s in species))
        _check_number(self, "r_cut", 3.0, 8.0, "a number of Å in [3, 8]")
        _check_number(self, "sigma", _TOL, 2.0, "a number of Å in (0, 2]")
        _check_number(self, "slab_half_width", 0.2, 4.0, "a number of Å in [0.2, 4]")
        _check_number(self, "slab_edge", 0.05, 2.0, "a number of Å in [0.05, 2]")
        _check_number(self, "grid_spacing", 0.05, 1.0, "a number of Å in [0.05, 1]")
        for name, low, high in (("n_max", 1, 12), ("l_max", 0, 9), ("margin_layers", 0, 10)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise _bad(name, f"an integer in [{low}, {high}]", value)
            if not low <= value <= high:
                raise _bad(name, f"an integer in [{low}, {high}]", value)

    @property
    def reach(self) -> float:
        """Largest distance along z at which an atom still enters a slab sum, Å."""
        return float(self.slab_half_width + self.slab_edge)

    @property
    def n_features(self) -> int:
        """Length of the per-atom descriptor vector."""
        return int(self._soap().get_number_of_features())

    def to_dict(self) -> dict:
        """Plain JSON-able dict (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self) | {"species": list(self.species)}

    @classmethod
    def from_dict(cls, data: dict) -> DescriptorSettings:
        """Settings from :meth:`to_dict` output.

        >>> s = DescriptorSettings(r_cut=5.0)
        >>> DescriptorSettings.from_dict(s.to_dict()) == s
        True
        """
        reject_unknown(data, (f.name for f in dataclasses.fields(cls)), "DescriptorSettings keys")
        return cls(**{k: tuple(v) if k == "species" else v for k, v in data.items()})

    def _soap(self):
        return soap_generator(self.species, self.r_cut, self.n_max, self.l_max, self.sigma)


@functools.lru_cache(maxsize=16)
def soap_generator(species, r_cut: float, n_max: int, l_max: int, sigma: float):
    """dscribe's non-periodic SOAP with these settings (one shared instance per setting).

    Centres given as an (n, 3) array of positions skip dscribe's per-centre checks (a Python
    loop over the centres); the spectra are those of ``dscribe.descriptors.SOAP`` bit for bit.
    """
    return _fast_soap_class()(
        species=list(species),
        r_cut=float(r_cut),
        n_max=int(n_max),
        l_max=int(l_max),
        sigma=float(sigma),
        periodic=False,
        sparse=False,
    )


@functools.cache
def _fast_soap_class():
    SOAP = optional_import(
        "dscribe.descriptors", extra="descriptors", purpose="for the SOAP descriptors"
    ).SOAP

    class _SOAP(SOAP):
        def prepare_centers(self, system, centers=None):
            if (
                not self.periodic
                and isinstance(centers, np.ndarray)
                and centers.ndim == 2
                and centers.shape[0] > 0
                and centers.shape[1] == 3
                and centers.dtype.kind == "f"
            ):
                return np.asarray(centers, dtype=float), np.full(len(centers), -1, dtype=np.int64)
            return super().prepare_centers(system, centers)

    return _SOAP


def _bad(name: str, rule: str, value: object) -> InputError:
    return InputError(
        f"The {name!r} parameter of DescriptorSettings must be {rule}. Got {value!r}."
    )


def _check_number(settings, name: str, low: float, high: float, rule: str) -> None:
    value = getattr(settings, name)
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (ok and np.isfinite(value) and low <= value <= high):
        raise _bad(name, rule, value)


@dataclass(frozen=True, kw_only=True, eq=False)
class LocalDescriptors:
    """Per-atom descriptors of one structure's centres (window atoms and slab partners).

    Attributes
    ----------
    features : ndarray, shape (n_centres, n_features)
        SOAP vector of each centre.
    z : ndarray, shape (n_centres,)
        Position of each centre along the transport axis, Å.
    window : ndarray of bool, shape (n_centres,)
        True for window atoms (device + margin PLs), which carry a slab; False for partners.
    n_atoms : int
        Number of atoms of the original (unpadded) structure.
    settings : DescriptorSettings
        The settings used.
    """

    features: np.ndarray
    z: np.ndarray
    window: np.ndarray
    n_atoms: int
    settings: DescriptorSettings

    def __len__(self) -> int:
        return len(self.z)


# --------------------------------------------------------------------------- padding
def _padded(atoms: Atoms, settings: DescriptorSettings) -> tuple[Atoms, np.ndarray]:
    """Electrode-padded copy of ``atoms`` and a boolean mask of its window atoms."""
    layers = lead_layers(atoms)
    pos = atoms.get_positions()
    numbers = atoms.get_atomic_numbers()
    period = layers.period
    m = settings.margin_layers
    window = np.zeros(len(atoms), dtype=bool)
    window[layers.device] = True
    for side in (layers.left, layers.right):
        for pl in side[len(side) - min(m, len(side)) :]:
            window[pl] = True
    depth = settings.r_cut + settings.reach + _TOL
    extra_pos, extra_num = [pos], [numbers]
    for side, sign in ((layers.left, -1.0), (layers.right, +1.0)):
        beyond = max(0, len(side) - m) * period
        n_pad = max(0, math.ceil((depth - beyond) / period))
        outer = side[0]
        for k in range(1, n_pad + 1):
            extra_pos.append(pos[outer] + [0.0, 0.0, sign * k * period])
            extra_num.append(numbers[outer])
    padded = Atoms(numbers=np.concatenate(extra_num), positions=np.concatenate(extra_pos))
    window = np.concatenate([window, np.zeros(len(padded) - len(atoms), dtype=bool)])
    return padded, window


def _centres(z: np.ndarray, window: np.ndarray, half_width: float) -> np.ndarray:
    """Indices of window atoms and of every atom within ``half_width`` of one (along z)."""
    zw = np.sort(z[window])
    pos = np.searchsorted(zw, z)
    left = np.abs(z - zw[np.clip(pos - 1, 0, len(zw) - 1)])
    right = np.abs(z - zw[np.clip(pos, 0, len(zw) - 1)])
    near = np.minimum(left, right) <= half_width + _TOL
    return np.flatnonzero(window | near)


def centre_atoms(
    atoms: Atoms, settings: DescriptorSettings | None = None
) -> tuple[Atoms, np.ndarray]:
    """The electrode-padded structure whose SOAP is computed, and the indices of its centres.

    Parameters
    ----------
    atoms : ase.Atoms
        A structure obeying the geometry contract.
    settings : DescriptorSettings, optional
        Descriptor settings; default ``DescriptorSettings()``.

    Returns
    -------
    padded : ase.Atoms
        ``atoms`` followed by the padding copies of the outermost electrode layers.
    centres : ndarray of int
        Indices into ``padded`` of the centres (window atoms and slab partners), in the order
        of :attr:`LocalDescriptors.features`.

    Examples
    --------
    >>> from vlab.conductance.structures import build_wire
    >>> padded, centres = centre_atoms(build_wire("Au", cross_section=(1, 1), length=2))
    >>> len(centres)
    16
    """
    settings = DescriptorSettings() if settings is None else settings
    padded, window = _padded(atoms, settings)
    return padded, _centres(padded.positions[:, 2], window, settings.reach)


def _check_structures(structures, caller: str) -> list[Atoms]:
    if isinstance(structures, Atoms) or not isinstance(structures, Sequence):
        raise InputError(
            f"The 'structures' parameter of {caller} must be a list of ase.Atoms. "
            f"Got {type(structures).__name__}."
        )
    for i, atoms in enumerate(structures):
        if not isinstance(atoms, Atoms):
            raise InputError(
                f"The 'structures' parameter of {caller} must be a list of ase.Atoms; item {i} "
                f"is a {type(atoms).__name__}."
            )
    return list(structures)


def compute_descriptors(
    structures: Sequence[Atoms],
    settings: DescriptorSettings | None = None,
    *,
    batch_size: int = 64,
) -> list[LocalDescriptors]:
    """SOAP descriptors of the centres of each structure (window atoms and slab partners).

    Parameters
    ----------
    structures : list of ase.Atoms
        Tagged structures obeying the geometry contract of
        :mod:`vlab.conductance.structures` (transport along z, electrodes tagged 1 and 2,
        ``info["lead_period"]``).
    settings : DescriptorSettings, optional
        Descriptor settings; default ``DescriptorSettings()``.
    batch_size : int
        Structures handed to the SOAP generator at a time (memory bound, >= 1).

    Returns
    -------
    list of LocalDescriptors
        One per structure, in order.

    Raises
    ------
    InvalidStructureError
        If a structure breaks the electrode contract.
    InputError
        If a parameter is not allowed.
    """
    caller = "compute_descriptors"
    structures = _check_structures(structures, caller)
    settings = DescriptorSettings() if settings is None else settings
    if not isinstance(settings, DescriptorSettings):
        raise InputError(
            f"The 'settings' parameter of {caller} must be a DescriptorSettings. "
            f"Got {type(settings).__name__}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(
            f"The 'batch_size' parameter of {caller} must be an integer >= 1. Got {batch_size!r}."
        )
    soap = settings._soap()
    out: list[LocalDescriptors] = []
    for start in range(0, len(structures), batch_size):
        out.extend(_batch(structures[start : start + batch_size], settings, soap))
    return out


def _batch(structures: list[Atoms], settings: DescriptorSettings, soap) -> list[LocalDescriptors]:
    prepared = []
    for atoms in structures:
        padded, window = _padded(atoms, settings)
        unknown = set(padded.get_chemical_symbols()) - set(settings.species)
        if unknown:
            raise InputError(
                f"The structure contains {sorted(unknown)}, which are not in the descriptor "
                f"species {list(settings.species)}. Add them to DescriptorSettings(species=...)."
            )
        z = padded.positions[:, 2]
        centres = _centres(z, window, settings.reach)
        prepared.append((padded, centres, z[centres], window[centres], len(atoms)))
    result = []
    for padded, centres, z, window, n_atoms in prepared:
        # centres as positions: the same numbers as atom indices, without dscribe copying
        # all positions once per centre
        features = np.asarray(soap.create(padded, centers=padded.positions[centres]), dtype=float)
        result.append(
            LocalDescriptors(
                features=features.reshape(len(centres), -1),
                z=z,
                window=window,
                n_atoms=n_atoms,
                settings=settings,
            )
        )
    return result


# --------------------------------------------------------------------------- pooling
