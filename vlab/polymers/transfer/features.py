"""Input features of the transfer learners: count fingerprints and descriptors of repeat units."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vlab.errors import InputError
from vlab.polymers.features import MorganCounts, RDKitDescriptors

__all__ = ["descriptor_fill", "featurize", "signed_log1p", "split_by_unit"]


def signed_log1p(X) -> np.ndarray:
    """``sign(x) log(1 + |x|)`` elementwise: tames count and descriptor scales.

    Examples
    --------
    >>> signed_log1p([[0.0, np.e - 1, -(np.e - 1)]]).round(6).tolist()
    [[0.0, 1.0, -1.0]]
    """
    X = np.asarray(X, dtype=float)
    return np.sign(X) * np.log1p(np.abs(X))


def featurize(
    smiles: Sequence[str],
    *,
    n_bits: int = 1024,
    normalized: bool = False,
    kind: str = "repeat_unit",
    fill=None,
):
    """Count Morgan fingerprints (radius 2) and RDKit descriptors of repeat units.

    Parameters
    ----------
    smiles : sequence of str
        Repeat units with two ``*`` (or molecules with ``kind="molecule"``).
    n_bits : int, default 1024
        Length of the Morgan count vector.
    normalized : bool, default False
        True if the units are already primitive (as returned by the loaders with
        ``normalize=True``): skips the costly second normalisation.
    kind : {"repeat_unit", "molecule"}, default "repeat_unit"
        Ordinary molecules (small-molecule source data) get the same columns: Morgan
        counts over all their atoms and the descriptors of the molecule (see
        :mod:`vlab.polymers.features` for how this compares with repeat units).
    fill : array_like, optional
        Values of non-finite descriptors (:func:`descriptor_fill` of the training units), so
        that a row does not depend on the others; default: the medians of these rows.

    Returns
    -------
    ndarray, shape (n, n_bits + n_descriptors)
        Raw features (invalid units give rows of NaN); apply :func:`signed_log1p` for
        learning.

    Examples
    --------
    >>> featurize(["*CC*", "*CC(*)C"], n_bits=64).shape[0]
    2
    >>> featurize(["CCC"], n_bits=64, kind="molecule").shape == featurize(["*CC*"], n_bits=64).shape
    True
    """
    if isinstance(smiles, (str, bytes)):
        raise InputError(
            f"featurize takes a list of SMILES; got one string, {smiles[:60]!r}. Give "
            f"[{smiles[:60]!r}] for one."
        )
    opts = {"normalize": not normalized, "on_error": "nan", "kind": kind}
    morgan = MorganCounts(n_bits=n_bits, **opts).fit_transform(list(smiles))
    desc = RDKitDescriptors(**opts, fill_values=fill).fit_transform(list(smiles))
    return np.hstack([morgan, desc])


def descriptor_fill(smiles: Sequence[str], *, normalized: bool = False) -> np.ndarray:
    """The values :func:`featurize` puts in place of non-finite descriptors of ``smiles``
    (their column medians): give them as ``fill`` when featurising new units for a model
    trained on ``smiles``."""
    opts = {"normalize": not normalized, "on_error": "nan"}
    return RDKitDescriptors(**opts).fit(list(smiles)).fill_values_


def split_by_unit(n: int, *, source_fraction: float = 2 / 3, rng: np.random.Generator):
    """Random split of ``n`` unique repeat units into source and target-pool indices."""
    if not 0 < source_fraction < 1:
        raise InputError(
            f"The 'source_fraction' parameter of split_by_unit must be in (0, 1). "
            f"Got {source_fraction!r}."
        )
    perm = rng.permutation(n)
    cut = round(source_fraction * n)
    return np.sort(perm[:cut]), np.sort(perm[cut:])
