"""A catalog store as training data: the repeat units and values of its finished rows.

Models learn from named catalog stores (the ingested ``polymers-*`` stores, or any campaign store
with a ``smiles`` variable and the property): :func:`training_rows` reads the finished rows that
have a value, and :func:`training_digest` is the SHA-256 of exactly what a model learns from,
recorded with the model so that a store re-ingested under the same name is not taken for the
one a model learned from.

Examples
--------
>>> smiles, values = training_rows("polymers-radonpy_pi1070", "thermal_conductivity")
>>> len(smiles) == len(values) > 500, bool(np.isfinite(values).all())
(True, True)
>>> len(training_digest("polymers-radonpy_pi1070", "thermal_conductivity"))
64
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from vlab.errors import CatalogError

__all__ = [
    "TrainingSet",
    "training_digest",
    "training_properties",
    "training_rows",
    "training_set",
    "training_store",
    "training_units",
]


def training_store(store: Any, variable: str, *, where: str = "", error=CatalogError):
    """Catalog store ``store`` (done rows, lazily), checked to hold ``smiles`` and ``variable``.

    ``where`` names the input that gave the store in the messages (e.g. ``"params.training.Tg"``);
    ``error`` is the exception class raised (a :class:`~vlab.errors.CatalogError` by default).
    """
    from vlab.catalog.index import list_entries, open
    from vlab.catalog.query import select
    from vlab.errors import did_you_mean

    said = f" ({where})" if where else ""
    known = sorted(e.name for e in list_entries())
    if not isinstance(store, str) or store not in known:
        raise error(
            f"{where or 'training store'} names the store {store!r}, which is not in the "
            f"catalog; known stores: {', '.join(known) or 'none'}." + did_you_mean(store, known)
        )
    ds = open(store)
    numeric = sorted(training_properties(ds))
    if "smiles" not in ds:
        raise error(
            f"the catalog store {store!r}{said} has no variable 'smiles' (the repeat units a "
            "model learns from)."
        )
    if variable not in numeric:
        what = (
            f"has no property {variable!r}"
            if variable not in ds
            else f"holds {variable!r}, but not as a property (a number per row that is not "
            "the engine's bookkeeping)"
        )
        raise error(
            f"the catalog store {store!r}{said} {what}; its properties: "
            f"{', '.join(numeric) or 'none'}." + did_you_mean(variable, numeric)
        )
    return select(ds, status="done") if "status" in ds else ds


def training_properties(ds: Any) -> list[str]:
    """The variables of a store a model can learn: numbers per row that are not the engine's
    bookkeeping (status, duration, checksum, ...)."""
    from vlab.catalog.schema import LEDGER_VARIABLES

    return [
        str(name)
        for name, var in ds.data_vars.items()
        if var.dtype.kind in "fiu" and var.ndim == 1 and name not in LEDGER_VARIABLES
    ]


def _rows(store: str, variable: str, **kw) -> tuple[list[str], np.ndarray, str]:
    """Repeat units and values of the done rows; rows that ingest marked as not valid repeat
    units (a non-empty ``problem``) get no value (NaN), so no model learns them."""
    ds = training_store(store, variable, **kw)
    ds = ds[["smiles", variable, *(["problem"] if "problem" in ds else [])]].load()
    units = str(ds[variable].attrs.get("units", "") or "")
    values = np.asarray(ds[variable].values, float).copy()
    if "problem" in ds:
        values[np.array([str(p) != "" for p in ds["problem"].values], dtype=bool)] = np.nan
    return [str(v) for v in ds["smiles"].values], values, units


def training_rows(store: str, variable: str, **kw) -> tuple[list[str], np.ndarray]:
    """Repeat units and values of ``store``'s finished rows where ``variable`` is not NaN.

    Keywords as :func:`training_store`. The order is the store's row order.
    """
    smiles, values, _ = _rows(store, variable, **kw)
    keep = np.isfinite(values)
    return [s for s, k in zip(smiles, keep, strict=True) if k], values[keep]


def training_units(store: str, variable: str, **kw) -> str:
    """The ``units`` attribute of ``variable`` in ``store`` ("" when the store gives none)."""
    return _rows(store, variable, **kw)[2]


def _digest(smiles: list[str], values: np.ndarray) -> str:
    from vlab._utils import content_hash

    return content_hash(smiles, [None if not np.isfinite(v) else float(v) for v in values])


class TrainingSet(NamedTuple):
    """What :func:`training_set` reads: rows with a value, their units and the store's digest."""

    smiles: list[str]
    values: np.ndarray
    units: str
    sha256: str


def training_set(store: str, variable: str, **kw) -> TrainingSet:
    """:func:`training_rows`, :func:`training_units` and :func:`training_digest` in one read."""
    smiles, values, units = _rows(store, variable, **kw)
    keep = np.isfinite(values)
    rows = [s for s, k in zip(smiles, keep, strict=True) if k]
    return TrainingSet(rows, values[keep], units, _digest(smiles, values))


def training_digest(store: str, variable: str, **kw) -> str:
    """SHA-256 of what a model of ``variable`` learns from catalog store ``store``.

    The canonical JSON of its done rows' ``smiles`` and ``variable`` values (NaN as null):
    equal for equal training data, whatever the store's layout or chunking.
    """
    smiles, values, _ = _rows(store, variable, **kw)
    return _digest(smiles, values)
