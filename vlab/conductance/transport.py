"""Reference conductance of metal atomic junctions: Landauer transmission with two fidelities.

Both calculators share one interface, ``transmission(atoms, energies)`` (T(E), energies in eV
relative to the Fermi energy) and ``conductance(atoms)`` (G / G0 = T(E_F)), and an
``identity`` dict for the catalog:

* :class:`SBandTightBinding` (id ``"sband-tb"``): one orthogonal s orbital per atom, cheap;
* :class:`ExtendedHuckel` (id ``"eht-spd"``): extended Hückel, Au 6s/6p/5d Slater orbitals,
  non-orthogonal (vlab's own engine, or RDKit's YAeHMOP); the expensive tier.

Geometry contract (shared with :mod:`vlab.conductance.structures`): an :class:`ase.Atoms` with
lengths in Å and transport along Cartesian z. Tags mark the left electrode (1, small z), the
right electrode (2, large z) and the device (0). Each electrode block holds at least two
identical principal layers (PLs) repeating with period ``atoms.info["lead_period"]`` (Å) along
z; the electrode is the semi-infinite periodic continuation of its outermost PL. The lateral
directions are finite (pbc and cell are ignored). :func:`lead_layers` checks the contract.

The transmission is ``T = Tr[Γ_L G Γ_R G†]`` with ``G = (zS - H - Σ_L - Σ_R)^-1`` on the whole
structure (device plus all electrode PLs it contains), ``z = E + i eta`` and lead self-energies
``Σ = (zS10 - H10) g (zS01 - H01)`` from Lopez Sancho decimation of the semi-infinite
electrodes. Electrode PLs couple only to their nearest-neighbour PLs; the calculators refuse
structures whose ``lead_period`` is too short for that (nearest-PL approximation).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from vlab.conductance import _negf
from vlab.conductance._eht import ORBITALS_PER_ATOM, eht_matrices
from vlab.conductance._slater import PARAMETER_SETS, TAPER, huckel_matrices
from vlab.conductance.structures import has_junction_tags
from vlab.errors import InputError, InvalidStructureError

__all__ = ["ExtendedHuckel", "LeadLayers", "SBandTightBinding", "lead_layers"]

_TOL = 1e-3  # Å, tolerance for "identical up to translation"
#: Engines that compute the extended Hückel matrices.
ENGINES = ("vlab", "rdkit", "rdkit-pairs")
_NEAREST_PL_TOL = 1e-2  # allowed |H| beyond the next PL, relative to the PL-PL coupling
#: Valence electrons per atom in the spd basis (d10 s1 for the coinage metals, d9 s1 for Pt).
VALENCE_ELECTRONS = {"Ag": 11, "Au": 11, "Cu": 11, "Pt": 10}


@dataclass(frozen=True, kw_only=True, eq=False)
class LeadLayers:
    """Atom indices of the principal layers of both electrodes and of the device.

    Attributes
    ----------
    period : float
        PL period along z in Å (``atoms.info["lead_period"]``).
    left, right : tuple of ndarray
        Atom indices of each PL, outermost PL first. The atoms of every PL are listed in the
        same order as the matching (translated) atoms of the outermost PL.
    device : ndarray
        Indices of the device atoms (tag 0), sorted by z.
    """

    period: float
    left: tuple[np.ndarray, ...]
    right: tuple[np.ndarray, ...]
    device: np.ndarray

    @property
    def order(self) -> np.ndarray:
        """All atom indices ordered along the transport axis, PL by PL (left to right)."""
        parts = [*self.left, self.device, *reversed(self.right)]
        return np.concatenate(parts).astype(int)


def lead_layers(atoms, *, tol: float = _TOL) -> LeadLayers:
    """Check the electrode geometry contract and split the electrodes into principal layers.

    Parameters
    ----------
    atoms : ase.Atoms
        Structure with tags (1 left electrode, 2 right electrode, 0 device) and
        ``atoms.info["lead_period"]`` (Å).
    tol : float, optional
        Tolerance in Å for PLs to be identical up to a translation by the period along z.

    Returns
    -------
    LeadLayers

    Raises
    ------
    InvalidStructureError
        If positions are not finite, tags or ``lead_period`` are missing or invalid, or an
        electrode has fewer than two identical PLs.

    Examples
    --------
    >>> from ase import Atoms
    >>> chain = Atoms("Au8", positions=[(0, 0, 2.885 * i) for i in range(8)])
    >>> chain.set_tags([1, 1, 1, 0, 0, 2, 2, 2])
    >>> chain.info["lead_period"] = 2.885
    >>> layers = lead_layers(chain)
    >>> [pl.tolist() for pl in layers.left], [pl.tolist() for pl in layers.right]
    ([[0], [1], [2]], [[7], [6], [5]])
    """
    pos = _finite_positions(atoms)
    tags = _checked_tags(atoms)
    period = _checked_period(atoms)
    left = _principal_layers(pos, np.flatnonzero(tags == 1), period, +1, "left", tol)
    right = _principal_layers(pos, np.flatnonzero(tags == 2), period, -1, "right", tol)
    device = np.flatnonzero(tags == 0)
    z = pos[:, 2]
    inner_left, inner_right = z[tags == 1].max(), z[tags == 2].min()
    slack = 0.5 * period  # thermal motion takes device atoms a little past an electrode's face
    if inner_left >= inner_right or (
        device.size
        and not (inner_left - slack < z[device].min() and z[device].max() < inner_right + slack)
    ):
        raise InvalidStructureError(
            "The left electrode (tag 1) must lie below, and the right electrode (tag 2) above, "
            "the scattering region (tag 0) along z (device atoms at most half a lead period "
            "past an electrode's inner face): the transport axis is +z. Reorient or re-tag the "
            "structure."
        )
    device = device[np.argsort(pos[device, 2], kind="stable")]
    return LeadLayers(period=period, left=left, right=right, device=device)


def _finite_positions(atoms) -> np.ndarray:
    pos = np.asarray(atoms.get_positions(), dtype=float)
    bad = np.flatnonzero(~np.all(np.isfinite(pos), axis=1))
    if bad.size:
        raise InvalidStructureError(
            f"The structure has NaN or infinite positions (atoms {bad[:10].tolist()}). "
            "Give finite Cartesian positions in Å."
        )
    return pos


def _checked_tags(atoms) -> np.ndarray:
    tags = np.asarray(atoms.get_tags())
    found = sorted({int(t) for t in tags})
    if not has_junction_tags(tags):
        raise InvalidStructureError(
            "The atoms must be tagged 1 (left electrode), 2 (right electrode) or 0 (device), "
            f"with both electrodes present. Got tags {found}; use atoms.set_tags(...)."
        )
    return tags


def _checked_period(atoms) -> float:
    period = atoms.info.get("lead_period")
    if isinstance(period, bool) or not isinstance(period, (int, float, np.floating)):
        raise InvalidStructureError(
            "atoms.info['lead_period'] must be the principal-layer period along z in Å (a "
            f"positive float). Got {period!r}."
        )
    if not np.isfinite(period) or period <= 0:
        raise InvalidStructureError(
            f"atoms.info['lead_period'] must be a positive, finite length in Å. Got {period!r}."
        )
    return float(period)


def _principal_layers(pos, idx, period, inward, side, tol) -> tuple[np.ndarray, ...]:
    z = pos[idx, 2]
    depth = (z - z.min()) if inward > 0 else (z.max() - z)
    n_layers = int(np.floor((depth.max() + tol) / period)) + 1
    if n_layers > len(idx):  # some layers would be empty: a period far too short
        raise InvalidStructureError(
            f"The {side} electrode's {len(idx)} atoms span {depth.max():.3g} Å along z: "
            f"lead_period={period:.3g} Å would make {n_layers:,} principal layers, more than "
            "its atoms. Check atoms.info['lead_period'] (the electrode's repeat along z)."
        )
    layer = np.floor((depth + tol) / period).astype(int)
    sizes = np.bincount(layer, minlength=n_layers)
    if n_layers < 2 or np.any(sizes != sizes[0]):
        raise InvalidStructureError(
            f"The {side} electrode must consist of >= 2 identical principal layers repeating "
            f"with lead_period={period} Å along z. Got {n_layers} layer(s) with atom counts "
            f"{sizes.tolist()}. Check the tags and atoms.info['lead_period']."
        )
    ref = idx[layer == 0]
    ref = ref[np.lexsort((pos[ref, 1], pos[ref, 0], pos[ref, 2]))]
    layers = [ref]
    for k in range(1, n_layers):
        layers.append(_match(pos, ref, idx[layer == k], inward * k * period, side, k, tol))
    return tuple(layers)


def _match(pos, ref, members, shift, side, k, tol) -> np.ndarray:
    target = pos[ref] + np.array([0.0, 0.0, shift])
    dist = cdist(target, pos[members])
    nearest = dist.argmin(axis=1)
    worst = dist[np.arange(len(ref)), nearest].max()
    if worst > tol or len(set(nearest.tolist())) != len(ref):
        raise InvalidStructureError(
            f"Principal layer {k} of the {side} electrode is not the outermost layer translated "
            f"by {abs(shift):.4f} Å along z (largest mismatch {worst:.4f} Å > {tol} Å). "
            "Electrode layers must be identical up to translation by atoms.info['lead_period']."
        )
    return members[nearest]


def _energies(energies) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(energies, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InputError(
            "The 'energies' parameter of transmission must be a non-empty 1-D sequence of "
            f"finite energies in eV relative to E_F. Got {energies!r}."
        )
    return arr


def _padded(layers: LeadLayers, symbols, positions, k: int):
    """Pad each electrode with translated outermost PLs up to ``2 k`` PLs (ordered basis)."""
    n_l, n_r = len(layers.left[0]), len(layers.right[0])
    pad_l = max(0, 2 * k - len(layers.left))
    pad_r = max(0, 2 * k - len(layers.right))
    shift = np.array([0.0, 0.0, layers.period])
    left_pl, right_pl = positions[:n_l], positions[len(positions) - n_r :]
    pos = [left_pl - j * shift for j in range(pad_l, 0, -1)]
    pos += [positions] + [right_pl + j * shift for j in range(1, pad_r + 1)]
    syms = symbols[:n_l] * pad_l + list(symbols) + symbols[len(symbols) - n_r :] * pad_r
    return syms, np.concatenate(pos)


def _super_blocks(layers: LeadLayers, n_atoms: int, norb: int, k: int):
    """Outer and inner super-PLs (k PLs each) of both leads, as orbital indices."""
    n_l, n_r = k * len(layers.left[0]), k * len(layers.right[0])

    def orbs(start: int, count: int) -> np.ndarray:
        return np.arange(start * norb, (start + count) * norb)

    left = _negf.LeadBlocks(outer=orbs(0, n_l), inner=orbs(n_l, n_l))
    right = _negf.LeadBlocks(outer=orbs(n_atoms - n_r, n_r), inner=orbs(n_atoms - 2 * n_r, n_r))
    return left, right


def _check_nearest_pl(h: np.ndarray, lead, side: str, period: float) -> None:
    """Refuse structures where the outermost PL couples beyond its neighbour PL."""
    rest = np.setdiff1d(np.arange(len(h)), np.concatenate([lead.outer, lead.inner]))
    pl_coupling = np.abs(h[np.ix_(lead.outer, lead.inner)]).max()
    beyond = np.abs(h[np.ix_(lead.outer, rest)]).max() if rest.size else 0.0
    if pl_coupling == 0.0 or beyond > _NEAREST_PL_TOL * pl_coupling:
        raise InvalidStructureError(
            f"The outermost principal layer of the {side} electrode couples to atoms beyond the "
            f"next layer (|H| = {beyond:.3g} eV vs {pl_coupling:.3g} eV between adjacent "
            f"layers), or not at all to the next layer. lead_period={period} Å is too short "
            "for this calculator's interaction range: use thicker principal layers."
        )


def _check_leads(h, left, right, period) -> None:
    _check_nearest_pl(h, left, "left", period)
    _check_nearest_pl(h, right, "right", period)


@dataclass(frozen=True, kw_only=True)
class SBandTightBinding:
    """s-band tight binding: one orthogonal s orbital per atom (id ``"sband-tb"``).

    Hopping between atoms at distance d (Å)::

        t(d) = t0 (d0/d)^2 f(d) + t0 w exp(-kappa (d - d0)) (1 - f(d))

    where ``f`` is 1 below ``r_on``, 0 above ``r_off`` and a cosine switch in between. The
    first term is the published model (bonds to nearest neighbours only). The second is a
    weak through-vacuum tail, added so that conductance decays exponentially after rupture
    (G ∝ exp(-2 kappa d), kappa = sqrt(2 m φ)/ħ = 1.146 Å⁻¹ for φ = 5 eV, i.e. β ≈ 2.3 Å⁻¹).
    Its weight ``w`` is small enough to leave the bulk bands (second neighbours at 4.08 Å)
    and the integer channel counts unchanged; ``tail_weight=0`` gives the pure published
    model. On-site energies are 0 and the Fermi energy is E = 0: the centre of gravity of
    the band (Tr H = 0), exactly half filling for bipartite structures such as the chain.

    Sign convention: H_ij = t(d_ij) with ``t0 < 0`` (bonding states at the band bottom).
    ``t0 = -0.46`` eV puts the bottom of the fcc band 12 |t0| = 5.5 eV below E_F, the
    free-electron Fermi energy of gold (1 electron per atom). T(E=0) does not depend on the
    scale of t0 (only through ``eta``).

    With these hoppings, perfect fcc [001] wires made of n × n conventional cubic cells in
    cross-section (2 n² atoms per (002) layer: 8 for 2 × 2 cells, 18 for 3 × 3) carry 6 and
    13 open channels at E = 0.

    Measured (tests): chain 1.00; single-atom contacts between [001] pyramids on wide
    electrodes 0.87-0.90 G0 (narrow electrodes put subband edges near E_F: see
    :func:`~vlab.conductance.build_point_contact`);
    after rupture G ≈ 7e-3 G0 one Å beyond contact, decaying with beta = 2.29 Å⁻¹.

    Parameters
    ----------
    t0 : float
        Hopping in eV at distance ``d0`` (negative).
    d0 : float
        Reference distance in Å (gold nearest-neighbour distance).
    r_on, r_off : float
        Start and end of the smooth cutoff of the bond term, Å.
    tail_weight : float
        Weight ``w`` of the tunnelling tail relative to ``t0`` (dimensionless, >= 0).
    tail_decay : float
        Decay constant ``kappa`` of the tail in Å⁻¹.
    eta : float
        Broadening in eV.

    Examples
    --------
    >>> from ase import Atoms
    >>> chain = Atoms("Au8", positions=[(0, 0, 2.885 * i) for i in range(8)])
    >>> chain.set_tags([1, 1, 1, 0, 0, 2, 2, 2])
    >>> chain.info["lead_period"] = 2.885
    >>> round(SBandTightBinding().conductance(chain), 4)
    1.0
    """

    t0: float = -0.46
    d0: float = 2.885
    r_on: float = 3.3
    r_off: float = 3.7
    tail_weight: float = 0.2
    tail_decay: float = 1.146
    eta: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("t0", "d0", "r_on", "r_off", "tail_weight", "tail_decay", "eta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise InputError(
                    f"The {name!r} parameter of SBandTightBinding must be a number. Got {value!r}."
                )
        checks = {
            "t0": self.t0 < 0,
            "d0": self.d0 > 0,
            "r_on": 0 < self.r_on < self.r_off,
            "tail_weight": self.tail_weight >= 0,
            "tail_decay": self.tail_decay > 0,
            "eta": 0 < self.eta <= 1e-3,
        }
        for name, ok in checks.items():
            if not (ok and np.isfinite(getattr(self, name))):
                raise InputError(
                    f"The {name!r} parameter of SBandTightBinding is invalid: got "
                    f"{getattr(self, name)!r}; need t0 < 0 eV, d0 > 0 Å, 0 < r_on < r_off Å, "
                    "tail_weight >= 0, tail_decay > 0 Å⁻¹ and 0 < eta <= 1e-3 eV."
                )

    @property
    def identity(self) -> dict:
        """Calculator id, version and parameters, for the catalog and content hashes."""
        return {"id": "sband-tb", "version": "1", "params": dataclasses.asdict(self)}

    def hopping(self, distance) -> np.ndarray:
        """Hopping t(d) in eV at distances ``distance`` (Å, array-like, > 0).

        >>> SBandTightBinding().hopping([2.885, 10.0]).round(4)
        array([-0.46, -0.    ])
        """
        d = np.asarray(distance, dtype=float)
        x = np.clip((d - self.r_on) / (self.r_off - self.r_on), 0.0, 1.0)
        switch = 0.5 * (1.0 + np.cos(np.pi * x))
        bond = self.t0 * (self.d0 / d) ** 2 * switch
        tail = self.t0 * self.tail_weight * np.exp(-self.tail_decay * (d - self.d0))
        return bond + tail * (1.0 - switch)

    def hamiltonian(self, positions: np.ndarray) -> np.ndarray:
        """Dense Hamiltonian (eV) of atoms at ``positions`` (Å), on-site energies 0."""
        dist = cdist(positions, positions)
        np.fill_diagonal(dist, 1.0)
        h = self.hopping(dist)
        np.fill_diagonal(h, 0.0)
        return h

    def transmission(self, atoms, energies) -> np.ndarray:
        """Transmission T(E) at ``energies`` (eV relative to E_F = 0), one value per energy."""
        energies = _energies(energies)
        layers = lead_layers(atoms)
        h = self.hamiltonian(atoms.get_positions()[layers.order])
        left, right = _super_blocks(layers, len(layers.order), 1, 1)
        _check_leads(h, left, right, layers.period)
        return _negf.transmission(h, None, energies, left, right, eta=self.eta)

    def conductance(self, atoms) -> float:
        """Conductance G/G0 = T(E_F) (dimensionless, in units of G0 = 2e²/h)."""
        return float(self.transmission(atoms, [0.0])[0])


@dataclass(frozen=True, kw_only=True)
class ExtendedHuckel:
    """Extended Hückel spd model of gold (id ``"eht-spd"``), non-orthogonal, 9 orbitals per atom.

    Au is described by 6s, 6p and 5d Slater orbitals with Wolfsberg-Helmholz off-diagonal
    elements (see :mod:`vlab.conductance._slater`). H and S are two-centre, so one calculation
    on the whole structure (device plus electrode PLs) also yields the electrode blocks,
    consistent with the device. Two engines compute the matrices:

    * ``"vlab"`` (default): vlab's own Slater-orbital engine, parameters as data (the named
      sets of :data:`PARAMETER_SETS`); 0.01 s for 37 atoms;
    * ``"rdkit"`` / ``"rdkit-pairs"``: RDKit's rdEHTTools (YAeHMOP) on the whole cluster (it
      also diagonalises H, ~N^3.3: 1.1 s for 38 atoms, 128 s for 152) or pair by pair (0.6 s,
      5.2 s); only YAeHMOP's built-in parameters (``parameters="yaehmop"``), but also Ag, Cu
      and Pt. The vlab engine reproduces these matrices to 2e-4 (relative).

    Parameter sets: ``"au-tail"`` (default) is YAeHMOP's gold with a diffuse tail added to the
    6s orbital, so that tunnelling through vacuum decays like the wavefunction of a metal with
    a ~5 eV work function; ``"yaehmop"`` is the textbook set, whose contracted single-zeta 6s
    gives beta ≈ 5.2 1/Å, twice the physical value.

    The electrodes are the periodic continuation of their outermost PL. Orbital tails reach
    beyond one PL: the vlab engine truncates them smoothly between 6.5 and 8 Å (``TAPER``) and
    treats ``k = ceil(8 Å / lead_period)`` consecutive PLs as one (k = 2 for [001] gold),
    padding the structure with translated copies of the outermost PL when an electrode holds
    fewer than ``2 k`` PLs. The Fermi energy is that of the periodic left electrode: its
    bands E_n(k) are filled with the valence electrons (11 per Au atom, 5d10 6s1) on ``n_k``
    k-points, unless ``fermi_energy`` (absolute, eV) is given.

    Parameters
    ----------
    eta : float
        Broadening in eV (keep it <= 1e-5 eV: a larger eta absorbs current).
    fermi_energy : float or None
        Absolute Fermi energy in eV; None computes it from the left electrode.
    n_k : int
        Number of k-points in half the Brillouin zone for the electrode Fermi energy.
    parameters : str
        Name of a parameter set (``"au-tail"`` or ``"yaehmop"``).
    engine : {"vlab", "rdkit", "rdkit-pairs"}
        Who computes H and S (see above).

    Notes
    -----
    Measured with ``"au-tail"`` (tests in ``tests/conductance/test_transport.py``): a perfect
    chain transmits 1.00; a single atom shared by two [001] pyramids between 13/12-atom
    leads 1.1 G0, two apex atoms touching 1.0 G0; after rupture ln G falls linearly with
    the gap, beta ≈ 2.4 1/Å. With ``"yaehmop"``: the same contacts give 1.05 and 0.98 G0 but
    beta ≈ 5.2 1/Å. Between thin (5/4-atom) leads, the shared atom gives 1.6-1.7 G0 in both
    sets: the two 4-atom layers around it are only 4.08 Å apart and couple directly.

    Examples
    --------
    >>> from ase import Atoms
    >>> chain = Atoms("Au6", positions=[(0, 0, 2.885 * i) for i in range(6)])
    >>> chain.set_tags([1, 1, 0, 0, 2, 2])
    >>> chain.info["lead_period"] = 2.885
    >>> round(ExtendedHuckel().conductance(chain), 2)
    1.0
    """

    eta: float = 1e-6
    fermi_energy: float | None = None
    n_k: int = 64
    parameters: str = "au-tail"
    engine: str = "vlab"

    def __post_init__(self) -> None:
        for name in ("eta", "fermi_energy"):
            value = getattr(self, name)
            number = not isinstance(value, bool) and isinstance(value, int | float | np.number)
            if not number and (name == "eta" or value is not None):
                raise InputError(
                    f"The {name!r} parameter of ExtendedHuckel must be a number (eV)"
                    + (" or None" if name == "fermi_energy" else "")
                    + f". Got {value!r}."
                )
        if not (np.isfinite(self.eta) and 0 < self.eta <= 1e-3):
            raise InputError(
                f"The 'eta' parameter of ExtendedHuckel must be in (0, 1e-3] eV. Got {self.eta!r}."
            )
        if self.fermi_energy is not None and not np.isfinite(self.fermi_energy):
            raise InputError(
                "The 'fermi_energy' parameter of ExtendedHuckel must be a finite energy in eV "
                f"or None. Got {self.fermi_energy!r}."
            )
        if isinstance(self.n_k, bool) or not isinstance(self.n_k, int) or self.n_k < 4:
            raise InputError(
                f"The 'n_k' parameter of ExtendedHuckel must be an integer >= 4. Got {self.n_k!r}."
            )
        if self.engine not in ENGINES:
            raise InputError(
                "The 'engine' parameter of ExtendedHuckel must be one of "
                f"{', '.join(ENGINES)}. Got {self.engine!r}."
            )
        if self.parameters not in PARAMETER_SETS:
            raise InputError(
                "The 'parameters' parameter of ExtendedHuckel must be one of "
                f"{', '.join(sorted(PARAMETER_SETS))}. Got {self.parameters!r}."
            )
        if self.engine != "vlab" and self.parameters != "yaehmop":
            raise InputError(
                f"ExtendedHuckel(engine={self.engine!r}) uses YAeHMOP's built-in parameters: "
                f"set parameters='yaehmop' or engine='vlab'. Got parameters={self.parameters!r}."
            )

    @property
    def identity(self) -> dict:
        """Calculator id, version and parameters, for the catalog and content hashes."""
        params = dataclasses.asdict(self)
        if self.engine == "vlab":
            elements = PARAMETER_SETS[self.parameters]
            values = {k: dataclasses.asdict(v) for k, v in sorted(elements.items())}
            params["values"] = json.loads(json.dumps(values))  # tuples -> lists, as stored
            params["backend"] = "vlab Slater-orbital EHT"
        else:
            import rdkit

            params["backend"] = f"rdkit {rdkit.__version__} (YAeHMOP)"
        return {"id": "eht-spd", "version": "2", "params": params}

    def transmission(self, atoms, energies) -> np.ndarray:
        """Transmission T(E) at ``energies`` (eV relative to the Fermi energy)."""
        energies = _energies(energies)
        h, s, left, right, e_f = self._junction(atoms)
        return _negf.transmission(h, s, energies + e_f, left, right, eta=self.eta)

    def electrode_fermi_energy(self, atoms) -> float:
        """The absolute Fermi energy (eV) that :meth:`transmission` uses for ``atoms``:
        ``fermi_energy`` if given, else that of the periodic left electrode.

        >>> from ase import Atoms
        >>> chain = Atoms("Au6", positions=[(0, 0, 2.885 * i) for i in range(6)])
        >>> chain.set_tags([1, 1, 0, 0, 2, 2])
        >>> chain.info["lead_period"] = 2.885
        >>> ExtendedHuckel(fermi_energy=-9.5).electrode_fermi_energy(chain)
        -9.5
        """
        return self._junction(atoms)[4]

    def matrices(self, atoms) -> tuple[np.ndarray, np.ndarray]:
        """Hamiltonian ``H`` (eV) and overlap ``S`` of ``atoms`` as a finite cluster: no
        electrodes attached (tags, ``lead_period`` and pbc are ignored), ``ORBITALS_PER_ATOM``
        orbitals per atom (6s, 6p, 5d for gold) in atom order.

        >>> from ase import Atoms
        >>> h, s = ExtendedHuckel().matrices(Atoms("Au2", positions=[(0, 0, 0), (0, 0, 2.9)]))
        >>> h.shape, bool(np.allclose(np.diag(s), 1.0)), bool(np.allclose(h, h.T))
        ((18, 18), True, True)
        """
        if len(atoms) == 0:
            raise InvalidStructureError("ExtendedHuckel.matrices got a structure with no atoms.")
        return self._matrices(atoms.get_chemical_symbols(), _finite_positions(atoms))

    def _junction(self, atoms):
        """H, S, lead blocks and absolute Fermi energy of a junction (electrodes padded)."""
        layers = lead_layers(atoms)
        symbols = [atoms.get_chemical_symbols()[i] for i in layers.order]
        positions = atoms.get_positions()[layers.order]
        # PLs per super-PL: the tapered interaction range must fit in one super-PL
        k = 1 if self.engine != "vlab" else max(1, int(np.ceil(TAPER[1] / layers.period - 1e-9)))
        syms, pos = _padded(layers, symbols, positions, k)
        h, s = self._matrices(syms, pos)
        left, right = _super_blocks(layers, len(syms), ORBITALS_PER_ATOM[syms[0]], k)
        _check_leads(h, left, right, k * layers.period)
        e_f = self._fermi(h, s, left, syms[: k * len(layers.left[0])])  # one super-PL
        return h, s, left, right, e_f

    def conductance(self, atoms) -> float:
        """Conductance G/G0 = T(E_F) (dimensionless, in units of G0 = 2e²/h)."""
        return float(self.transmission(atoms, [0.0])[0])

    def _matrices(self, symbols, positions):
        if self.engine == "vlab":
            table = PARAMETER_SETS[self.parameters]
            missing = sorted(set(symbols) - set(table))
            if missing:
                raise InvalidStructureError(
                    f"The ExtendedHuckel parameter set {self.parameters!r} covers "
                    f"{', '.join(sorted(table))}; got {missing}. Use engine='rdkit', "
                    "parameters='yaehmop' for Ag, Cu and Pt."
                )
            return huckel_matrices(table, symbols, positions, taper=TAPER)
        assembly = "pairs" if self.engine == "rdkit-pairs" else "molecule"
        return eht_matrices(symbols, positions, assembly=assembly)

    def _fermi(self, h, s, lead, symbols) -> float:
        if self.fermi_energy is not None:
            return float(self.fermi_energy)
        o, n = lead.outer, lead.inner
        n_el = sum(VALENCE_ELECTRONS[x] for x in symbols)
        blocks = (h[np.ix_(o, o)], h[np.ix_(o, n)], s[np.ix_(o, o)], s[np.ix_(o, n)])
        return _negf.lead_fermi_energy(*blocks, n_el, n_k=self.n_k)
