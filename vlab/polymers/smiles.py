"""Repeat-unit SMILES of homopolymers: parse, validate, canonicalise, build oligomers.

A homopolymer is written as the SMILES of one repeat unit with exactly two end markers,
``*`` or ``[*]`` (RDKit dummy atoms), each bonded to exactly one atom of the unit, e.g.
``*CC(*)c1ccccc1`` for polystyrene.

Translational equivalence
-------------------------
The same chain can be written with different repeat units:

* renumbered graphs, e.g. ``*CC(*)C`` and ``*C(C)C*`` (the same graph):
  :func:`canonical_repeat_unit` maps them to one canonical RDKit SMILES;
* cyclic shifts of the cut, e.g. ``*CCO*`` and ``*COC*`` (both poly(ethylene oxide)), and
  multiples of the period, e.g. ``*CC*`` and ``*CCCC*`` (both polyethylene, whose primitive
  unit is ``*C*``): these are
  different graphs, so :func:`canonical_repeat_unit` keeps them apart (it is a faithful
  canonical form of what was written). :func:`normalize_repeat_unit` additionally reduces
  the unit to its primitive period and picks, among all cuts of the backbone at acyclic
  bonds, the one whose canonical SMILES sorts first; it is the key to use when merging
  data of one chain written in different ways. It follows the shortest path between the
  two attachment atoms, so cuts inside backbone rings are not enumerated (they cannot be
  written with two single ``*`` bonds anyway).

Examples
--------
>>> canonical_repeat_unit("[*]CC([*])c1ccccc1")
'*CC(*)c1ccccc1'
>>> normalize_repeat_unit("*CCCC*"), normalize_repeat_unit("*COC*"), normalize_repeat_unit("*OCC*")
('*C*', '*CCO*', '*CCO*')
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rdkit import Chem, RDLogger

from vlab.errors import InvalidSMILESError

__all__ = [
    "MAX_HEAVY_ATOMS",
    "MAX_SMILES_LENGTH",
    "BadRows",
    "canonical_repeat_unit",
    "canonicalize_many",
    "is_valid_repeat_unit",
    "normalize_many",
    "normalize_repeat_unit",
    "oligomer",
    "parse_smiles",
    "repeat_unit_mol",
    "repeat_units",
]

RDLogger.DisableLog("rdApp.*")

_N_EXAMPLES = 5

MAX_SMILES_LENGTH = 2_000
"""Longest SMILES handed to RDKit (characters); longer input is refused before parsing."""
MAX_HEAVY_ATOMS = 1_000
"""Most heavy atoms of a parsed SMILES (RDKit crashes on chains of ~20,000 atoms)."""


def shorten(smiles: object, limit: int = 60) -> str:
    """``repr(smiles)`` on one line, the text cut after ``limit`` characters, for messages.

    >>> shorten("C" * 100, 4)
    "'CCCC'... (100 characters)"
    """
    if isinstance(smiles, str) and len(smiles) > limit:
        return f"{smiles[:limit]!r}... ({len(smiles):,} characters)"
    text = repr(smiles)
    return text if len(text) <= limit + 2 else f"{text[:limit]}..."


def _cut(smiles: object, limit: int = MAX_SMILES_LENGTH) -> str:
    text = str(smiles[: limit + 1] if isinstance(smiles, str) else smiles)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


# Molecules parsed in this process, as RDKit binaries (small, and rebuilt faster than a SMILES
# is parsed and sanitised): a design run reads its training units for the forward models, the
# fingerprints and the novelty check.
_PARSED: dict[str, bytes] = {}
_PARSED_MAX = 1 << 15


def _parse(smiles: object) -> tuple[Chem.Mol | None, str]:
    """``(mol, "")`` if RDKit parses ``smiles`` within the limits, else ``(None, reason)``.

    Valid molecules are kept per process (up to 32,768), so a SMILES seen before costs a
    rebuild from RDKit's binary form instead of a parse and sanitisation."""
    if not isinstance(smiles, str):
        return None, f"expected a string, got {type(smiles).__name__}"
    if len(smiles) > MAX_SMILES_LENGTH:
        return None, (
            f"it has {len(smiles):,} characters; at most {MAX_SMILES_LENGTH:,} (MAX_SMILES_LENGTH)"
        )
    bad = next((c for c in smiles.strip() if not c.isprintable() and c != " "), None)
    if bad is not None:
        return None, f"it has the control character {bad!r}"
    if not smiles.strip():
        return None, "it is empty"
    text = smiles.strip()
    known = _PARSED.get(text)
    if known is not None:
        return Chem.Mol(known), ""  # a new molecule each call: callers may edit theirs
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        return None, "RDKit cannot parse or sanitise it"
    heavy = mol.GetNumHeavyAtoms()
    if heavy > MAX_HEAVY_ATOMS:
        return None, f"it has {heavy:,} heavy atoms; at most {MAX_HEAVY_ATOMS:,} (MAX_HEAVY_ATOMS)"
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[text] = mol.ToBinary()
    return mol, ""


