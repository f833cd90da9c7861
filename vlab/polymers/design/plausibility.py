"""Is a designed repeat unit plausible? Synthetic accessibility and ring-strain rules.

The sampler knows grammar, not chemistry: it can propose strained cages (cubane-like
systems, fused cyclobutanes, bridgehead double bonds) that a forward model happily scores.
Two checks flag them:

* **SA score** - the synthetic-accessibility score of Ertl & Schuffenhauer (2009, J.
  Cheminform. 1:8), RDKit Contrib ``SA_Score``: from 1 (easy: common fragments, no complexity
  penalties) to 10 (very hard); most catalogue compounds score 2-4, and 6 is the usual
  "hard to make" cut. It is computed on the hydrogen-capped repeat unit (the ``*`` ends
  replaced by H), so the end markers do not count as unusual atoms.
* **Strain rules** (:func:`strain_flags`), on the repeat unit's ring systems (RDKit ring
  info; aromatic rings of 5 or more atoms never count as strained, while a 3- or 4-membered
  ring counts even when RDKit calls it aromatic, as in a cyclobutadiene fused into an
  annulene):

  ==================  =====================================================================
  flag                rule
  ==================  =====================================================================
  ``ring3``           a 3-membered ring (cyclopropane, epoxide, aziridine: ~27 kcal/mol)
  ``ring4``           a 4-membered ring (cyclobutane, oxetane, β-lactam: ~26 kcal/mol)
  ``fused_small``     a 3- or 4-membered ring sharing a bond with another ring
                      (bicyclobutane, prismane, cubane)
  ``bridged_small``   a bridgehead atom (bridged, not merely fused, ring system) in a
                      ring of 3-4 atoms
  ``bridged_arene``   a bridgehead atom in an aromatic ring: a bridge spans the ring
                      (a meta- or para-cyclophane), which bends the ring out of plane
                      ([2.2]paracyclophane: ~31 kcal/mol; short bridges across a benzene
                      are not isolable). Fused aromatics (naphthalene, perylene) are not
                      bridged; none of the public polymers vlab learns from has one
  ``spiro_small``     a spiro atom in a ring of 3-4 atoms (spiropentane)
  ``anti_bredt``      a non-aromatic double bond at a bridgehead atom whose smallest ring
                      has fewer than 8 atoms (Bredt's rule)
  ``strained_pi``     a triple bond or an allene (cumulated C=C=C) in a ring of fewer than
                      8 atoms
  ``fused_medium``    a medium ring (8-11 atoms, at least 6 of them carbon) fused to another
                      ring: transannular strain and a hard ring closure (a benzannulated
                      cyclooctadienedione, say). None of the public polymers vlab learns
                      from has one; a pendant cyclooctyl group or a silsesquioxane cage
                      is not flagged
  ==================  =====================================================================

A candidate is **plausible** when it has no strain flag and its SA score is at most
``max_sa`` (default :data:`MAX_SA_SCORE` = 6).

Examples
--------
>>> p = assess("*CC(*)c1ccccc1")  # polystyrene
>>> p.plausible, p.strain_flags, bool(1 <= p.sa_score < 2)
(True, (), True)
>>> assess("*C12C3C4C1C5C2C3C45*").strain_flags  # cubane-1,4-diyl
('ring4', 'fused_small')
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rdkit import Chem, RDConfig
from rdkit.Chem import rdMolDescriptors

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.smiles import oligomer, repeat_unit_mol

__all__ = ["MAX_SA_SCORE", "STRAIN_FLAGS", "Plausibility", "assess", "sa_score", "strain_flags"]

MAX_SA_SCORE = 6.0
"""SA scores above this count as hard to synthesise (Ertl & Schuffenhauer's scale, 1-10)."""

STRAIN_FLAGS = (
    "ring3",
    "ring4",
    "fused_small",
    "bridged_small",
    "bridged_arene",
    "spiro_small",
    "anti_bredt",
    "strained_pi",
    "fused_medium",
)
"""Every flag :func:`strain_flags` can return, in the order it returns them."""


@lru_cache(maxsize=1)
def _sascorer():
    """RDKit Contrib's ``sascorer`` module, loaded from its file (no ``sys.path`` change)."""
    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    if not os.path.isfile(path):
        raise ImportError(
            f"RDKit's Contrib SA_Score is missing ({path}); install an RDKit that ships "
            "Contrib (the rdkit wheels from PyPI do)."
        )
    spec = importlib.util.spec_from_file_location("sascorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unit(smiles: str) -> Chem.Mol:
    try:
        return repeat_unit_mol(smiles)
    except InvalidSMILESError:
        raise
    except Exception as err:  # RDKit sanitisation errors
        raise InvalidSMILESError(f"Cannot read the repeat unit {smiles!r}: {err}") from err


def sa_score(smiles: str) -> float:
    """Synthetic-accessibility score of a repeat unit, from 1 (easy) to 10 (very hard).

    Parameters
    ----------
    smiles : str
        Repeat unit with two ``*`` ends; scored with the ends replaced by hydrogen.

    Returns
    -------
    float
        Ertl-Schuffenhauer SA score in [1, 10] (dimensionless).

    Raises
    ------
    InvalidSMILESError
        If ``smiles`` is not a valid repeat unit.

    Examples
    --------
    >>> sa_score("*CC(*)c1ccccc1"), round(sa_score("*CC(*)C(=O)OC"), 2)  # PS, PMA
    (1.0, 1.95)
    """
    _unit(smiles)
    capped = oligomer(smiles, 1, cap="H")
    return float(_sascorer().calculateScore(capped))


def _small_rings(rings) -> list[frozenset[int]]:
    return [frozenset(r) for r in rings if len(r) <= 4]


def _bridgeheads(mol: Chem.Mol) -> set[int]:
    """Atoms shared by two SSSR rings that have at least three atoms in common (bridged)."""
    rings = [set(r) for r in mol.GetRingInfo().AtomRings()]
    heads: set[int] = set()
    for i, a in enumerate(rings):
        for b in rings[i + 1 :]:
            common = a & b
            if len(common) >= 3:
                heads.update(x for x in common if _ring_neighbours(mol, x, a | b) >= 3)
    return heads


def _ring_neighbours(mol: Chem.Mol, atom: int, ring_atoms: set[int]) -> int:
    return sum(n.GetIdx() in ring_atoms for n in mol.GetAtomWithIdx(atom).GetNeighbors())


def strain_flags(smiles: str) -> tuple[str, ...]:
    """Ring-strain flags of a repeat unit (see the module docstring for the rules).

    Parameters
    ----------
    smiles : str
        Repeat unit with two ``*`` ends.

    Returns
    -------
    tuple of str
        The flags raised, in the order of :data:`STRAIN_FLAGS`; empty when none.

    Raises
    ------
    InvalidSMILESError
        If ``smiles`` is not a valid repeat unit.

    Examples
    --------
    >>> strain_flags("*CC(*)C1CC1"), strain_flags("*c1ccc(C(=O)Nc2ccc(N*)cc2)cc1")
    (('ring3',), ())
    >>> strain_flags("*C1=C2CCC1CC2*")  # a bridgehead double bond in norbornene
    ('anti_bredt',)
    >>> strain_flags("*N1C(=O)c2cc(c(=O)n(*)c(=O)c2)C1=O")  # a bridge across a benzene ring
    ('bridged_arene',)
    """
    mol = _unit(smiles)
    info = mol.GetRingInfo()
    atom_rings = [r for r in info.AtomRings() if len(r) <= 4 or not _aromatic(mol, r)]
    sizes = {len(r) for r in atom_rings}
    small = _small_rings(atom_rings)
    heads = _bridgeheads(mol)
    spiro = set(_spiro_atoms(mol))
    found = {
        "ring3": 3 in sizes,
        "ring4": 4 in sizes,
        "fused_small": any(_shares_bond(r, info) for r in small),
        "bridged_small": any(r & heads for r in small),
        "bridged_arene": any(mol.GetAtomWithIdx(i).GetIsAromatic() for i in heads),
        "spiro_small": any(r & spiro for r in small),
        "anti_bredt": _anti_bredt(mol, heads),
        "strained_pi": _strained_pi(mol),
        "fused_medium": _fused_medium(mol, info),
    }
    return tuple(flag for flag in STRAIN_FLAGS if found[flag])


def _fused_medium(mol: Chem.Mol, info) -> bool:
    """True if a ring of 8-11 atoms, at least 6 of them carbon, shares a bond with another."""
    for ring in info.AtomRings():
        carbons = sum(mol.GetAtomWithIdx(i).GetAtomicNum() == 6 for i in ring)
        if 8 <= len(ring) <= 11 and carbons >= 6 and _shares_bond(frozenset(ring), info):
            return True
    return False


def _aromatic(mol: Chem.Mol, ring: Sequence[int]) -> bool:
    return all(mol.GetAtomWithIdx(i).GetIsAromatic() for i in ring)


def _shares_bond(ring: frozenset[int], info) -> bool:
    """True if another ring holds two adjacent atoms of ``ring`` (a fused or bridged ring)."""
    others = [set(r) for r in info.AtomRings() if frozenset(r) != ring]
    return any(len(ring & o) >= 2 for o in others)


def _spiro_atoms(mol: Chem.Mol) -> list[int]:
    if not rdMolDescriptors.CalcNumSpiroAtoms(mol):
        return []
    rings = [set(r) for r in mol.GetRingInfo().AtomRings()]
    return [
        a.GetIdx()
        for a in mol.GetAtoms()
        if sum(a.GetIdx() in r for r in rings) >= 2
        and all(len(r & s) <= 1 for r in rings if a.GetIdx() in r for s in rings if s is not r)
    ]


def _anti_bredt(mol: Chem.Mol, heads: set[int]) -> bool:
    info = mol.GetRingInfo()
    for bond in mol.GetBonds():
        if bond.GetBondType() != Chem.BondType.DOUBLE or bond.GetIsAromatic():
            continue
        for atom in (bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()):
            if atom in heads and info.MinAtomRingSize(atom) < 8:
                return True
    return False


def _strained_pi(mol: Chem.Mol) -> bool:
    info = mol.GetRingInfo()
    for atom in mol.GetAtoms():
        size = info.MinAtomRingSize(atom.GetIdx())
        if not size or size >= 8:
            continue
        bonds = [b.GetBondType() for b in atom.GetBonds()]
        if Chem.BondType.TRIPLE in bonds or bonds.count(Chem.BondType.DOUBLE) >= 2:
            return True
    return False


@dataclass(frozen=True, kw_only=True)
class Plausibility:
    """Synthesizability and strain verdict of one repeat unit.

    Attributes
    ----------
    sa_score : float
        SA score, 1 (easy) to 10 (very hard); NaN if it could not be computed.
    strain_flags : tuple of str
        Raised strain rules (:data:`STRAIN_FLAGS`).
    max_sa : float
        The SA threshold used for :attr:`plausible`.
    """

    sa_score: float
    strain_flags: tuple[str, ...]
    max_sa: float = MAX_SA_SCORE

    @property
    def plausible(self) -> bool:
        """No strain flag and an SA score of at most ``max_sa``."""
        return (
            not self.strain_flags
            and math.isfinite(self.sa_score)
            and (self.sa_score <= self.max_sa)
        )

    @property
    def reason(self) -> str:
        """Why the unit is implausible (``""`` if it is plausible), e.g. ``"ring4; SA 6.8"``."""
        parts = list(self.strain_flags)
        if not (math.isfinite(self.sa_score) and self.sa_score <= self.max_sa):
            parts.append(f"SA {self.sa_score:.1f} > {self.max_sa:g}")
        return "; ".join(parts)


def assess(smiles: str, *, max_sa: float = MAX_SA_SCORE) -> Plausibility:
    """SA score and strain flags of a repeat unit.

    Parameters
    ----------
    smiles : str
        Repeat unit with two ``*`` ends.
    max_sa : float, default :data:`MAX_SA_SCORE`
        Highest SA score (1-10) that counts as plausible.

    Returns
    -------
    Plausibility

    Raises
    ------
    InputError
        If ``max_sa`` is not a number in [1, 10].
    InvalidSMILESError
        If ``smiles`` is not a valid repeat unit.
    """
    if not isinstance(max_sa, int | float) or not 1 <= max_sa <= 10:
        raise InputError(
            f"The 'max_sa' parameter of assess must be a number in [1, 10] (the SA scale). "
            f"Got {max_sa!r}."
        )
    return Plausibility(sa_score=sa_score(smiles), strain_flags=strain_flags(smiles), max_sa=max_sa)
