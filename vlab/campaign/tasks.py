"""The task function that Dask runs: evaluate one chunk's items, return plain arrays.

Expensive per-kind preparation (``Kind.setup``: a loaded model, a built calculator) is
cached per worker process, keyed by the kind's parameters, so it runs once per worker and
not once per task.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vlab._utils import content_hash
from vlab.campaign.kinds import Item, Kind, get_kind
from vlab.catalog.schema import Status, Variable

__all__ = ["chunk_arrays", "run_chunk", "worker_context"]

_CONTEXTS: dict[str, Any] = {}
_MAX_CONTEXTS = 4
SETUP_CALLS: dict[str, int] = {}  # setup runs per key in this process ("once per worker")


def worker_context(kind: Kind, params: Mapping[str, Any]) -> Any:
    """``kind.setup(params)``, computed once per process and cached."""
    key = content_hash(kind.name, kind.version, dict(params))
    if key not in _CONTEXTS:
        if len(_CONTEXTS) >= _MAX_CONTEXTS:
            _CONTEXTS.pop(next(iter(_CONTEXTS)))
        SETUP_CALLS[key] = SETUP_CALLS.get(key, 0) + 1
        _CONTEXTS[key] = kind.setup(params)
    return _CONTEXTS[key]


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"local:{socket.gethostname()}:{os.getpid()}"


def _error_text(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    frames = traceback.extract_tb(err.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    return text[:2000]


def _check_result(result: Any, outputs: Mapping[str, Variable]) -> dict[str, np.ndarray]:
    if not isinstance(result, Mapping):
        raise TypeError(f"a kind returned {type(result).__name__}; results must be mappings")
    checked = {}
    for name, value in result.items():
        if name not in outputs:
            raise KeyError(f"result key {name!r} is not an output; outputs: {sorted(outputs)}")
        var = outputs[name]
        array = np.asarray(value, dtype=object if var.is_text else var.dtype)
        if array.shape != var.shape:
            raise ValueError(
                f"output {name!r} has shape {array.shape}; the store needs {var.shape}"
            )
        checked[name] = array
    return checked


def chunk_arrays(outputs: Mapping[str, Variable], n: int) -> dict[str, np.ndarray]:
    """Arrays of ``n`` items filled with each output's fill value."""
    return {
        name: np.full((n, *var.shape), var.fill, dtype=object if var.is_text else var.dtype)
        for name, var in outputs.items()
    }


def _evaluate(kind: Kind, items: Sequence[Item], params: Mapping, context: Any):
    """Yield ``(result_or_exception, seconds)`` per item."""
    if kind.evaluate_one is not None:
        for item in items:
            start = time.perf_counter()
            try:
                result = kind.evaluate_one(item, params, context)
            except Exception as err:  # recorded per item; the campaign goes on
                result = err
            yield result, time.perf_counter() - start
        return
    start = time.perf_counter()
    try:
        results = list(kind.evaluate_batch(items, params, context))
    except Exception as err:
        results = [err] * len(items)
    each = (time.perf_counter() - start) / max(len(items), 1)
    yield from ((r, each) for r in results)


def run_chunk(
    kind_name: str,
    params: Mapping[str, Any],
    items: Sequence[Item],
    outputs: Mapping[str, Variable],
) -> dict[str, Any]:
    """Evaluate ``items`` and return their outputs and ledger columns as plain arrays.

    Returns
    -------
    dict
        ``values`` ({output: array of len(items)}), ``status``, ``duration`` (s), ``error``
        and ``worker`` (a str for the whole chunk).
    """
    kind = get_kind(kind_name)
    context = worker_context(kind, params)
    n = len(items)
    values = chunk_arrays(outputs, n)
    status = np.full(n, Status.DONE, np.int8)
    duration = np.zeros(n, np.float32)
    error = np.full(n, "", dtype=object)
    for i, (result, seconds) in enumerate(_evaluate(kind, items, params, context)):
        duration[i] = seconds
        try:
            if isinstance(result, BaseException):
                raise result
            for name, array in _check_result(result, outputs).items():
                values[name][i] = array
        except Exception as err:
            status[i] = Status.FAILED
            error[i] = _error_text(err)
    return {
        "values": values,
        "status": status,
        "duration": duration,
        "error": error,
        "worker": _worker_name(),
    }