def parse_smiles(smiles: object) -> Chem.Mol:
    """Parse a user's SMILES into an RDKit molecule, within the limits, or raise.

    Every SMILES that comes from a user goes through here (or through :func:`repeat_unit_mol`,
    which calls it): strings longer than :data:`MAX_SMILES_LENGTH` or with control characters
    (a NUL byte) never reach RDKit, and molecules with more than :data:`MAX_HEAVY_ATOMS`
    heavy atoms are refused before any RDKit routine that could exhaust the stack.

    Raises
    ------
    InvalidSMILESError
        One line naming the SMILES (shortened) and the broken rule or limit.

    Examples
    --------
    >>> parse_smiles("CCO").GetNumAtoms()
    3
    >>> parse_smiles("C" * 5000)
    Traceback (most recent call last):
    ...
    vlab.errors.InvalidSMILESError: The SMILES 'CCCC...'... (5,000 characters) is not accepted:
    it has 5,000 characters; at most 2,000 (MAX_SMILES_LENGTH).
    """
    mol, why = _parse(smiles)
    if mol is None:
        raise InvalidSMILESError(f"The SMILES {shorten(smiles)} is not accepted: {why}.")
    return mol


@dataclass(frozen=True, kw_only=True)
class BadRows:
    """Report of the entries a bulk loader skipped.

    Attributes
    ----------
    count : int
        Number of skipped entries.
    indices : tuple of int
        Positions of the skipped entries in the input.
    examples : tuple of (int, str, str)
        Up to five ``(index, entry, reason)`` triples.
    """

    count: int = 0
    indices: tuple[int, ...] = ()
    examples: tuple[tuple[int, str, str], ...] = ()

    def __str__(self) -> str:
        shown = "; ".join(f"row {i} {s!r}: {why}" for i, s, why in self.examples)
        return f"{self.count} bad rows skipped" + (f" (e.g. {shown})" if shown else "")


def _fail(smiles: object, rule: str) -> InvalidSMILESError:
    return InvalidSMILESError(
        f"The repeat unit {shorten(smiles)} is not a valid polymer SMILES: {rule}. A repeat unit "
        "must be a parseable SMILES with exactly two end markers '*' (or '[*]'), each "
        "bonded to one atom, e.g. '*CC(*)c1ccccc1'."
    )


_STAR = Chem.MolFromSmarts("[#0]")


def _star_indices(mol: Chem.Mol) -> list[int]:
    """Indices of the dummy atoms (one substructure search, not a Python loop over atoms)."""
    return [m[0] for m in mol.GetSubstructMatches(_STAR, maxMatches=mol.GetNumAtoms() + 1)]


