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


_ALLOWED = "numbers, strings, numpy arrays (one shape per key) or ase.Atoms"


def _sort_of(value: Any) -> str:
    """What a value is, as the columns of a store see it."""
    if isinstance(value, Atoms):
        return "structure"
    if isinstance(value, np.ndarray):
        return "array"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return "number"
    return type(value).__name__


def _check_values(key: str, values: list) -> None:
    """One sort of value per key, of a sort a store holds; a clear error naming the item."""
    types = set(map(type, values))
    if len(types) == 1 and next(iter(types)) in (int, float, str):
        return  # the common case, at C speed for millions of items
    sorts = [_sort_of(v) for v in values]
    known = ("structure", "array", "text", "number")
    odd = next((i for i, s in enumerate(sorts) if s not in known or s != sorts[0]), None)
    if odd is None:
        if sorts[0] == "array":
            shapes = {np.shape(v) for v in values}
            if len(shapes) > 1:
                odd = next(i for i, v in enumerate(values) if np.shape(v) != np.shape(values[0]))
                raise InputError(
                    f"Input key {key!r}: item {odd} holds an array of shape {np.shape(values[odd])}"
                    f", item 0 one of shape {np.shape(values[0])}; the arrays of one key need "
                    "one shape."
                )
        return
    what = sorts[odd] if sorts[odd] in known else f"a {sorts[odd]}"
    if sorts[odd] in known:  # a known sort, mixed with another
        raise InputError(
            f"Input key {key!r}: item {odd} holds {what} ({_cut(values[odd])}), item 0 "
            f"{sorts[0]}; the items of one key need one sort of value: {_ALLOWED}."
        )
    raise InputError(
        f"Input key {key!r}: item {odd} holds {what} ({_cut(values[odd])}); items may hold "
        f"{_ALLOWED}."
    )


def _cut(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _column(key: str, values: list, attrs: Mapping[str, tuple[str, str]]):
    units, long_name = attrs.get(key, ("1", key))
    _check_values(key, values)
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
    if column.dtype.kind not in "biuf":  # numbers, but beyond what 64 bits hold
        big = next((v for v in values if isinstance(v, int) and abs(v) >= 2**63), values[0])
        raise InputError(
            f"Input key {key!r} holds the number {_cut(big)}, beyond the range of 64-bit "
            "numbers that a store holds (|x| < 2**63 for integers)."
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
