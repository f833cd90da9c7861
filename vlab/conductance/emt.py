"""Effective-medium theory with every atom pair at once: ASE's EMT, vectorised.

:class:`VectorEMT` computes the same energies, forces and stress as
:class:`ase.calculators.emt.EMT` (Jacobsen, Stoltze and Nørskov, Surf. Sci. 366, 394 (1996);
ASE's parameter table and its default cutoff, ``asap_cutoff=False``), equal to rounding. ASE's
implementation loops over the atoms in Python; this one finds all pairs within the cutoff in one
call (a k-d tree for a structure without periodic directions, ASE's neighbour list otherwise;
kept while no atom has moved far) and evaluates every term as an array operation: the EMT of
the break-junction MD on machines without asap3 (``benchmarks/emt.py`` compares the three).
"""

from __future__ import annotations

from math import log, sqrt
from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.calculators.emt import beta
from ase.calculators.emt import parameters as _ASE_PARAMETERS
from ase.data import chemical_symbols
from ase.units import Bohr

from vlab.errors import InputError

__all__ = ["VectorEMT"]


def _cutoff() -> tuple[float, float, float]:
    """``(rc, rc_list, acut)`` of ASE's EMT: the logistic cutoff set by the largest s0 of the
    table (midpoint between the 3rd and 4th fcc neighbours, 1e-4 at the 4th)."""
    r1nn = beta * max(p[1] for p in _ASE_PARAMETERS.values()) * Bohr
    rc = r1nn * 0.5 * (sqrt(3.0) + 2.0)
    acut = log(1.0 / 1e-4 - 1.0) / (2.0 * r1nn - rc)
    return rc, rc + 0.5, acut