def _check(smiles: object) -> tuple[Chem.Mol | None, str]:
    """Return ``(mol, "")`` for a valid repeat unit, else ``(None, reason)``."""
    if isinstance(smiles, str) and "." in smiles and len(smiles) <= MAX_SMILES_LENGTH:
        return None, "it has several disconnected fragments ('.')"
    mol, why = _parse(smiles)
    if mol is None:
        return None, why
    stars = [mol.GetAtomWithIdx(i) for i in _star_indices(mol)]
    if len(stars) != 2:
        return None, f"wrong number of '*' end markers: got {len(stars)}, need 2"
    if mol.GetNumAtoms() < 3:
        return None, "it has no atom besides the two '*'"
    for atom in stars:
        if atom.GetDegree() != 1:
            return None, f"a '*' has {atom.GetDegree()} neighbours, need exactly 1"
        atom.SetIsotope(0)
        atom.SetAtomMapNum(0)
        atom.SetFormalCharge(0)
    return mol, ""


def repeat_unit_mol(smiles: str) -> Chem.Mol:
    """Parse a repeat unit into an RDKit molecule (two dummy atoms, atomic number 0).

    Raises
    ------
    InvalidSMILESError
        If ``smiles`` is not a valid repeat unit; the message names the broken rule.

    Examples
    --------
    >>> repeat_unit_mol("*CC*").GetNumAtoms()
    4
    """
    mol, why = _check(smiles)
    if mol is None:
        raise _fail(smiles, why)
    return mol


def repeat_units(smiles: object, where: str) -> list[str]:
    """``smiles``, a sequence of repeat-unit SMILES, as a list, each checked to be a valid
    repeat unit; ``where`` names the caller in the errors.

    Raises
    ------
    InputError
        If ``smiles`` is one string (not a sequence of them) or not a sequence at all.
    InvalidSMILESError
        For the first entry that is not a valid repeat unit (the message names it and why).

    Examples
    --------
    >>> repeat_units(("*CC*", "*CC(*)C"), "predict")
    ['*CC*', '*CC(*)C']
    >>> repeat_units("*CC*", "predict")
    Traceback (most recent call last):
    ...
    vlab.errors.InputError: predict takes a list of repeat-unit SMILES; got one string,
    '*CC*'. Give ['*CC*'] for one unit.
    """
    from vlab.errors import InputError

    if isinstance(smiles, (str, bytes)):
        text = smiles if isinstance(smiles, str) else smiles.decode(errors="replace")
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(
            f"{where} takes a list of repeat-unit SMILES; got one string, {shown!r}. Give "
            f"[{shown!r}] for one unit."
        )
    try:
        units = list(smiles)
    except TypeError:
        raise InputError(
            f"{where} takes a list of repeat-unit SMILES; got {type(smiles).__name__}."
        ) from None
    for unit in units:
        repeat_unit_mol(unit)  # raises, naming the unit and the broken rule
    return units


def canonical_repeat_unit(smiles: str) -> str:
    """Canonical RDKit SMILES of a repeat unit, with the end markers written ``*``.

    Parameters
    ----------
    smiles : str
        Repeat unit with exactly two ``*`` or ``[*]`` end markers.

    Returns
    -------
    str
        Canonical SMILES. Cyclic shifts and period multiples are *not* merged; see
        :func:`normalize_repeat_unit`.

    Raises
    ------
    InvalidSMILESError
        Not parseable, wrong number of ``*``, a ``*`` with more than one neighbour, empty.

    Examples
    --------
    >>> canonical_repeat_unit("C([*])C([*])C")
    '*CC(*)C'
    >>> canonical_repeat_unit("*CC")
    Traceback (most recent call last):
    ...
    vlab.errors.InvalidSMILESError: The repeat unit '*CC' is not a valid polymer SMILES:
    wrong number of '*' end markers: got 1, need 2. ...
    """
    return Chem.MolToSmiles(repeat_unit_mol(smiles))


