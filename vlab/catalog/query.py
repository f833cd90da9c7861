"""Select items of a store by status and property ranges without loading everything.

Only the variables named in the selection are read to build the mask; the result is
the lazy Dataset indexed by the selected items.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"status": ("item", np.array([1, 1, 2], "i1")),
...                  "G": ("item", [0.9, 2.0, np.nan])})
>>> select(ds, status="done", ranges={"G": (0.5, 1.5)}).G.values.tolist()
[0.9]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from vlab.catalog.schema import ITEM_DIM, Status
from vlab.errors import InputError

__all__ = ["select"]


def _status_code(status: str | int) -> int:
    if isinstance(status, str):
        try:
            return int(Status[status.upper()])
        except KeyError:
            pass
    elif status in set(Status):
        return int(status)
    allowed = ", ".join(s.name.lower() for s in Status)
    raise InputError(f"The 'status' of select must be one of {allowed}. Got {status!r}.")


def select(
    ds: xr.Dataset,
    *,
    status: str | int | None = "done",
    ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> xr.Dataset:
    """Items with the given status whose variables lie in closed ``[low, high]`` ranges.

    ``None`` as a bound means unbounded. Variables in ``ranges`` must be per-item scalars.
    """
    mask = np.ones(ds.sizes[ITEM_DIM], dtype=bool)
    if status is not None:
        mask &= ds["status"].values == _status_code(status)
    for name, (low, high) in (ranges or {}).items():
        if name not in ds:
            raise InputError(
                f"select: no variable {name!r} in the store; variables: {sorted(ds.data_vars)}."
            )
        if ds[name].dims != (ITEM_DIM,):
            raise InputError(f"select: {name!r} has dims {ds[name].dims}; need ('item',).")
        values = ds[name].values
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values <= high
    return ds.isel({ITEM_DIM: np.flatnonzero(mask)})
