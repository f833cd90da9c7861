"""``engine-probe``: a cheap, deterministic kind that exercises the engine (tests, benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vlab.campaign.kinds.base import Item, Kind, KindParams, parse_params, register_kind
from vlab.catalog.schema import Variable
from vlab.errors import SpecError


@dataclass(frozen=True, kw_only=True)
class ProbeParams(KindParams):
    """Parameters of ``engine-probe``."""

    #: Time each item takes, s (the item sleeps, or spins if ``busy``).
    seconds: float = field(default=0.0, metadata={"min": 0})
    #: Items whose x is a multiple of this fail on purpose (0: none fails).
    fail_every: int = field(default=0, metadata={"min": 0})
    #: Burn ``seconds`` of CPU time instead of sleeping (as real work would: an item that
    #: competes for a core with the client or the scheduler takes longer in wall time).
    busy: bool = False


def _probe_params(params: Mapping[str, Any]) -> ProbeParams:
    checked = parse_params(ProbeParams, params, kind="engine-probe")
    return replace(checked, seconds=float(checked.seconds))


def _probe_range(gen_params: Mapping[str, Any], n: int, rng: Any) -> list[Item]:
    offset, repeat = gen_params.get("offset", 0), gen_params.get("repeat", 1)
    for name, value, low in (("offset", offset, None), ("repeat", repeat, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or (low and value < low):
            raise SpecError(
                f"engine-probe: inputs.params.{name} must be an integer"
                f"{f' >= {low}' if low else ''}. Got {value!r}."
            )
    # repeat > 1 makes duplicate items (dedup tests)
    return [{"x": offset + i // repeat} for i in range(n * repeat)][:n]


def _probe_outputs(params: Mapping[str, Any], items: Sequence[Item]) -> dict[str, Variable]:
    return {
        "value": Variable(units="1", long_name="x squared"),
        "vector": Variable(
            dims=("component",), shape=(3,), units="1", long_name="(sin x, cos x, x mod 7)"
        ),
    }


def _probe_one(item: Item, params: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Sleep (or burn CPU time, if ``busy``) for ``seconds``, then return x² and a small vector."""
    x = int(item["x"])
    if params["fail_every"] and x % params["fail_every"] == 0:
        raise ValueError(f"engine-probe: item x={x} fails on purpose (fail_every)")
    if params["seconds"]:
        if params["busy"]:
            end = time.thread_time() + params["seconds"]
            while time.thread_time() < end:
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
        generator_params={"range": ("offset", "repeat")},
        item_fields=("x",),
        input_attrs={"x": ("1", "probe input")},
    )
)
