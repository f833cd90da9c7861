"""Store a campaign's input items as per-item variables, and hash them stably.

Items are dicts with the same keys. Each key becomes a variable (or a group of variables):

- numbers, booleans and strings: one per-item variable ``KEY``;
- numpy arrays of one fixed shape: ``KEY`` with dims ``KEY_dim0, ...``;
- ase.Atoms (any sizes): the ragged structure encoding of :mod:`vlab.catalog.structures`
  under the prefix ``KEY_`` (``KEY_positions``, ``KEY_numbers``, ...).

Examples
--------
>>> import numpy as np
>>> enc = encode_items([{"x": 1, "v": np.zeros(2)}, {"x": 2, "v": np.ones(2)}], {"x": ("K", "x")})
>>> sorted(enc), enc["x"][0].units, enc["v"][1].shape
(['v', 'x'], 'K', (2, 2))
>>> item_fingerprint({"x": 1}) == item_fingerprint({"x": 1})
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase import Atoms

from vlab.catalog.schema import Variable
from vlab.catalog.structures import decode_structures, encode_structures, structure_variables
from vlab.errors import InputError

__all__ = ["decode_item_structures", "encode_items", "item_fingerprint"]


def item_fingerprint(item: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-able form of an item (ase.Atoms become their encoded arrays)."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, Atoms):
            arrays = encode_structures([value])
            out[key] = {k: (v[0].tolist() if k != "info" else str(v[0])) for k, v in arrays.items()}
        elif isinstance(value, np.ndarray):
            out[key] = {"dtype": value.dtype.str, "data": value.tolist()}
        else:
            out[key] = value
    return out


def _column(key: str, values: list, attrs: Mapping[str, tuple[str, str]]):
    units, long_name = attrs.get(key, ("1", key))
    first = values[0]
    if isinstance(first, Atoms):
        arrays = encode_structures(values)
        variables = structure_variables(arrays["numbers"].shape[1], prefix=f"{key}_")
        return {f"{key}_{k}": (variables[f"{key}_{k}"], v) for k, v in arrays.items()}
    if isinstance(first, np.ndarray):
        stacked = np.stack(values)
        dims = tuple(f"{key}_dim{i}" for i in range(first.ndim))
        var = Variable(
            dims=dims, shape=first.shape, dtype=stacked.dtype.name, units=units, long_name=long_name
        )
        return {key: (var, stacked)}
    if isinstance(first, str):
        return {
            key: (
                Variable(dtype="str", units=units, long_name=long_name),
                np.array(values, dtype=object),
            )
        }
    column = np.asarray(values)
    if column.dtype.kind not in "biuf":
        raise InputError(
            f"Input key {key!r} holds {type(first).__name__} values; items may hold numbers, "
            "strings, numpy arrays or ase.Atoms."
        )
    return {key: (Variable(dtype=column.dtype.name, units=units, long_name=long_name), column)}


def encode_items(
    items: Sequence[Mapping[str, Any]], attrs: Mapping[str, tuple[str, str]] | None = None
) -> dict[str, tuple[Variable, np.ndarray]]:
    """Per-item input variables ``{name: (Variable, array)}`` of ``items``."""
    if not items:
        return {}
    keys = list(items[0])
    for i, item in enumerate(items):
        if list(item) != keys:
            raise InputError(f"Input item {i} has keys {list(item)}; every item needs {keys}.")
    out: dict[str, tuple[Variable, np.ndarray]] = {}
    for key in keys:
        out.update(_column(key, [item[key] for item in items], attrs or {}))
    return out


def decode_item_structures(ds: Any, key: str) -> list[Atoms]:
    """The ase.Atoms stored under ``key`` (prefix ``KEY_``) of a store's items."""
    return decode_structures(ds, prefix=f"{key}_")
