"""Reports on a designed library: novelty, nearest training neighbours, diversity, pictures.

Similarities are Tanimoto coefficients of Morgan fingerprints (RDKit
``rdFingerprintGenerator``, radius 2, 2048 bits by default; the ``*`` end markers are
ordinary dummy atoms) computed with ``DataStructs.BulkTanimotoSimilarity``.

Examples
--------
>>> train = ["*CC(*)c1ccccc1", "*CC(*)C", "*CCO*"]
>>> nn, sim = nearest_neighbours(["*CC(*)c1ccc(C)cc1"], train)
>>> nn, bool(0.3 < sim[0] < 1)
(['*CC(*)c1ccccc1'], True)
>>> novel_mask(["*CC(*)C", "*CCCC*"], ["*C(C)C*", "*CC*"]).tolist()
[False, False]
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import Draw, rdCoordGen, rdFingerprintGenerator

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.smiles import _normalize_memo, _parse, canonical_repeat_unit, shorten

__all__ = ["draw_grid", "mean_pairwise_tanimoto", "nearest_neighbours", "novel_mask"]


def _fingerprints(smiles: Sequence[str], radius: int, n_bits: int) -> list:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    mols = [_parse(s)[0] for s in smiles]  # within the SMILES limits
    bad = [s for s, m in zip(smiles, mols) if m is None]
    if bad:
        raise InvalidSMILESError(
            f"Cannot compute fingerprints of {', '.join(shorten(b) for b in bad[:3])}: not "
            "valid SMILES within the limits (vlab.polymers.smiles.parse_smiles says why)."
        )
    return [gen.GetFingerprint(m) for m in mols]


@lru_cache(maxsize=2)
def _training_fingerprints(training: tuple[str, ...], radius: int, n_bits: int) -> list:
    """:func:`_fingerprints` of a training set, kept per process: every library drawn in a
    process is compared with the same training set."""
    return _fingerprints(training, radius, n_bits)


def nearest_neighbours(
    candidates: Sequence[str],
    training: Sequence[str],
    *,
    radius: int = 2,
    n_bits: int = 2048,
) -> tuple[list[str], np.ndarray]:
    """Most similar training repeat unit of each candidate, and its Tanimoto similarity.

    Parameters
    ----------
    candidates, training : sequence of str
        SMILES; ``training`` must not be empty.
    radius, n_bits : int
        Morgan fingerprint radius and length.

    Returns
    -------
    neighbours : list of str
        Nearest training SMILES per candidate.
    similarity : numpy.ndarray
        Tanimoto similarity in [0, 1] per candidate.
    """
    if not len(training):
        raise InputError("nearest_neighbours needs a non-empty training set. Got 0 SMILES.")
    try:
        train_fp = _training_fingerprints(tuple(training), radius, n_bits)
    except TypeError:  # an unhashable entry, not a SMILES: _fingerprints names it
        train_fp = _fingerprints(training, radius, n_bits)
    best, sims = [], []
    for fp in _fingerprints(candidates, radius, n_bits):
        row = np.asarray(DataStructs.BulkTanimotoSimilarity(fp, train_fp))
        j = int(row.argmax())
        best.append(training[j])
        sims.append(row[j])
    return best, np.array(sims, dtype=float)


def mean_pairwise_tanimoto(smiles: Sequence[str], *, radius: int = 2, n_bits: int = 2048) -> float:
    """Mean Tanimoto similarity over all distinct pairs (lower: a more diverse library).

    Examples
    --------
    >>> mean_pairwise_tanimoto(["*CC*", "*CC*"])
    1.0
    """
    if len(smiles) < 2:
        raise InputError(f"mean_pairwise_tanimoto needs at least two SMILES. Got {len(smiles)}.")
    fps = _fingerprints(smiles, radius, n_bits)
    total = sum(
        sum(DataStructs.BulkTanimotoSimilarity(fps[i], fps[i + 1 :])) for i in range(len(fps) - 1)
    )
    return float(total / (len(fps) * (len(fps) - 1) / 2))


def _key(smiles: str, normalize: bool) -> str | None:
    """Comparison key of a repeat unit (``None`` if invalid)."""
    try:
        return _normalize_memo(smiles) if normalize else canonical_repeat_unit(smiles)
    except InvalidSMILESError:
        return None
    except Chem.rdchem.MolSanitizeException:  # a shifted unit RDKit cannot kekulise
        return canonical_repeat_unit(smiles)


@lru_cache(maxsize=65536)
def _reduced_formula(smiles: str) -> tuple | None:
    """Element counts (H included, ``*`` excluded) divided by their gcd; ``None`` if invalid.

    Kept per process: the training set is the same in every library drawn.
    """
    mol = _parse(smiles)[0]
    if mol is None:
        return None
    counts: dict[str, int] = {}
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum():
            counts[atom.GetSymbol()] = counts.get(atom.GetSymbol(), 0) + 1
            counts["H"] = counts.get("H", 0) + atom.GetTotalNumHs()
    g = math.gcd(*counts.values()) or 1
    return tuple(sorted((k, v // g) for k, v in counts.items()))


def novel_mask(
    candidates: Sequence[str], training: Sequence[str], *, normalize: bool = True
) -> np.ndarray:
    """True for candidates that are not in the training data.

    Parameters
    ----------
    candidates, training : sequence of str
        Repeat units; invalid training entries are ignored.
    normalize : bool, default True
        Compare by :func:`~vlab.polymers.smiles.normalize_repeat_unit`, so that a
        renumbered, cyclically shifted or doubled repeat unit of a training polymer is *not*
        novel. Only pairs with the same reduced formula (a necessary condition) are
        normalised, which keeps this fast. False: compare canonical SMILES (a shifted
        writing of a known polymer then counts as novel).
    """
    if not normalize:
        known = {_key(s, False) for s in training} - {None}
        return np.array([_key(s, False) not in known for s in candidates], dtype=bool)
    cand_formula = [_reduced_formula(s) for s in candidates]
    wanted = set(cand_formula)
    train_formula = [_reduced_formula(s) for s in training]
    known = {_key(s, True) for s, f in zip(training, train_formula) if f in wanted} - {None}
    seen_formula = set(train_formula)
    pairs = zip(candidates, cand_formula)
    return np.array([f not in seen_formula or _key(s, True) not in known for s, f in pairs])


def draw_grid(
    smiles: Sequence[str],
    path: str | os.PathLike[str],
    *,
    legends: Sequence[str] | None = None,
    title: str | None = None,
    mols_per_row: int = 5,
    size: tuple[int, int] = (260, 220),
) -> Path:
    """Draw repeat units as a PNG grid with captions and a title (RDKit + matplotlib).

    Each molecule is laid out by RDKit's CoordGen and drawn by RDKit (``Draw.MolToImage``);
    captions and the title are matplotlib text, so Greek letters and ``±`` render (e.g.
    ``"λ 0.34 ± 0.05 W/(m K)"``).

    Parameters
    ----------
    smiles : sequence of str
        Repeat units to draw, e.g. the ten best candidates.
    path : path-like
        Output PNG file.
    legends : sequence of str, optional
        One caption per molecule (e.g. predicted properties with units); may hold newlines.
    title : str, optional
        Figure title, e.g. the ranking criterion.
    mols_per_row : int, default 5
        Grid width.
    size : (int, int), default (260, 220)
        Pixel size of each molecule drawing.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    InputError
        No SMILES, or a number of legends different from the number of SMILES.
    InvalidSMILESError
        A SMILES RDKit cannot parse.
    """
    from matplotlib.figure import Figure

    if not len(smiles):
        raise InputError("draw_grid needs at least one SMILES to draw. Got none.")
    if legends is not None and len(legends) != len(smiles):
        raise InputError(
            f"draw_grid needs one legend per SMILES. Got {len(legends)} legends for "
            f"{len(smiles)} SMILES."
        )
    mols = [_parse(s)[0] for s in smiles]  # within the SMILES limits
    if any(m is None for m in mols):
        raise InvalidSMILESError(
            f"draw_grid cannot parse {[s for s, m in zip(smiles, mols) if m is None][:3]!r}."
        )
    cols = min(mols_per_row, len(mols))
    rows = math.ceil(len(mols) / cols)
    dpi, caption_px, title_px = 100, 52, 70 if title else 0
    fig = Figure(
        figsize=(cols * size[0] / dpi, (rows * (size[1] + caption_px) + title_px) / dpi), dpi=dpi
    )
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(mols):
            rdCoordGen.AddCoords(mols[k])  # lays out macrocycles and bridged rings legibly
            ax.imshow(Draw.MolToImage(mols[k], size=size))
            if legends is not None:
                ax.set_title(legends[k], fontsize=7.5, y=-0.02, va="top", pad=0)
    top = 1 - title_px / (fig.get_figheight() * dpi)
    fig.subplots_adjust(
        left=0,
        right=1,
        bottom=caption_px / (rows * (size[1] + caption_px)),
        top=top,
        wspace=0.02,
        hspace=caption_px / size[1],
    )
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 8 / (fig.get_figheight() * dpi), va="top")
    path = Path(path)
    fig.savefig(path, dpi=dpi, facecolor="white")
    return path
