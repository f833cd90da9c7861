"""Extended Hückel Hamiltonian and overlap of a metal cluster via RDKit's rdEHTTools (private).

RDKit wraps YAeHMOP. For gold it uses a 6s, 6p, 5d Slater basis: 9 orbitals per atom, listed
atom by atom in the order of the RDKit atoms (s, 3 p, 5 d). The matrices come back as the
upper triangle only, so they are symmetrised here. The Hamiltonian has no charge iteration:
every matrix element depends only on the two atoms involved (two-centre, Wolfsberg-Helmholz),
so the blocks of a principal layer are the same wherever that layer sits.
"""

from __future__ import annotations

import numpy as np

from vlab.errors import CalculationFailed, InputError, InvalidStructureError

__all__ = ["ASSEMBLIES", "ORBITALS_PER_ATOM", "PAIR_CUTOFF", "eht_matrices"]

#: Number of valence orbitals per atom of the elements supported here (s, p, d shells).
ORBITALS_PER_ATOM = {"Ag": 9, "Au": 9, "Cu": 9, "Pt": 9}
#: Ways to build H and S: one YAeHMOP run on the whole cluster, or one run per atom pair.
ASSEMBLIES = ("molecule", "pairs")
#: Å; beyond this distance the pair blocks are dropped (|S| < 1e-6 for Au beyond 8 Å).
PAIR_CUTOFF = 9.0


def _mol(numbers: np.ndarray, positions: np.ndarray):
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    rw = Chem.RWMol()
    for z in numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
    mol = rw.GetMol()
    conf = Chem.Conformer(len(numbers))
    for i, (x, y, z) in enumerate(positions):
        conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
    mol.AddConformer(conf, assignId=True)
    return mol


def _symmetrise(upper: np.ndarray) -> np.ndarray:
    upper = np.triu(np.asarray(upper, dtype=float))
    return upper + upper.T - np.diag(np.diag(upper))


def eht_matrices(
    symbols: list[str], positions: np.ndarray, *, assembly: str = "molecule"
) -> tuple[np.ndarray, np.ndarray]:
    """Return the extended Hückel ``H`` (eV) and ``S`` of a cluster, atom-major orbital order.

    ``assembly="molecule"`` runs YAeHMOP once on the whole cluster (it also diagonalises H,
    which costs ~N^3 and dominates). ``"pairs"`` uses that the matrix elements are two-centre:
    it runs YAeHMOP on every pair of atoms closer than :data:`PAIR_CUTOFF` and places the
    blocks, which gives the same matrices (to ~1e-7 eV) at a cost that grows like the number
    of pairs.

    Parameters
    ----------
    symbols : list of str
        Chemical symbols; every one must be a key of :data:`ORBITALS_PER_ATOM`.
    positions : ndarray, shape (n, 3)
        Cartesian positions in Å.

    Returns
    -------
    h, s : ndarray, shape (9 n, 9 n)
        Symmetric Hamiltonian (eV) and overlap matrices; orbitals ``9 i ... 9 i + 8`` belong
        to atom ``i``.
    """
    bad = sorted(set(symbols) - set(ORBITALS_PER_ATOM))
    if bad:
        allowed = ", ".join(sorted(ORBITALS_PER_ATOM))
        raise InvalidStructureError(
            f"The extended Hückel calculator supports the elements {allowed}. Got {bad}; "
            "use SBandTightBinding for other elements."
        )
    if assembly not in ASSEMBLIES:
        raise InputError(
            f"The 'assembly' parameter of eht_matrices must be one of {', '.join(ASSEMBLIES)}. "
            f"Got {assembly!r}."
        )
    if assembly == "pairs":
        return _pairwise(list(symbols), np.asarray(positions, dtype=float))
    return _run(list(symbols), np.asarray(positions, dtype=float))


def _run(symbols: list[str], positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from rdkit.Chem import GetPeriodicTable, rdEHTTools

    table = GetPeriodicTable()
    numbers = np.array([table.GetAtomicNumber(s) for s in symbols])
    ok, res = rdEHTTools.RunMol(_mol(numbers, positions), keepOverlapAndHamiltonianMatrices=True)
    n_orb = sum(ORBITALS_PER_ATOM[s] for s in symbols)
    if not ok or res.numOrbitals != n_orb:
        raise CalculationFailed(
            f"RDKit's extended Hückel calculation (YAeHMOP) failed for {len(symbols)} atoms "
            f"(success={ok}, orbitals={getattr(res, 'numOrbitals', None)}, expected {n_orb}). "
            "Check for overlapping atoms."
        )
    h = _symmetrise(res.GetHamiltonian())
    s = _symmetrise(res.GetOverlapMatrix())
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(s))):
        raise CalculationFailed("RDKit's extended Hückel matrices contain NaN or inf values.")
    return h, s


def _pairwise(symbols: list[str], positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norb = 9  # every supported element has an s, p, d valence shell
    n = len(symbols)
    h = np.zeros((n * norb, n * norb))
    s = np.eye(n * norb)
    onsite = {x: _run([x], np.zeros((1, 3)))[0] for x in set(symbols)}
    for i, x in enumerate(symbols):
        h[i * norb : (i + 1) * norb, i * norb : (i + 1) * norb] = onsite[x]
    dist = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    for i, j in zip(*np.nonzero(np.triu(dist < PAIR_CUTOFF, k=1)), strict=True):
        hp, sp = _run([symbols[i], symbols[j]], positions[[i, j]])
        bi, bj = slice(i * norb, (i + 1) * norb), slice(j * norb, (j + 1) * norb)
        h[bi, bj], h[bj, bi] = hp[:norb, norb:], hp[norb:, :norb]
        s[bi, bj], s[bj, bi] = sp[:norb, norb:], sp[norb:, :norb]
    return h, s
