"""Small helpers shared by every layer (no Dask, no zarr)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

__all__ = ["canonical_json", "content_hash", "pin_blas_threads"]

_BLAS_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def pin_blas_threads(n: int = 1) -> None:
    """Limit BLAS/OpenMP thread pools of this process (and its children) to ``n`` threads.

    On 2-core machines a multi-threaded OpenBLAS is 10-100x slower for the small dense
    matrices of the conductance lab, so vlab's entry points call this with ``n=1``.
    """
    for var in _BLAS_VARS:
        os.environ.setdefault(var, str(n))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.dtype.str, "shape": obj.shape, "data": obj.tolist()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot hash objects of type {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """JSON text with sorted keys and no whitespace: a stable form for hashing.

    >>> canonical_json({"b": 1, "a": [1.5, "x"]})
    '{"a":[1.5,"x"],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def content_hash(*parts: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``parts``.

    >>> content_hash({"x": 1}) == content_hash({"x": 1})
    True
    >>> len(content_hash("a"))
    64
    """
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()