class VectorEMT(Calculator):
    """ASE's effective-medium potential (same parameters, cutoff and results), vectorised.

    Supports the elements of ASE's EMT table (Al, Cu, Ag, Au, Ni, Pd, Pt, and the
    not-for-serious-use H, C, N, O). Energies are per atom with ASE's convention (the
    cohesive energy E0 subtracted); stress needs a cell with three lattice vectors.

    Examples
    --------
    >>> from ase.cluster import Octahedron
    >>> from ase.calculators.emt import EMT
    >>> atoms = Octahedron("Au", 4)
    >>> atoms.calc = VectorEMT()
    >>> mine = atoms.get_forces()
    >>> atoms.calc = EMT()
    >>> bool(abs(mine - atoms.get_forces()).max() < 1e-10)
    True
    """

    implemented_properties: ClassVar[list[str]] = [
        "energy",
        "free_energy",
        "energies",
        "forces",
        "stress",
    ]
    nolabel = True
    skin = 0.3
    """Extra reach (Å) of the stored candidate pairs; they are searched again after a move of
    more than half of it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rc, self.rc_list, self.acut = _cutoff()
        self._numbers: np.ndarray | None = None
        self._candidates: dict | None = None

    # ------------------------------------------------------------------ parameters per atom
    def _setup(self, numbers: np.ndarray) -> None:
        unknown = sorted({chemical_symbols[z] for z in numbers} - set(_ASE_PARAMETERS))
        if unknown:
            raise InputError(
                f"VectorEMT has no parameters for {', '.join(unknown)}; it supports "
                f"{', '.join(_ASE_PARAMETERS)} (ASE's EMT table)."
            )
        table = np.array([_ASE_PARAMETERS[chemical_symbols[z]] for z in numbers], dtype=float)
        table = table.reshape(len(numbers), 7)
        e0, s0, v0, eta2, kappa, lam, n0 = table.T
        s0, eta2, kappa = s0 * Bohr, eta2 / Bohr, kappa / Bohr
        shells = np.array([12.0, 6.0, 24.0])  # 1st, 2nd, 3rd fcc neighbours
        r = beta * s0[:, None] * np.sqrt([1.0, 2.0, 3.0])
        x = shells * (1.0 / (1.0 + np.exp(self.acut * (r - self.rc)))) / 12.0
        rnn = beta * s0[:, None]
        gamma1 = (x * np.exp(-eta2[:, None] * (r - rnn))).sum(axis=1)
        gamma2 = (x * np.exp(-kappa[:, None] / beta * (r - rnn))).sum(axis=1)
        self._numbers = numbers.copy()
        self._one_element = bool(len(numbers)) and bool(np.all(numbers == numbers[0]))
        self._p = {
            "E0": e0,
            "s0": s0,
            "V0": v0,
            "eta2": eta2,
            "kappa": kappa,
            "lambda": lam / Bohr,
            "n0": n0 / Bohr**3,
            "inv12gamma1": 1.0 / (12.0 * gamma1),
            "neghalfv0overgamma2": -0.5 * v0 / gamma2,
        }

    def _pairs(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every pair closer than the cutoff once: ``i, j, d = r_j - r_i, |d|``.

        A pair appears in one order only (``i < j``, or for an atom and its own periodic image
        the image with the first nonzero cell shift positive); the terms of both atoms come from
        it.

        The candidate pairs (within the cutoff plus a skin of :attr:`skin` Å) are searched again
        only when an atom has moved by more than half the skin or the cell or periodicity
        changed, as ASE's neighbour list does.
        """
        positions = atoms.positions
        cache = self._candidates
        if (
            cache is None
            or len(cache["positions"]) != len(positions)
            or not np.array_equal(cache["cell"], atoms.cell.array)
            or not np.array_equal(cache["pbc"], atoms.pbc)
            or np.einsum("ij,ij->i", moved := positions - cache["positions"], moved).max(
                initial=0.0
            )
            > (0.5 * self.skin) ** 2
        ):
            reach = self.rc_list + self.skin
            if not atoms.pbc.any():
                from scipy.spatial import cKDTree

                pairs = cKDTree(positions).query_pairs(reach, output_type="ndarray")
                i, j = pairs[:, 0], pairs[:, 1]  # i < j
                offsets = None
            else:
                from ase.neighborlist import neighbor_list

                i, j, shifts = neighbor_list("ijS", atoms, reach)
                lead = shifts[np.arange(len(shifts)), np.argmax(shifts != 0, axis=1)]
                once = (i < j) | ((i == j) & (lead > 0))
                i, j, offsets = i[once], j[once], shifts[once] @ atoms.cell.array
            cache = self._candidates = {
                "positions": positions.copy(),
                "cell": atoms.cell.array.copy(),
                "pbc": atoms.pbc.copy(),
                "i": i,
                "j": j,
                "offsets": offsets,
            }
        i, j = cache["i"], cache["j"]
        d = positions[j] - positions[i]
        if cache["offsets"] is not None:
            d += cache["offsets"]
        r = np.sqrt(np.einsum("ij,ij->i", d, d))
        keep = r < self.rc_list
        return i[keep], j[keep], d[keep], r[keep]

    def check_state(self, atoms, tol=1e-15):
        """What changed since the last calculation: ASE's check, with exact comparisons.

        ASE compares every array with a tolerance (``numpy.isclose``), which costs as much as
        a force call here; an exact comparison reports at least every change ASE reports.
        """
        old = self.atoms
        if old is None:
            return list(all_changes)
        changes = [
            name
            for name, a, b in (
                ("cell", old.cell.array, atoms.cell.array),
                ("pbc", old.pbc, atoms.pbc),
            )
            if not np.array_equal(a, b)
        ]
        watched = set(all_changes) - {"cell", "pbc"}
        changes += sorted(watched & (set(old.arrays) ^ set(atoms.arrays)))
        for name in sorted(watched & set(old.arrays) & set(atoms.arrays)):
            if not np.array_equal(old.arrays[name], atoms.arrays[name]):
                changes.append(name)
        return changes

    # ------------------------------------------------------------------ the calculation
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        numbers = atoms.get_atomic_numbers()
        if self._numbers is None or not np.array_equal(numbers, self._numbers):
            self._setup(numbers)
        p, n = self._p, len(atoms)
        i, j, d, r = self._pairs(atoms)

        w = 1.0 / (1.0 + np.exp(self.acut * (r - self.rc)))
        dwdroverw = self.acut * (w - 1.0)
        if self._one_element:  # both atoms' terms of a pair are equal
            eta2i = eta2j = p["eta2"][0]
            kappai = kappaj = p["kappa"][0]
            dsigma1s = dsigma1o = np.exp(-eta2i * (r - beta * p["s0"][0])) * w
            dsigma2s = dsigma2o = np.exp(-kappai * (r / beta - p["s0"][0])) * w
        else:
            chi = p["n0"][j] / p["n0"][i]
            s0i, s0j = p["s0"][i], p["s0"][j]
            eta2i, eta2j = p["eta2"][i], p["eta2"][j]
            kappai, kappaj = p["kappa"][i], p["kappa"][j]
            dsigma1s = np.exp(-eta2j * (r - beta * s0j)) * chi * w
            dsigma1o = np.exp(-eta2i * (r - beta * s0i)) / chi * w
            dsigma2s = np.exp(-kappaj * (r / beta - s0j)) * chi * w
            dsigma2o = np.exp(-kappai * (r / beta - s0i)) / chi * w

        def per_atom(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            """Sum of the pair values ``a`` on atoms ``i`` and ``b`` on atoms ``j``."""
            # (a bincount without pairs is of integers)
            out = np.bincount(i, weights=a, minlength=n) + np.bincount(j, weights=b, minlength=n)
            return out.astype(float)

        # E_c and the second term of E_AS, per atom with neighbours
        energies = np.zeros(n)
        deds = np.zeros(n)
        sigma1 = per_atom(dsigma1s, dsigma1o)
        has = sigma1 > 0.0
        e0, lam = p["E0"][has], p["lambda"][has]
        eta2, kappa, v0 = p["eta2"][has], p["kappa"][has], p["V0"][has]
        ds = -np.log(sigma1[has] * p["inv12gamma1"][has]) / (beta * eta2)
        lds = lam * ds
        exp_lds = np.exp(-lds)
        six_v0 = 6.0 * v0 * np.exp(-kappa * ds)
        energies[has] = e0 * (1.0 + lds) * exp_lds + six_v0
        deds[has] = (-e0 * lam * lds * exp_lds - kappa * six_v0) / (-beta * eta2 * sigma1[has])

        # the first term of E_AS (pair sum) and the forces of both terms
        es = p["neghalfv0overgamma2"][i] * dsigma2s
        eo = p["neghalfv0overgamma2"][j] * dsigma2o
        half = 0.5 * (es + eo)
        energies += per_atom(half, half)
        dedr = es * (dwdroverw - kappaj / beta) + eo * (dwdroverw - kappai / beta)
        dedr += deds[i] * dsigma1s * (dwdroverw - eta2j)
        dedr += deds[j] * dsigma1o * (dwdroverw - eta2i)
        f = (dedr / r)[:, None] * d
        forces = np.stack([per_atom(f[:, k], -f[:, k]) for k in range(3)], axis=1)

        energies -= p["E0"]
        energy = float(energies.sum())
        self.results.update(energy=energy, free_energy=energy, energies=energies, forces=forces)
        if atoms.cell.rank == 3:
            stress = d.T @ f
            stress = 0.5 * (stress + stress.T) / atoms.get_volume()
            self.results["stress"] = stress.flat[[0, 4, 8, 5, 2, 1]]
        elif "stress" in properties:
            raise PropertyNotImplementedError("VectorEMT gives a stress only for a 3D cell")
