"""A fast surrogate for junctions of a trained kind: a few numbers about the narrowest cut.

The local-descriptor surrogate (:mod:`vlab.conductance.surrogate`) computes a SOAP vector for
every atom near the scattering region, which bounds its speed. For break-junction snapshots
of one kind of junction (same metal, same electrodes), most of what decides the conductance
is the bottleneck: the plane across the wire where the fewest and longest bonds connect the
two sides. This module describes a structure by 11 such numbers and the pooled SOAP spectra
of the atoms at the bottleneck, and learns G from them with bagged gradient-boosted trees.

Bottleneck features
-------------------
Every pair of atoms closer than ``cutoff`` is a *link* with strength exp(-β (d - d0)) (d0 the
bulk nearest-neighbour distance, β a decay per Å, as the hopping between two atoms decays with
distance). A link *crosses* the plane at height z when one atom lies below z and the other at
or above it. On planes every ``grid_spacing`` Å across the device region (tag 0):

1-3. log of the smallest total strength of the crossing links, for each β of ``decays``;
4.   the smallest number of crossing bonds (links shorter than ``bond_cutoff``);
5.   the number of crossing bonds at the bottleneck plane (where the β = ``decays[1]`` sum is
     smallest);
6-8. the three shortest crossing links there (Å; ``cutoff`` where there are fewer);
9.   atoms within ``neck_half_width`` of that plane;
10-11. the smallest and the mean coordination number (bonds) of those atoms;

and, unless ``neck_centres`` is 0, the SOAP power spectra (``dscribe``; ``soap_r_cut``,
``soap_n_max``, ``soap_l_max``, ``soap_sigma``) of the ``neck_centres`` atoms nearest that
plane (along z), pooled over them: their mean, then their minimum, component by component
(``2 x n_soap`` numbers, ``n_soap`` = 105 for one species and the default sizes). The 11
numbers say how much connects the two sides; the spectra say how the contact atoms sit.

The features ignore periodic images (junction cells are not periodic across the wire) and
need the geometry contract of :mod:`vlab.conductance.structures` (device atoms tagged 0).

Range of use
------------
Trees do not extrapolate: the model predicts within the range of conductances and geometries
it was trained on. The shipped ``spd-bottleneck`` model is for gold junctions like its
training cells (2x2 and 3x3-cell electrodes, 112-160 atoms); for other sizes or kinds of
junction use the local-descriptor surrogate, which is built to transfer.

Examples
--------
>>> from vlab.conductance.structures import build_wire
>>> wire = build_wire("Au", cross_section=(1, 1), length=4, electrode_layers=2)
>>> f = bottleneck_features([wire])
>>> f.shape, int(f[0, 3])   # a 1x1-cell wire is crossed by four bonds at its thinnest plane
((1, 221), 4)
>>> bottleneck_features([wire], BottleneckSettings(neck_centres=0)).shape   # geometry only
(1, 11)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from vlab._utils import read_model_file, write_model_file
from vlab.conductance.descriptors import soap_generator
from vlab.conductance.structures import has_junction_tags
from vlab.errors import (
    InputError,
    InvalidStructureError,
    UnreadableFileError,
    reject_unknown,
)

__all__ = [
    "FEATURE_NAMES",
    "LOSSES",
    "BottleneckSettings",
    "BottleneckSurrogate",
    "bottleneck_features",
    "neck_plane",
]

#: Names of the first 11 columns of :func:`bottleneck_features` (the geometry of the cut).
FEATURE_NAMES = (
    "log_strength_decay0",
    "log_strength_decay1",
    "log_strength_decay2",
    "min_crossing_bonds",
    "bottleneck_crossing_bonds",
    "shortest_link_1",
    "shortest_link_2",
    "shortest_link_3",
    "neck_atoms",
    "neck_min_coordination",
    "neck_mean_coordination",
)

#: The ``loss`` values of :class:`BottleneckSurrogate` and scikit-learn's name for each.
LOSSES = {"squared": "squared_error", "absolute": "absolute_error"}
_FORMAT = "vlab-bottleneck-surrogate"
#: 1: training features and labels (the trees are fitted again on load); 2: the trees.
FORMAT_VERSION = 2


@dataclass(frozen=True, kw_only=True)
class BottleneckSettings:
    """Settings of :func:`bottleneck_features` (saved with models).

    Parameters
    ----------
    bond_length : float
        d0, the bulk nearest-neighbour distance, Å (gold: 2.88).
    decays : tuple of three floats
        β of the link strengths exp(-β (d - d0)), per Å (> 0).
    cutoff : float
        Longest link, Å (> ``bond_cutoff``).
    bond_cutoff : float
        Links shorter than this are bonds, Å.
    grid_spacing : float
        Spacing of the planes across the device, Å (0.01-1).
    neck_half_width : float
        Atoms within this distance along z of the bottleneck plane form the neck, Å.
    neck_centres : int
        Atoms nearest the bottleneck plane whose SOAP spectra are pooled into features
        (0-64; 0: the 11 geometric features only).
    species : tuple of str
        Chemical symbols that may occur (SOAP channels).
    soap_r_cut, soap_n_max, soap_l_max, soap_sigma
        SOAP cutoff (Å, 3-8), radial basis size (1-12), angular degree (0-9) and Gaussian
        width (Å, > 0) of those spectra.

    Examples
    --------
    >>> BottleneckSettings(cutoff=2.0)
    Traceback (most recent call last):
    ...
    vlab.errors.InputError: The 'cutoff' parameter of BottleneckSettings must be ...
    """

    bond_length: float = 2.88
    decays: tuple[float, float, float] = (1.0, 2.0, 3.0)
    cutoff: float = 6.0
    bond_cutoff: float = 3.3
    grid_spacing: float = 0.1
    neck_half_width: float = 1.5
    neck_centres: int = 8
    species: tuple[str, ...] = ("Au",)
    soap_r_cut: float = 5.0
    soap_n_max: int = 6
    soap_l_max: int = 4
    soap_sigma: float = 0.4

    def __post_init__(self) -> None:
        decays = self.decays
        ok = isinstance(decays, Sequence) and not isinstance(decays, str) and len(decays) == 3
        if not ok or not all(_number(b) and 0 < b <= 20 for b in decays):
            raise _bad("decays", "three numbers per Å in (0, 20]", decays)
        object.__setattr__(self, "decays", tuple(float(b) for b in decays))
        _check(self, "bond_length", 1.0, 5.0, "a number of Å in [1, 5]")
        _check(self, "bond_cutoff", 1.0, 6.0, "a number of Å in [1, 6]")
        _check(self, "grid_spacing", 0.01, 1.0, "a number of Å in [0.01, 1]")
        _check(self, "neck_half_width", 0.1, 5.0, "a number of Å in [0.1, 5]")
        rule = f"a number of Å in ({self.bond_cutoff:g}, 12] (longer than bond_cutoff)"
        _check(self, "cutoff", self.bond_cutoff + 1e-9, 12.0, rule)
        for name, low, high in (("neck_centres", 0, 64), ("soap_n_max", 1, 12),
                                ("soap_l_max", 0, 9)):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise _bad(name, f"an integer in [{low}, {high}]", value)
            if not low <= value <= high:
                raise _bad(name, f"an integer in [{low}, {high}]", value)
        _check(self, "soap_r_cut", 3.0, 8.0, "a number of Å in [3, 8]")
        _check(self, "soap_sigma", 0.01, 2.0, "a number of Å in [0.01, 2]")
        species = self.species
        if isinstance(species, str) or not isinstance(species, Sequence) or not species:
            raise _bad("species", "a non-empty list of chemical symbols", species)
        unknown = [x for x in species if x not in chemical_symbols[1:]]
        if unknown:
            raise _bad("species", f"chemical symbols; {unknown} are not", species)
        object.__setattr__(self, "species", tuple(species))

    @property
    def n_soap(self) -> int:
        """Numbers in one SOAP power spectrum (per neck atom)."""
        n, k = self.soap_n_max, len(self.species)
        return (k * n) * (k * n + 1) // 2 * (self.soap_l_max + 1)

    @property
    def n_features(self) -> int:
        """Columns of :func:`bottleneck_features` with these settings."""
        return len(FEATURE_NAMES) + (2 * self.n_soap if self.neck_centres else 0)

    def feature_names(self) -> tuple[str, ...]:
        """Names of the columns of :func:`bottleneck_features` with these settings.

        >>> BottleneckSettings().feature_names()[11], BottleneckSettings().n_features
        ('neck_soap_mean_0', 221)
        """
        if not self.neck_centres:
            return FEATURE_NAMES
        return (*FEATURE_NAMES, *(f"neck_soap_{pool}_{k}" for pool in ("mean", "min")
                                  for k in range(self.n_soap)))  # fmt: skip

    def _soap(self):
        """The dscribe SOAP generator of the neck spectra (built once per settings)."""
        return soap_generator(
            self.species, self.soap_r_cut, self.soap_n_max, self.soap_l_max, self.soap_sigma
        )

    def to_dict(self) -> dict:
        """Plain JSON-able dict (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self) | {
            "decays": list(self.decays),
            "species": list(self.species),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BottleneckSettings:
        """Settings from :meth:`to_dict` output.

        >>> s = BottleneckSettings(cutoff=7.0)
        >>> BottleneckSettings.from_dict(s.to_dict()) == s
        True
        """
        reject_unknown(data, (f.name for f in dataclasses.fields(cls)), "BottleneckSettings keys")
        tuples = ("decays", "species")
        return cls(**{k: tuple(v) if k in tuples else v for k, v in data.items()})


def _number(value: object) -> bool:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return ok and bool(np.isfinite(value))


def _bad(name: str, rule: str, value: object) -> InputError:
    return InputError(
        f"The {name!r} parameter of BottleneckSettings must be {rule}. Got {value!r}."
    )


def _check(settings, name: str, low: float, high: float, rule: str) -> None:
    value = getattr(settings, name)
    if not (_number(value) and low <= value <= high):
        raise _bad(name, rule, value)


# ------------------------------------------------------------------------------ features
def _crossing_below(sorted_ends: np.ndarray, cumulative: np.ndarray, grid: np.ndarray):
    """Per plane, the summed weights of the links whose sorted end lies below the plane."""
    k = np.searchsorted(sorted_ends, grid, side="left")
    padded = np.concatenate([np.zeros((1, cumulative.shape[1])), cumulative])
    return padded[k]


def _cut(atoms: Atoms, s: BottleneckSettings, index: int):
    """The links near the device and, per plane across it, their summed weights; the plane
    of the constriction (the smallest sum for the second decay)."""
    pos = atoms.positions
    z = pos[:, 2]
    tags = atoms.get_tags()
    device = tags == 0
    if not device.any() or not has_junction_tags(tags):
        raise InvalidStructureError(
            f"Structure {index} has tags {sorted({int(t) for t in tags})}; bottleneck_features "
            "needs the geometry contract of vlab.conductance.structures: device atoms tagged 0 "
            "between a left (1) and a right (2) electrode, all three present."
        )
    grid = np.arange(z[device].min(), z[device].max() + s.grid_spacing / 2, s.grid_spacing)
    # a link that crosses a plane, or a bond of an atom within neck_half_width of one, has
    # both ends within cutoff of the planes: only those atoms are paired
    reach = s.cutoff + s.neck_half_width
    near = np.flatnonzero((z >= grid[0] - reach) & (z <= grid[-1] + reach))
    pairs = cKDTree(pos[near]).query_pairs(s.cutoff, output_type="ndarray")
    if len(pairs) == 0:
        pairs = np.zeros((0, 2), dtype=int)
    i, j = near[pairs[:, 0]], near[pairs[:, 1]]
    d = np.linalg.norm(pos[i] - pos[j], axis=1)
    low, high = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
    bonded = d < s.bond_cutoff
    weights = np.column_stack(
        [np.exp(-b * (d - s.bond_length)) for b in s.decays] + [bonded.astype(float)]
    )
    by_low, by_high = np.argsort(low), np.argsort(high)
    # a link crosses z when low < z <= high: (links with low < z) - (links with high < z)
    sums = _crossing_below(low[by_low], np.cumsum(weights[by_low], axis=0), grid)
    sums -= _crossing_below(high[by_high], np.cumsum(weights[by_high], axis=0), grid)
    plane = int(np.argmin(sums[:, 1]))
    return z, i, j, d, low, high, bonded, sums, plane, float(grid[plane])


def neck_plane(atoms: Atoms, settings: BottleneckSettings | None = None) -> float:
    """z (Å) of the plane across the device of a junction where the links are weakest: the
    cut that :func:`bottleneck_features` describes.

    Raises
    ------
    InvalidStructureError
        If ``atoms`` does not follow the geometry contract (device 0, electrodes 1 and 2).
    """
    return _cut(atoms, BottleneckSettings() if settings is None else settings, 0)[-1]


def _features(atoms: Atoms, s: BottleneckSettings, index: int) -> np.ndarray:
    pos = atoms.positions
    z, i, j, d, low, high, bonded, sums, plane, z0 = _cut(atoms, s, index)
    crossing = (low < z0) & (z0 <= high)
    shortest = np.concatenate([np.sort(d[crossing])[:3], np.full(3, s.cutoff)])[:3]
    coordination = np.bincount(np.concatenate([i[bonded], j[bonded]]), minlength=len(pos))
    neck = np.abs(z - z0) < s.neck_half_width
    cn = coordination[neck] if neck.any() else np.zeros(1)
    strength = np.log(np.maximum(sums[:, :3].min(axis=0), 1e-12))
    geometry = np.array([
        *strength,
        np.rint(sums[:, 3].min()),
        np.rint(sums[plane, 3]),
        *shortest,
        float(neck.sum()),
        float(cn.min()),
        float(cn.mean()),
    ])  # fmt: skip
    if not s.neck_centres:
        return geometry
    nearest = np.argsort(np.abs(z - z0), kind="stable")[: s.neck_centres]
    if atoms.pbc.any():  # the cut is not periodic
        atoms = Atoms(numbers=atoms.numbers, positions=pos)
    spectra = np.asarray(s._soap().create(atoms, centers=pos[nearest]), dtype=float)
    spectra = spectra.reshape(len(nearest), -1)
    return np.concatenate([geometry, spectra.mean(axis=0), spectra.min(axis=0)])


def bottleneck_features(
    structures: Sequence[Atoms], settings: BottleneckSettings | None = None
) -> np.ndarray:
    """The bottleneck features of each structure (columns ``settings.feature_names()``: the
    11 of :data:`FEATURE_NAMES`, then the pooled neck spectra unless ``neck_centres`` is 0).

    Parameters
    ----------
    structures : list of ase.Atoms
        Junctions obeying the geometry contract (transport along z, device atoms tagged 0).
    settings : BottleneckSettings, optional
        Default ``BottleneckSettings()``.

    Returns
    -------
    ndarray, shape (n_structures, settings.n_features)

    Raises
    ------
    InputError
        If ``structures`` is not a list of ase.Atoms, ``settings`` is not BottleneckSettings,
        or a structure holds an element not in ``settings.species`` (with neck spectra).
    InvalidStructureError
        If a structure has no device atoms, or positions that are not finite.
    """
    caller = "bottleneck_features"
    if isinstance(structures, Atoms) or not isinstance(structures, Sequence):
        raise InputError(
            f"The 'structures' parameter of {caller} must be a list of ase.Atoms. "
            f"Got {type(structures).__name__}."
        )
    settings = BottleneckSettings() if settings is None else settings
    if not isinstance(settings, BottleneckSettings):
        raise InputError(
            f"The 'settings' parameter of {caller} must be a BottleneckSettings. "
            f"Got {type(settings).__name__}."
        )
    allowed = [atomic_numbers[x] for x in settings.species]
    rows = []
    for k, atoms in enumerate(structures):
        if not isinstance(atoms, Atoms):
            raise InputError(
                f"The 'structures' parameter of {caller} must be a list of ase.Atoms; item {k} "
                f"is a {type(atoms).__name__}."
            )
        bad = np.flatnonzero(~np.isfinite(np.asarray(atoms.positions, dtype=float)).all(axis=1))
        if bad.size:  # SOAP would read them (and crash the process)
            raise InvalidStructureError(
                f"Structure {k} has NaN or infinite positions (atoms {bad[:10].tolist()}). "
                "Give finite Cartesian positions in Å."
            )
        if settings.neck_centres and not np.isin(atoms.numbers, allowed).all():
            unknown = set(atoms.get_chemical_symbols()) - set(settings.species)
            if unknown:
                raise InputError(
                    f"Structure {k} contains {sorted(unknown)}, which are not in the species "
                    f"{list(settings.species)} of the neck spectra. Add them to "
                    "BottleneckSettings(species=...)."
                )
        rows.append(_features(atoms, settings, k))
    return np.array(rows, dtype=float).reshape(len(rows), settings.n_features)


# ------------------------------------------------------------------------------ model
class BottleneckSurrogate(RegressorMixin, BaseEstimator):
    """Bagged gradient-boosted trees predicting G/G0 from :func:`bottleneck_features`.

    Each of ``n_estimators`` members is a scikit-learn ``HistGradientBoostingRegressor``
    fitted on a bootstrap resample of the training structures; the prediction is their mean
    (clipped at 0 G0), their standard deviation the spread.

    Parameters
    ----------
    settings : BottleneckSettings, optional
        Feature settings; default ``BottleneckSettings()``.
    n_estimators : int
        Bagged members (>= 1).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf
        Of each member's ``HistGradientBoostingRegressor`` (no early stopping).
    random_state : int
        Seed of the resamples.
    loss : {"squared", "absolute"}
        What each member's trees minimise: the squared error (they predict conditional means)
        or the absolute error (conditional medians, which sit nearer the common value where
        the reference is skewed, as on the one-channel plateau).

    Notes
    -----
    A saved model holds its trees as flat numeric arrays (node features, thresholds, children,
    leaf values), so a file needs no pickle and does not depend on scikit-learn's internal tree
    format; a loaded model predicts with them (``members_`` is then empty). Files of the first
    format held the training features and labels, and :meth:`load` fits those again.

    Examples
    --------
    >>> from vlab.conductance.structures import build_wire, perturb
    >>> wire = build_wire("Au", cross_section=(1, 1), length=4)
    >>> wires = [perturb(wire, amplitude=0.05, rng=k) for k in range(30)]
    >>> y = bottleneck_features(wires)[:, 0]   # any target, to show the interface
    >>> model = BottleneckSurrogate(n_estimators=2, max_iter=20, min_samples_leaf=5)
    >>> model = model.fit(wires, y)
    >>> model.predict(wires[:2]).shape
    (2,)
    """

    def __init__(
        self,
        *,
        settings: BottleneckSettings | None = None,
        n_estimators: int = 4,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 20,
        random_state: int = 0,
        loss: str = "squared",
    ):
        self.settings = settings
        self.n_estimators = n_estimators
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state
        self.loss = loss

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> BottleneckSurrogate:
        """An estimator from a mapping of its parameters by name, as in a YAML file or
        ``vlab conductance train --estimator bottleneck --set NAME=VALUE``; ``settings`` may be
        a mapping of :class:`BottleneckSettings` fields. Values are checked when fitted.

        >>> BottleneckSurrogate.from_params({"n_estimators": 2, "settings": {"cutoff": 7}}).settings
        BottleneckSettings(bond_length=2.88, decays=(1.0, 2.0, 3.0), cutoff=7, ...)
        >>> BottleneckSurrogate.from_params({"depth": 3})
        Traceback (most recent call last):
        ...
        vlab.errors.InputError: Unknown BottleneckSurrogate parameter(s) ['depth']; allowed: ...
        """
        params = dict(params or {})
        reject_unknown(params, cls._get_param_names(), "BottleneckSurrogate parameter(s)")
        if isinstance(params.get("settings"), Mapping):
            params["settings"] = BottleneckSettings.from_dict(params["settings"])
        return cls(**params)

    def _check_params(self) -> BottleneckSettings:
        def integer(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InputError(
                    f"The {name!r} parameter of BottleneckSurrogate must be an integer >= {low}. "
                    f"Got {value!r}."
                )

        for name, low in (("n_estimators", 1), ("max_iter", 1), ("max_leaf_nodes", 2),
                          ("min_samples_leaf", 1), ("random_state", 0)):  # fmt: skip
            integer(name, low)
        if self.loss not in LOSSES:
            raise InputError(
                f"The 'loss' parameter of BottleneckSurrogate must be one of {sorted(LOSSES)}. "
                f"Got {self.loss!r}."
            )
        if not (_number(self.learning_rate) and 0 < self.learning_rate <= 1):
            raise InputError(
                "The 'learning_rate' parameter of BottleneckSurrogate must be a number in "
                f"(0, 1]. Got {self.learning_rate!r}."
            )
        settings = BottleneckSettings() if self.settings is None else self.settings
        if not isinstance(settings, BottleneckSettings):
            raise InputError(
                "The 'settings' parameter of BottleneckSurrogate must be a BottleneckSettings. "
                f"Got {type(settings).__name__}."
            )
        return settings

    def _features(self, X, settings: BottleneckSettings, caller: str) -> np.ndarray:
        rows = isinstance(X, Sequence) and len(X) > 0
        if rows and all(isinstance(r, np.ndarray) and r.ndim == 1 for r in X):
            X = np.vstack(X)  # a list of feature rows, one per structure
        if isinstance(X, np.ndarray) and X.ndim == 2:
            if X.shape[1] != settings.n_features or not np.all(np.isfinite(X)):
                raise InputError(
                    f"The 'X' parameter of {caller} must be ase.Atoms or a finite feature array "
                    f"of shape (n, {settings.n_features}). Got shape {X.shape}."
                )
            return X.astype(float)
        return bottleneck_features(X, settings)

    def fit(self, X, y) -> BottleneckSurrogate:
        """Fit on structures (list of ase.Atoms) or their feature array, and G/G0 ``y``."""
        settings = self._check_params()
        features = self._features(X, settings, "BottleneckSurrogate.fit")
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(features) or not np.all(np.isfinite(y)):
            raise InputError(
                "The 'y' parameter of BottleneckSurrogate.fit must hold one finite conductance "
                f"per structure: got {len(y)} values for {len(features)} structures."
            )
        if len(y) < 2 * self.min_samples_leaf:
            raise InputError(
                f"BottleneckSurrogate.fit needs at least 2 x min_samples_leaf = "
                f"{2 * self.min_samples_leaf} structures; got {len(y)}. Give more structures, "
                "or a smaller min_samples_leaf (vlab conductance train: --set "
                "min_samples_leaf=N)."
            )
        self.settings_ = settings
        self.train_features_, self.train_targets_ = features, y
        self.n_train_ = len(y)
        self.members_ = self._fit_members(features, y)
        self._forest = _compile_forest(self.members_, features)
        return self

    def _fit_members(self, features: np.ndarray, y: np.ndarray) -> list:
        from sklearn.ensemble import HistGradientBoostingRegressor

        rng = np.random.default_rng(self.random_state)
        members = []
        for k in range(self.n_estimators):
            rows = rng.integers(0, len(y), len(y)) if self.n_estimators > 1 else np.arange(len(y))
            member = HistGradientBoostingRegressor(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                loss=LOSSES[self.loss],
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                early_stopping=False,
                random_state=k,
            )
            members.append(member.fit(features[rows], y[rows]))
        return members

    def predict(self, X, return_std: bool = False):
        """Predicted conductance G/G0 (member mean, >= 0), and optionally the members' spread.

        Parameters
        ----------
        X : list of ase.Atoms, or an array (or list of rows) of :func:`bottleneck_features`
            with the model's settings
        return_std : bool
            Also return the standard deviation over the members, G0.
        """
        check_is_fitted(self, "settings_")
        features = self._features(X, self.settings_, "BottleneckSurrogate.predict")
        forest = getattr(self, "_forest", None)
        if forest is not None:
            preds = _forest_predict(forest, features)
        else:
            preds = np.array([m.predict(features) for m in self.members_])
        mean = np.maximum(preds.mean(axis=0), 0.0)
        return (mean, preds.std(axis=0)) if return_std else mean

    @property
    def n_tree_nodes(self) -> int:
        """Nodes in all trees of all members (the cost of a prediction grows with it)."""
        check_is_fitted(self, "settings_")
        forest = getattr(self, "_forest", None)
        if forest is not None:
            return len(forest["feature"])
        return sum(len(p.nodes) for m in self.members_ for (p,) in m._predictors)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model (settings, parameters and its trees as flat arrays) to ``.npz``.

        Where the trees could not be read from scikit-learn (another version of its internals)
        the file holds the training features and labels instead, and :meth:`load` fits the
        members again.
        """
        check_is_fitted(self, "settings_")
        params = self.get_params(deep=False)
        params["settings"] = self.settings_.to_dict()
        meta = {"params": params, "feature_names": list(self.settings_.feature_names())}
        forest = getattr(self, "_forest", None)
        if forest is not None:
            meta |= {"depth": forest["depth"], "n_train": self.n_train_}
            arrays = {k: _compact(forest[k]) for k in _FOREST_ARRAYS}
            version = FORMAT_VERSION
        else:
            arrays = {"train_features": self.train_features_, "train_targets": self.train_targets_}
            version = 1
        return write_model_file(
            path,
            model_type=_FORMAT,
            format_version=version,
            metadata=meta,
            arrays=arrays,
            compress=True,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> BottleneckSurrogate:
        """Read a model written by :meth:`save`.

        Raises
        ------
        UnreadableFileError
            If the file is missing or is not a saved bottleneck surrogate.
        IncompatibleVersionError
            If the file has a format version this vlab cannot read.
        """
        meta, arrays = read_model_file(
            path,
            model_type=_FORMAT,
            versions=(1, FORMAT_VERSION),
            saver="BottleneckSurrogate.save",
            name="BottleneckSurrogate",
        )
        params = dict(meta["params"])
        # files written before the neck spectra existed have the 11 geometric features only
        params["settings"] = BottleneckSettings.from_dict({"neck_centres": 0} | params["settings"])
        model = cls(**params)
        first = meta["format_version"] == 1
        needed = ("train_features", "train_targets") if first else _FOREST_ARRAYS
        missing = [k for k in needed if k not in arrays]
        if missing or (not first and not {"depth", "n_train"} <= set(meta)):
            raise UnreadableFileError(
                f"The BottleneckSurrogate file {str(path)!r} is incomplete (missing "
                f"{missing or ['depth', 'n_train']}). Save the model again."
            )
        if first:
            return model.fit(arrays["train_features"], arrays["train_targets"])
        model.settings_ = params["settings"]
        model.members_ = []
        model.n_train_ = int(meta["n_train"])
        forest = {k: arrays[k].astype(np.intp) if arrays[k].dtype.kind == "i" else arrays[k]
                  for k in _FOREST_ARRAYS}  # fmt: skip
        model._forest = forest | {"depth": int(meta["depth"])}
        return model


# ------------------------------------------------------------------------------ fast path
def _compact(values: np.ndarray) -> np.ndarray:
    """Integer arrays as int32 in files (node indices and feature numbers fit)."""
    return values.astype(np.int32) if values.dtype.kind == "i" else values


_FOREST_ARRAYS = ("feature", "threshold", "left", "right", "leaf", "value", "roots", "member",
                  "base")  # fmt: skip


def _compile_forest(members: list, check: np.ndarray) -> dict | None:
    """All members' trees as flat arrays, evaluated in numpy for every tree at once.

    scikit-learn walks its trees one Python call per tree, a fixed cost per call whatever the
    number of rows; the flat arrays walk all trees of all members together, level by level.
    They are read from the fitted trees' node tables; if those are not there or the compiled
    forest does not reproduce scikit-learn's predictions on ``check`` to 1e-9 G0 (another
    scikit-learn version), None: the members' own ``predict`` is used.
    """
    try:
        tables, member_of, base = [], [], []
        for k, member in enumerate(members):
            base.append(float(np.ravel(member._baseline_prediction)[0]))
            for (predictor,) in member._predictors:
                nodes = predictor.nodes
                if np.any(nodes["is_categorical"]):
                    return None
                tables.append(nodes)
                member_of.append(k)
        sizes = np.array([len(t) for t in tables])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(tables)
        shift = np.repeat(offsets, sizes)
        forest = {
            "feature": nodes["feature_idx"].astype(np.intp),
            "threshold": nodes["num_threshold"].astype(float),
            "left": nodes["left"].astype(np.intp) + shift,
            "right": nodes["right"].astype(np.intp) + shift,
            "leaf": nodes["is_leaf"].astype(bool),
            "value": nodes["value"].astype(float),
            "roots": offsets.astype(np.intp),
            "member": np.array(member_of),
            "base": np.array(base),
            "depth": int(nodes["depth"].max()),
        }
        expected = np.array([m.predict(check) for m in members])
        if not np.allclose(_forest_predict(forest, check), expected, rtol=0, atol=1e-9):
            return None
        return forest
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None


def _forest_predict(forest: dict, features: np.ndarray) -> np.ndarray:
    """Predictions of every member, shape (n_members, n_structures), from the flat forest.

    Every (structure, tree) pair steps down one level at a time, and pairs that reached a
    leaf drop out, so the work is the summed depth of the leaves reached, not the depth of
    the deepest tree times the number of trees.
    """
    roots, member = forest["roots"], forest["member"]
    n_members, n_trees = len(forest["base"]), len(roots)
    out = np.empty((n_members, len(features)))
    chunk = max(1, 200_000 // max(n_trees, 1))  # bounded memory: rows x trees node indices
    for start in range(0, len(features), chunk):
        x = features[start : start + chunk]
        node = np.tile(roots, len(x))
        row = np.repeat(np.arange(len(x)), n_trees)
        active = np.flatnonzero(~forest["leaf"][node])
        while active.size:
            at = node[active]
            left = x[row[active], forest["feature"][at]] <= forest["threshold"][at]
            step = np.where(left, forest["left"][at], forest["right"][at])
            node[active] = step
            active = active[~forest["leaf"][step]]
        leaves = forest["value"][node].reshape(len(x), n_trees)
        for k in range(n_members):
            out[k, start : start + len(x)] = forest["base"][k] + leaves[:, member == k].sum(axis=1)
    return out