def is_valid_repeat_unit(smiles: object) -> bool:
    """True if ``smiles`` is a valid repeat unit (no exception is raised or caught).

    Examples
    --------
    >>> is_valid_repeat_unit("*CC(*)C"), is_valid_repeat_unit("*C(*)(*)C"), is_valid_repeat_unit("")
    (True, False, False)
    """
    return _check(smiles)[0] is not None


def canonicalize_many(
    smiles_list: Iterable[object], *, normalize: bool = False
) -> tuple[list[str], BadRows]:
    """Canonicalise many repeat units, skipping and reporting the bad ones.

    Parameters
    ----------
    smiles_list : iterable of str
        Repeat units.
    normalize : bool, default False
        Use :func:`normalize_repeat_unit` (translation-invariant) instead of
        :func:`canonical_repeat_unit`.

    Returns
    -------
    canonical : list of str
        Canonical forms of the valid entries, in input order (bad entries left out).
    bad : BadRows
        Count, positions and a few examples with reasons of the skipped entries.

    Examples
    --------
    >>> good, bad = canonicalize_many(["[*]CC[*]", "C1CC1", "*CC(*)C"])
    >>> good, bad.count, bad.indices
    (['*CC*', '*CC(*)C'], 1, (1,))
    """
    good: list[str] = []
    indices: list[int] = []
    examples: list[tuple[int, str, str]] = []
    for i, smi in enumerate(smiles_list):
        mol, why = _check(smi)
        if mol is not None and normalize:
            mol = _normalized_mol(mol)
        if mol is None:
            indices.append(i)
            if len(examples) < _N_EXAMPLES:
                examples.append((i, _cut(smi), why))
            continue
        good.append(Chem.MolToSmiles(mol))
    return good, BadRows(count=len(indices), indices=tuple(indices), examples=tuple(examples))


# --- oligomers and translation-invariant normalisation -------------------------------


def _ends(mol: Chem.Mol) -> tuple[int, int, int, int]:
    """Indices ``(star_a, a, b, star_b)``: the two dummies and their neighbours."""
    sa, sb = _star_indices(mol)
    a = mol.GetAtomWithIdx(sa).GetNeighbors()[0].GetIdx()
    b = mol.GetAtomWithIdx(sb).GetNeighbors()[0].GetIdx()
    return sa, a, b, sb


