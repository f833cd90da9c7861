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
    elif (
        isinstance(status, (int, np.integer))
        and not isinstance(status, bool)
        and status in set(Status)
    ):
        return int(status)
    allowed = ", ".join(s.name.lower() for s in Status)
    raise InputError(
        f"The 'status' of select must be one of {allowed}, a list of them, or None. Got {status!r}."
    )


def _status_codes(status) -> list[int]:
    if isinstance(status, (list, tuple, set, frozenset)):
        return [_status_code(s) for s in status]
    return [_status_code(status)]


def _bounds(name: str, bounds) -> tuple[float | None, float | None]:
    """``(low, high)`` of a range, checked: two numbers or None, low <= high."""
    try:
        low, high = bounds
    except (TypeError, ValueError):
        low = high = None
        ok = False
    else:
        ok = all(b is None or (isinstance(b, (int, float, np.number)) and b == b) for b in bounds)
    if not ok:
        raise InputError(
            f"select: the range of {name!r} must be (low, high), numbers or None for no bound, "
            f"e.g. ranges={{{name!r}: (0.8, 1.2)}}. Got {bounds!r}."
        )
    if low is not None and high is not None and low > high:
        raise InputError(
            f"select: the range of {name!r} is empty: low {low!r} > high {high!r}; give "
            "(low, high) with low <= high."
        )
    return low, high


def select(
    ds: xr.Dataset,
    *,
    status: str | int | list | None = "done",
    ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> xr.Dataset:
    """Items with the given status whose variables lie in closed ``[low, high]`` ranges.

    ``status`` is a status name (``"done"``, ``"failed"``, ``"pending"``), a list of them, or
    None for every item. ``None`` as a bound means unbounded. Variables in ``ranges`` must be
    per-item scalars.
    """
    if not isinstance(ds, xr.Dataset):
        hint = f": select(vlab.catalog.open({ds!r}), ...)" if isinstance(ds, str) else ""
        raise InputError(
            "select takes the Dataset of a store (vlab.catalog.open(NAME) or open_store(PATH)); "
            f"got {type(ds).__name__}{hint}."
        )
    mask = np.ones(ds.sizes[ITEM_DIM], dtype=bool)
    if status is not None:
        mask &= np.isin(ds["status"].values, _status_codes(status))
    if ranges is not None and not isinstance(ranges, Mapping):
        raise InputError(
            "select: ranges must be a mapping of variable names to (low, high), e.g. "
            f"{{'conductance': (0.8, 1.2)}}. Got {type(ranges).__name__}."
        )
    for name, bounds in (ranges or {}).items():
        low, high = _bounds(name, bounds)
        if name not in ds:
            raise InputError(
                f"select: no variable {name!r} in the store; variables: {sorted(ds.data_vars)}."
            )
        if ds[name].dims != (ITEM_DIM,):
            raise InputError(f"select: {name!r} has dims {ds[name].dims}; need ('item',).")
        if ds[name].dtype.kind not in "biuf":
            raise InputError(
                f"select: {name!r} holds {ds[name].dtype} values, not numbers; ranges select "
                "by numeric variables."
            )
        values = ds[name].values
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values <= high
    return ds.isel({ITEM_DIM: np.flatnonzero(mask)})
