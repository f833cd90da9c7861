"""What every vlab store holds: variable descriptions, ledger layout, status codes.

A vlab store is a zarr v3 group written through xarray with one leading dimension,
``item``, chunked so that one Dask task writes one chunk. Beside the inputs and outputs
of the campaign kind it holds the *ledger*, one entry per item:

=============  =======  ==============================================================
variable       dtype    meaning
=============  =======  ==============================================================
``status``     int8     0 pending, 1 done, 2 failed (see :class:`Status`)
``input_hash`` str      SHA-256 of (inputs, kind, kind version, parameters)
``duration``   float32  wall time of the evaluation in s (NaN when not run here)
``worker``     str      Dask worker address (or ``local``/``cache:STORE``) that made it
``error``      str      error text of a failed item, empty otherwise
``checksum``   uint64   checksum of the item's status, hash, inputs and outputs
                        (0: none recorded; see :mod:`vlab.catalog.integrity`)
=============  =======  ==============================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from vlab.errors import InputError

__all__ = ["ITEM_DIM", "LEDGER_VARIABLES", "SCHEMA_VERSION", "Status", "Variable"]

SCHEMA_VERSION = 1
ITEM_DIM = "item"


class Status(enum.IntEnum):
    """Status of one item in the ledger."""

    PENDING = 0
    DONE = 1
    FAILED = 2


@dataclass(frozen=True, kw_only=True)
class Variable:
    """Description of one per-item variable of a store.

    Parameters
    ----------
    dims : tuple of str
        Dimensions after the leading ``item`` dimension (empty for a scalar per item).
    shape : tuple of int
        Sizes of ``dims``.
    dtype : str
        numpy dtype string (``"float64"``, ``"int16"``, ``"str"`` for variable-length text, ...).
    units : str
        CF-style units (``"1"`` for dimensionless, ``"G0"``, ``"angstrom"``, ``"K"``, ...).
    long_name : str
        Human-readable description.

    Examples
    --------
    >>> Variable(dims=(), shape=(), dtype="float64", units="G0", long_name="conductance").fill
    nan
    """

    dims: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()
    dtype: str = "float64"
    units: str = "1"
    long_name: str = ""

    def __post_init__(self) -> None:
        if len(self.dims) != len(self.shape):
            raise InputError(
                f"A Variable needs one size per dimension; got dims={self.dims!r}, "
                f"shape={self.shape!r}."
            )
        if any(int(n) < 0 for n in self.shape):
            raise InputError(f"Variable sizes must be >= 0; got shape={self.shape!r}.")

    @property
    def is_text(self) -> bool:
        return self.dtype in ("str", "object")

    @property
    def fill(self):
        """Value of an item not (yet) written: NaN, 0, False or ''."""
        if self.is_text:
            return ""
        kind = np.dtype(self.dtype).kind
        return {"f": np.nan, "c": np.nan, "b": False}.get(kind, 0)

    def attrs(self) -> dict[str, str]:
        return {"units": self.units, "long_name": self.long_name}


LEDGER_VARIABLES: dict[str, Variable] = {
    "status": Variable(
        dtype="int8", units="1", long_name="item status: 0 pending, 1 done, 2 failed"
    ),
    "input_hash": Variable(
        dtype="str", units="1", long_name="SHA-256 of inputs, kind and parameters"
    ),
    "duration": Variable(dtype="float32", units="s", long_name="wall time of the evaluation"),
    "worker": Variable(dtype="str", units="1", long_name="worker that evaluated the item"),
    "error": Variable(dtype="str", units="1", long_name="error text of a failed item"),
    "checksum": Variable(
        dtype="uint64", units="1", long_name="checksum of status, input hash, inputs and outputs"
    ),
}
