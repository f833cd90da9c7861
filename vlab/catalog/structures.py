"""Ragged encoding of atomic structures in fixed-shape arrays.

Structures of different sizes are padded to ``max_atoms``:

============  ==========================  =====================================
array         shape, dtype                content
============  ==========================  =====================================
``n_atoms``   (n,) int32                  number of atoms of each structure
``numbers``   (n, max_atoms) int16        atomic numbers, 0 in the padding
``positions`` (n, max_atoms, 3) float64   Cartesian positions in Å, NaN padding
``tags``      (n, max_atoms) int16        ASE tags, 0 in the padding
``cell``      (n, 3, 3) float64           cell vectors in Å
``pbc``       (n, 3) bool                 periodic boundary conditions
``info``      (n,) str                    JSON of ``atoms.info`` (JSON-able values)
============  ==========================  =====================================

Positions are kept in float64, so decoding gives back *identical* ase.Atoms.

Examples
--------
>>> from ase import Atoms
>>> a = Atoms("Au2", positions=[[0, 0, 0], [0, 0, 2.9]], tags=[1, 2], info={"lead_period": 2.9})
>>> b = Atoms("Au", positions=[[0.1, 0.2, 0.3]])
>>> arrays = encode_structures([a, b])
>>> arrays["positions"].shape
(2, 2, 3)
>>> back = decode_structures(arrays)
>>> back[0] == a and back[1] == b and back[0].info == a.info
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms

from vlab.catalog.schema import Variable
from vlab.errors import InputError, InvalidStructureError

__all__ = [
    "decode_snapshots",
    "decode_structures",
    "encode_structures",
    "structure_variables",
]

FIELDS = ("n_atoms", "numbers", "positions", "tags", "cell", "pbc", "info")


def structure_variables(max_atoms: int, *, prefix: str = "", lead_dims: tuple = ()) -> dict:
    """Variables (with units) that hold structures padded to ``max_atoms`` atoms.

    ``lead_dims`` are extra leading ``(name, size)`` pairs, e.g. ``(("snapshot", 170),)``
    for the snapshots of a break-junction trace.
    """
    names = tuple(d for d, _ in lead_dims)
    sizes = tuple(int(s) for _, s in lead_dims)
    atom = (*names, "atom")
    return {
        f"{prefix}n_atoms": Variable(dims=names, shape=sizes, dtype="int32", long_name="atoms"),
        f"{prefix}numbers": Variable(
            dims=atom, shape=(*sizes, max_atoms), dtype="int16", long_name="atomic number"
        ),
        f"{prefix}positions": Variable(
            dims=(*atom, "xyz"),
            shape=(*sizes, max_atoms, 3),
            units="angstrom",
            long_name="Cartesian atomic positions",
        ),
        f"{prefix}tags": Variable(
            dims=atom,
            shape=(*sizes, max_atoms),
            dtype="int16",
            long_name="ASE tags (1 left electrode, 2 right, 0 device)",
        ),
        f"{prefix}cell": Variable(
            dims=(*names, "cell_vector", "xyz"),
            shape=(*sizes, 3, 3),
            units="angstrom",
            long_name="cell vectors",
        ),
        f"{prefix}pbc": Variable(
            dims=(*names, "xyz"),
            shape=(*sizes, 3),
            dtype="bool",
            long_name="periodic boundary conditions",
        ),
        f"{prefix}info": Variable(
            dims=names, shape=sizes, dtype="str", long_name="JSON of atoms.info"
        ),
    }


def _info_json(atoms: Atoms, index: int) -> str:
    try:
        return json.dumps(atoms.info, sort_keys=True)
    except TypeError as err:
        raise InvalidStructureError(
            f"Structure {index} has atoms.info values that are not JSON-serialisable ({err}); "
            "only numbers, strings, lists and dicts can be stored."
        ) from None


def encode_structures(structures: Sequence[Atoms], *, max_atoms: int | None = None) -> dict:
    """Encode a sequence of ase.Atoms as padded arrays (see the module docstring)."""
    n = len(structures)
    sizes = np.array([len(a) for a in structures], dtype=np.int32)
    width = int(sizes.max(initial=0)) if max_atoms is None else int(max_atoms)
    if sizes.size and sizes.max() > width:
        raise InvalidStructureError(
            f"A structure has {int(sizes.max())} atoms but max_atoms is {width}."
        )
    out = {
        "n_atoms": sizes,
        "numbers": np.zeros((n, width), np.int16),
        "positions": np.full((n, width, 3), np.nan),
        "tags": np.zeros((n, width), np.int16),
        "cell": np.zeros((n, 3, 3)),
        "pbc": np.zeros((n, 3), bool),
        "info": np.array([_info_json(a, i) for i, a in enumerate(structures)], dtype=object),
    }
    for i, atoms in enumerate(structures):
        k = len(atoms)
        out["numbers"][i, :k] = atoms.numbers
        out["positions"][i, :k] = atoms.positions
        out["tags"][i, :k] = atoms.get_tags()
        out["cell"][i] = atoms.cell.array
        out["pbc"][i] = atoms.pbc
    return out


def _structure_prefix(arrays: Mapping[str, np.ndarray]) -> str:
    names = [str(name) for name in arrays]
    candidates = sorted(n[: -len("n_atoms")] for n in names if n.endswith("n_atoms"))
    complete = [p for p in candidates if all(f"{p}{f}" in arrays for f in FIELDS)]
    if len(complete) == 1:
        return complete[0]
    if not complete:
        raise InputError(
            "decode_structures found no encoded structures: it needs the variables "
            f"{', '.join(FIELDS)} (with a common prefix such as 'structure_'); "
            f"got {', '.join(names) or 'none'}."
        )
    raise InputError(
        f"decode_structures found several encoded structures (prefixes {complete}); "
        "choose one with prefix=..."
    )


def decode_structures(
    arrays: Mapping[str, np.ndarray], *, prefix: str | None = None
) -> list[Atoms]:
    """Decode padded arrays (numpy, or xarray variables) back into ase.Atoms.

    Parameters
    ----------
    arrays : mapping or xarray.Dataset
        The variables written by :func:`encode_structures` (e.g. a campaign store's
        ``structure_*`` variables, or a selection of them).
    prefix : str, optional
        The variables' common prefix (``"structure_"`` in campaign stores). By default it is
        found from the names: the one prefix for which all the fields are present.

    Raises
    ------
    InputError
        If no complete set of structure variables is present, or several are and ``prefix``
        does not choose one.
    """
    if prefix is None:
        prefix = _structure_prefix(arrays)
    missing = [f"{prefix}{f}" for f in FIELDS if f"{prefix}{f}" not in arrays]
    if missing:
        raise InputError(
            f"decode_structures with prefix={prefix!r} needs the variables {missing}, "
            f"which are missing; present: {', '.join(str(n) for n in arrays)}."
        )
    get = {f: np.asarray(arrays[f"{prefix}{f}"]) for f in FIELDS}
    structures = []
    for i, k in enumerate(get["n_atoms"].reshape(-1)):
        k = int(k)
        idx = np.unravel_index(i, get["n_atoms"].shape)
        atoms = Atoms(
            numbers=get["numbers"][idx][:k],
            positions=get["positions"][idx][:k],
            tags=get["tags"][idx][:k],
            cell=get["cell"][idx],
            pbc=get["pbc"][idx],
        )
        text = str(get["info"][idx])
        atoms.info.update(json.loads(text) if text else {})
        structures.append(atoms)
    return structures


def decode_snapshots(trace: Mapping[str, np.ndarray], *, stride: int = 1) -> list[Atoms]:
    """The snapshots of one stored break-junction MD trace as ase.Atoms.

    Parameters
    ----------
    trace : mapping or xarray.Dataset
        One item of a ``break-junction-md`` store: ``n_snapshots``, ``positions`` (snapshot,
        atom, xyz; Å), ``cells`` (snapshot, 3, 3; Å), ``numbers``, ``tags`` and
        ``lead_period`` (Å).
    stride : int
        Keep every ``stride``-th snapshot, starting with the first.

    Returns
    -------
    list of ase.Atoms
        Snapshots 0, stride, 2 stride, ... below ``n_snapshots``: positions in float64, no
        periodicity, ``info["lead_period"]`` set.

    Examples
    --------
    >>> trace = {"n_snapshots": 2, "positions": np.zeros((3, 1, 3), np.float32),
    ...          "cells": np.zeros((3, 3, 3)), "numbers": [79], "tags": [0], "lead_period": 2.9}
    >>> [len(a) for a in decode_snapshots(trace)], decode_snapshots(trace)[0].info
    ([1, 1], {'lead_period': 2.9})
    """
    numbers, tags = np.asarray(trace["numbers"]), np.asarray(trace["tags"])
    positions, cells = np.asarray(trace["positions"]), np.asarray(trace["cells"])
    period = float(trace["lead_period"])
    out = []
    for k in range(0, int(trace["n_snapshots"]), stride):
        atoms = Atoms(
            numbers=numbers,
            positions=positions[k].astype(float),
            cell=cells[k],
            tags=tags,
            pbc=False,
        )
        atoms.info["lead_period"] = period
        out.append(atoms)
    return out
