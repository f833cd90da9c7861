"""``engine-probe``: a cheap, deterministic kind that exercises the engine (tests, benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vlab.campaign.kinds.base import Item, Kind, register_kind
from vlab.catalog.schema import Variable
from vlab.errors import SpecError


def _probe_params(params: Mapping[str, Any]) -> dict[str, Any]:
    allowed = {"seconds": 0.0, "fail_every": 0, "busy": False}
    unknown = set(params) - set(allowed)
    if unknown:
        raise SpecError(
            f"engine-probe: unknown parameter(s) {sorted(unknown)}; allowed: {sorted(allowed)}."
        )
    out = {**allowed, **params}
    if not isinstance(out["seconds"], (int, float)) or out["seconds"] < 0:
        raise SpecError(f"engine-probe: 'seconds' must be a number >= 0. Got {out['seconds']!r}.")
    if not isinstance(out["fail_every"], int) or out["fail_every"] < 0:
        raise SpecError(
            f"engine-probe: 'fail_every' must be an integer >= 0. Got {out['fail_every']!r}."
        )
    out["seconds"] = float(out["seconds"])
    return out


def _probe_range(gen_params: Mapping[str, Any], n: int, rng: Any) -> list[Item]:
    offset = int(gen_params.get("offset", 0))
    repeat = int(gen_params.get("repeat", 1))  # repeat > 1 makes duplicate items (dedup tests)
    return [{"x": offset + i // repeat} for i in range(n * repeat)][:n]


def _probe_outputs(params: Mapping[str, Any], items: Sequence[Item]) -> dict[str, Variable]:
    return {
        "value": Variable(units="1", long_name="x squared"),
        "vector": Variable(
            dims=("component",), shape=(3,), units="1", long_name="(sin x, cos x, x mod 7)"
        ),
    }


def _probe_one(item: Item, params: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Wait (or spin, if ``busy``) for ``seconds``, then return x² and a small vector."""
    x = int(item["x"])
    if params["fail_every"] and x % params["fail_every"] == 0:
        raise ValueError(f"engine-probe: item x={x} fails on purpose (fail_every)")
    if params["seconds"]:
        if params["busy"]:
            end = time.perf_counter() + params["seconds"]
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(params["seconds"])
    return {"value": float(x * x), "vector": np.array([np.sin(x), np.cos(x), x % 7])}


register_kind(
    Kind(
        name="engine-probe",
        version="1",
        description="cheap deterministic items (x -> x²) to test and benchmark the engine",
        check_params=_probe_params,
        outputs=_probe_outputs,
        evaluate_one=_probe_one,
        generators={"range": _probe_range},
        input_attrs={"x": ("1", "probe input")},
    )
)