def _chain(mol: Chem.Mol, n_units: int) -> Chem.RWMol:
    """Join ``n_units`` copies head to tail; the outer two dummies are kept."""
    mol = Chem.Mol(mol)
    Chem.Kekulize(mol, clearAromaticFlags=True)  # joined copies re-aromatise on sanitising
    sa, a, b, sb = _ends(mol)
    n = mol.GetNumAtoms()
    bond_type = mol.GetBondBetweenAtoms(b, sb).GetBondType()
    rw = Chem.RWMol(mol)
    for k in range(1, n_units):
        rw.InsertMol(mol)
        rw.AddBond((k - 1) * n + b, k * n + a, bond_type)
    for i in range(rw.GetNumAtoms()):
        rw.GetAtomWithIdx(i).SetIntProp("unit", i // n)
    dummies = sorted(((k - 1) * n + sb, k * n + sa) for k in range(1, n_units))
    for idx in sorted((i for pair in dummies for i in pair), reverse=True):
        rw.RemoveAtom(idx)
    return rw


def oligomer(smiles: str, n_units: int, *, cap: str = "H") -> Chem.Mol:
    """Linear oligomer of ``n_units`` repeat units as an RDKit molecule.

    Parameters
    ----------
    smiles : str
        Repeat unit.
    n_units : int
        Number of repeat units (>= 1).
    cap : {"H", "*"}, default "H"
        Replace the two outer end markers by hydrogen, or keep them as ``*``.

    Returns
    -------
    rdkit.Chem.Mol
        Sanitised molecule; each atom carries the integer property ``"unit"``, the 0-based
        index of the repeat unit it belongs to (``atom.GetIntProp("unit")``).

    Examples
    --------
    >>> tri = oligomer("*CC(*)C", 3)
    >>> Chem.MolToSmiles(tri), [a.GetIntProp("unit") for a in tri.GetAtoms()]
    ('CCCC(C)CC(C)C', [0, 0, 0, 1, 1, 1, 2, 2, 2])
    """
    if not isinstance(n_units, int) or n_units < 1:
        raise InvalidSMILESError(
            f"The 'n_units' parameter of oligomer must be >= 1. Got {n_units!r}."
        )
    if cap not in ("H", "*"):
        raise InvalidSMILESError(
            f"The 'cap' parameter of oligomer must be 'H' or '*'. Got {cap!r}."
        )
    rw = _chain(repeat_unit_mol(smiles), n_units)
    if cap == "H":
        stars = [i for i in range(rw.GetNumAtoms()) if rw.GetAtomWithIdx(i).GetAtomicNum() == 0]
        for idx in reversed(stars):
            rw.RemoveAtom(idx)
    mol = rw.GetMol()
    Chem.SanitizeMol(mol)
    return Chem.RemoveHs(mol) if cap == "H" else mol


def _linear_key(mol: Chem.Mol, n_units: int) -> str:
    """Canonical SMILES of ``n_units`` copies joined head to tail (outer ``*`` kept)."""
    chain = _chain(mol, n_units).GetMol()
    Chem.SanitizeMol(chain)
    return Chem.MolToSmiles(chain)


def _cuttable(mol: Chem.Mol) -> list[tuple[int, int]]:
    """Backbone bonds (shortest a-b path) that are single, acyclic cut positions."""
    _, a, b, _ = _ends(mol)
    path = Chem.GetShortestPath(mol, a, b) if a != b else (a,)
    out = []
    for u, v in itertools.pairwise(path):
        bond = mol.GetBondBetweenAtoms(u, v)
        if not bond.IsInRing() and bond.GetBondType() == Chem.BondType.SINGLE:
            out.append((u, v))
    return out


def _cut_piece(mol: Chem.Mol, bonds: list[tuple[int, int]], keep: int) -> Chem.Mol:
    """The fragment holding atom ``keep`` after cutting ``bonds`` (new ends are ``*``)."""
    idx = [mol.GetBondBetweenAtoms(u, v).GetIdx() for u, v in bonds]
    frag = Chem.FragmentOnBonds(mol, idx, addDummies=True, dummyLabels=[(0, 0)] * len(idx))
    mapping: list[tuple[int, ...]] = []
    pieces = Chem.GetMolFrags(frag, asMols=True, fragsMolAtomMapping=mapping)
    return next(p for p, atoms in zip(pieces, mapping) if keep in atoms)


def _n_heavy(mol: Chem.Mol) -> int:
    return mol.GetNumAtoms() - len(_star_indices(mol))


def _atom_keys(mol: Chem.Mol) -> list[tuple | None]:
    """Per atom: (element, hydrogens, aromatic, degree), or None for a dummy atom."""
    return [
        (x.GetAtomicNum(), x.GetTotalNumHs(), x.GetIsAromatic(), x.GetDegree())
        if x.GetAtomicNum()
        else None
        for x in map(mol.GetAtomWithIdx, range(mol.GetNumAtoms()))
    ]


def _composition(mol: Chem.Mol) -> Counter:
    return Counter(key for key in _atom_keys(mol) if key is not None)


def _primitive(mol: Chem.Mol) -> Chem.Mol:
    """Smallest unit whose repetition gives the same chain as ``mol``."""
    n_heavy = _n_heavy(mol)
    _, a, _, _ = _ends(mol)
    target = None
    keys = _atom_keys(mol)
    whole = Counter(key for key in keys if key is not None)
    atoms = [mol.GetAtomWithIdx(i) for i in range(mol.GetNumAtoms())]
    neighbours = [[x.GetIdx() for x in atom.GetNeighbors()] for atom in atoms]
    for u, v in _cuttable(mol):
        # the heavy atoms on a's side of the bridge u-v: the head's size and composition,
        # found on the graph before any molecule is cut
        side, todo = {a}, [a]
        while todo:
            i = todo.pop()
            for j in neighbours[i]:
                if j not in side and (i, j) != (u, v) and (i, j) != (v, u):
                    side.add(j)
                    todo.append(j)
        counts = Counter(keys[i] for i in side if keys[i] is not None)
        size = sum(counts.values())
        if size >= n_heavy or n_heavy % size:
            continue
        k = n_heavy // size
        if Counter({key: k * n for key, n in counts.items()}) != whole:
            continue
        head = _cut_piece(mol, [(u, v)], a)
        # head starts where mol starts, so mol == head^k exactly as linear graphs
        target = target or Chem.MolToSmiles(mol)
        if _linear_key(head, k) == target:
            return head
    return mol


def _shifts(mol: Chem.Mol) -> list[Chem.Mol]:
    """All cyclic shifts of the unit (cuts at acyclic single backbone bonds)."""
    n = mol.GetNumAtoms()
    sa, _, _, sb = _ends(mol)
    removed = (sb, n + sa)  # dummies that _chain removes from a dimer

    def at(i: int, copy: int) -> int:
        j = copy * n + i
        return j - sum(r < j for r in removed)

    dimer = _chain(mol, 2).GetMol()
    Chem.SanitizeMol(dimer)
    out = [mol]
    for u, v in _cuttable(mol):
        cuts = [(at(u, 0), at(v, 0)), (at(u, 1), at(v, 1))]
        out.append(_cut_piece(dimer, cuts, at(v, 0)))
    return out


def _normalized_mol(mol: Chem.Mol) -> Chem.Mol:
    return min(_shifts(_primitive(mol)), key=Chem.MolToSmiles)


def normalize_repeat_unit(smiles: str) -> str:
    """Translation-invariant canonical repeat unit (primitive period, canonical cut).

    Parameters
    ----------
    smiles : str
        Repeat unit with two end markers.

    Returns
    -------
    str
        Canonical SMILES of the primitive repeat unit, cut at the acyclic single backbone
        bond whose result sorts first. Equal for all ways of writing the same chain that
        differ by a cyclic shift or a multiple of the period.

    Examples
    --------
    >>> normalize_repeat_unit("*OCC*"), normalize_repeat_unit("*CCOCCO*")
    ('*CCO*', '*CCO*')
    """
    return Chem.MolToSmiles(_normalized_mol(repeat_unit_mol(smiles)))


# --- fast normalisation of many repeat units ----------------------------------------------


def _has_stereo(mol: Chem.Mol) -> bool:
    unspecified = Chem.ChiralType.CHI_UNSPECIFIED
    return any(a.GetChiralTag() != unspecified for a in mol.GetAtoms()) or any(
        b.GetStereo() != Chem.BondStereo.STEREONONE for b in mol.GetBonds()
    )


def _shift_smiles(mol: Chem.Mol) -> list[str]:
    """Canonical SMILES of all cyclic shifts of a unit, built from the unit itself.

    The shift cut at backbone bond ``u-v`` (path ``a ... u-v ... b``) is the unit with
    ``u-v`` removed, the two ends joined (``b-a``, bond type of the ``b-*`` bond) and the end
    markers moved to ``v`` and ``u``: the same graph as the piece that
    :func:`~vlab.polymers.smiles.normalize_repeat_unit` cuts out of a dimer. Only acyclic
    single bonds are cut and the joining bond is a bridge, so rings and aromaticity are
    unchanged and a ring perception is all the edited molecule needs.
    """
    sa, a, b, sb = _ends(mol)
    join = mol.GetBondBetweenAtoms(b, sb).GetBondType()
    out = [Chem.MolToSmiles(mol)]
    for u, v in _cuttable(mol):
        rw = Chem.RWMol(mol)
        for i, j in ((u, v), (a, sa), (b, sb)):
            rw.RemoveBond(i, j)
        rw.AddBond(b, a, join)
        rw.AddBond(v, sa, Chem.BondType.SINGLE)
        rw.AddBond(u, sb, Chem.BondType.SINGLE)
        rw.UpdatePropertyCache(strict=False)
        Chem.FastFindRings(rw)
        out.append(Chem.MolToSmiles(rw))
    return out


_NORMALIZED: dict[str, str] = {}  # canonical unit -> key
_NORMALIZED_MAX = 1 << 16


def _normalized_key(canonical: str, mol: Chem.Mol | None = None) -> str:
    """:func:`~vlab.polymers.smiles.normalize_repeat_unit` of a canonical repeat unit.

    Same result, about 3x cheaper: the primitive-period search is skipped when the counts
    of the atom types have no common divisor (the unit cannot be a repetition), and cyclic
    shifts are built by rewiring the unit (:func:`_shift_smiles`) instead of cutting a dimer.
    Units with stereo tags take the reference path. ``mol``: the unit already parsed (any
    atom order). Results are kept per process (up to 65,536 units).
    """
    key = _NORMALIZED.get(canonical)
    if key is not None:
        return key
    mol = repeat_unit_mol(canonical) if mol is None else mol
    if any(c in canonical for c in "@/\\") and _has_stereo(mol):
        key = normalize_repeat_unit(canonical)
    else:
        if math.gcd(*_composition(mol).values()) != 1:
            mol = _primitive(mol)
        key = min(_shift_smiles(mol))
    if len(_NORMALIZED) >= _NORMALIZED_MAX:
        _NORMALIZED.clear()
    _NORMALIZED[canonical] = key
    return key


_NORMALIZED_INPUT: dict[str, str] = {}  # a valid unit as given -> key


def _normalize_memo(smiles: str) -> str:
    """:func:`normalize_repeat_unit` of one unit on the fast path, kept per process by the
    string as given (featurisers see the same training units in every fit).

    Raises
    ------
    InvalidSMILESError
        As :func:`normalize_repeat_unit` does.
    """
    key = _NORMALIZED_INPUT.get(smiles) if isinstance(smiles, str) else None
    if key is None:
        mol, why = _check(smiles)
        if mol is None:
            raise _fail(smiles, why)
        key = _normalized_key(Chem.MolToSmiles(mol), mol)
        if len(_NORMALIZED_INPUT) >= _NORMALIZED_MAX:
            _NORMALIZED_INPUT.clear()
        _NORMALIZED_INPUT[smiles] = key
    return key


def normalize_many(smiles_list: Iterable[object]) -> tuple[list[str], BadRows]:
    """``canonicalize_many(smiles_list, normalize=True)``, fast for large tables.

    Each entry is validated and canonicalised (cheap); the translation-invariant
    normalisation then runs once per distinct canonical unit (memoised across calls) on a
    cheaper path that gives identical keys.

    Examples
    --------
    >>> normalize_many(["*OCC*", "[*]CCO[*]", "*CC", "*CCCC*"])[0]
    ['*CCO*', '*CCO*', '*C*']
    """
    good: list[str] = []
    indices: list[int] = []
    examples: list[tuple[int, str, str]] = []
    for i, smi in enumerate(smiles_list):
        mol, why = _check(smi)
        if mol is None:
            indices.append(i)
            if len(examples) < _N_EXAMPLES:
                examples.append((i, _cut(smi), why))
            continue
        good.append(_normalized_key(Chem.MolToSmiles(mol), mol))
    return good, BadRows(count=len(indices), indices=tuple(indices), examples=tuple(examples))
