"""Campaign kinds of the conductance lab: ``break-junction-md`` and ``conductance-reference``.

Adapters only: they turn spec parameters and items into calls of :mod:`vlab.conductance`
and its results into per-item arrays. No physics here.

``break-junction-md``
    One item = one MD trace (structure builder + protocol + temperature + seed). Outputs are
    padded to ``max_snapshots`` snapshots: elongation, time, cycle, direction, contact, the
    snapshot positions (float32, Å) and cells, the atoms' numbers and tags, rupture info.
``conductance-surrogate``
    Like ``conductance-reference`` (same items), but evaluated in batches by a trained
    :class:`vlab.conductance.ConductanceSurrogate` loaded once per worker (``params: {model:
    PATH}``): G/G0 and its ensemble standard deviation.
``conductance-reference``
    One item = one structure (an ase.Atoms), usually every snapshot of the traces of a
    ``break-junction-md`` store (``inputs: {catalog: NAME}``). Output: G/G0 and, when
    ``energies`` are given, T(E). Parameters: ``fidelity`` (``sband`` or ``spd``) and the
    calculator's own parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vlab.campaign.kinds.base import Item, Kind, register_kind
from vlab.catalog.schema import ITEM_DIM, Variable
from vlab.errors import SpecError

_BUILDERS = ("wire", "contact")
_FIDELITIES = ("sband", "spd")


def _check_keys(kind: str, where: str, given: Mapping, allowed: Mapping | set) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise SpecError(f"{kind}: unknown {where} key(s) {unknown}; allowed: {sorted(allowed)}.")


# ----------------------------------------------------------------------- break-junction-md

_STRUCTURE_DEFAULTS = {
    "builder": "wire",
    "element": "Au",
    "direction": "001",
    "cross_section": [2, 2],
    "length": 4,
    "electrode_layers": 3,
    "neck_cross_section": [2, 2],
    "electrode_cross_section": [3, 3],
    "perturbation": 0.05,
}
_PROTOCOL_KEYS = {
    "speed",
    "timestep",
    "friction",
    "snapshot_every",
    "equilibration",
    "max_elongation",
    "post_rupture",
    "bond_cutoff",
    "cycles",
    "compress_depth",
    "min_elongation",
}


def _bj_params(params: Mapping[str, Any]) -> dict[str, Any]:
    from vlab.conductance import BreakJunctionProtocol

    _check_keys(
        "break-junction-md",
        "parameter",
        params,
        {"structure", "protocol", "calculator", "max_snapshots"},
    )
    structure = {**_STRUCTURE_DEFAULTS, **dict(params.get("structure", {}))}
    _check_keys("break-junction-md", "structure", structure, _STRUCTURE_DEFAULTS)
    if structure["builder"] not in _BUILDERS:
        raise SpecError(
            f"break-junction-md: structure.builder must be one of {_BUILDERS}. "
            f"Got {structure['builder']!r}."
        )
    protocol = dict(params.get("protocol", {}))
    _check_keys("break-junction-md", "protocol", protocol, _PROTOCOL_KEYS)
    checked = BreakJunctionProtocol(**protocol)  # validates ranges with clear messages
    calculator = params.get("calculator", "auto")
    out = {"structure": structure, "protocol": protocol, "calculator": calculator}
    out["max_snapshots"] = int(params.get("max_snapshots") or checked.max_snapshots)
    _build(structure)  # invalid structure requests fail at planning time, not on workers
    return out


def _build(structure: Mapping[str, Any]):
    from vlab.conductance import build_contact, build_wire

    if structure["builder"] == "wire":
        return build_wire(
            structure["element"],
            direction=structure["direction"],
            cross_section=tuple(structure["cross_section"]),
            length=structure["length"],
            electrode_layers=structure["electrode_layers"],
        )
    return build_contact(
        structure["element"],
        electrode_cross_section=tuple(structure["electrode_cross_section"]),
        neck_cross_section=tuple(structure["neck_cross_section"]),
        length=structure["length"],
        electrode_layers=structure["electrode_layers"],
    )


def _bj_traces(gen: Mapping[str, Any], n: int, rng: np.random.Generator) -> list[Item]:
    temperatures = list(gen.get("temperatures", [4.0, 300.0]))
    if not temperatures or any(not isinstance(t, (int, float)) for t in temperatures):
        raise SpecError(
            "break-junction-md: inputs.params.temperatures must be a list of K. "
            f"Got {temperatures!r}."
        )
    seeds = rng.integers(0, 2**31 - 1, size=n)
    return [
        {
            "trace": i,
            "temperature": float(temperatures[i % len(temperatures)]),
            "seed": int(seeds[i]),
        }
        for i in range(n)
    ]


def _bj_outputs(params: Mapping[str, Any], items: Sequence[Item]) -> dict[str, Variable]:
    n_atoms = len(_build(params["structure"]))
    s = int(params["max_snapshots"])
    snap = ("snapshot",)
    return {
        "n_snapshots": Variable(dtype="int32", long_name="number of snapshots of the trace"),
        "elongation": Variable(
            dims=snap,
            shape=(s,),
            units="angstrom",
            long_name="electrode displacement since the start",
        ),
        "time": Variable(dims=snap, shape=(s,), units="ps", long_name="time since equilibration"),
        "cycle": Variable(dims=snap, shape=(s,), dtype="int16", long_name="stretch cycle"),
        "direction": Variable(
            dims=snap, shape=(s,), dtype="int8", long_name="+1 stretching, -1 compressing"
        ),
        "contact": Variable(
            dims=snap, shape=(s,), dtype="bool", long_name="a chain of bonds joins the electrodes"
        ),
        "positions": Variable(
            dims=(*snap, "atom", "xyz"),
            shape=(s, n_atoms, 3),
            dtype="float32",
            units="angstrom",
            long_name="atomic positions",
        ),
        "cells": Variable(
            dims=(*snap, "cell_vector", "xyz"),
            shape=(s, 3, 3),
            units="angstrom",
            long_name="cell vectors",
        ),
        "numbers": Variable(
            dims=("atom",), shape=(n_atoms,), dtype="int16", long_name="atomic number"
        ),
        "tags": Variable(
            dims=("atom",),
            shape=(n_atoms,),
            dtype="int16",
            long_name="ASE tags (1 left electrode, 2 right, 0 device)",
        ),
        "lead_period": Variable(units="angstrom", long_name="electrode principal-layer period"),
        "ruptured": Variable(dtype="bool", long_name="the first stretch ruptured the junction"),
        "rupture_index": Variable(dtype="int32", long_name="first snapshot without contact"),
        "calculator": Variable(dtype="str", long_name="EMT implementation (asap3 or ase)"),
    }


def _pad(values: np.ndarray, size: int, fill) -> np.ndarray:
    out = np.full((size, *values.shape[1:]), fill, dtype=values.dtype)
    out[: len(values)] = values
    return out


def _bj_one(item: Item, params: Mapping[str, Any], context: Any) -> dict[str, Any]:
    from vlab.conductance import BreakJunctionProtocol, perturb, run_trace

    rng = np.random.default_rng(item["seed"])
    atoms = _build(params["structure"])
    if params["structure"]["perturbation"]:
        atoms = perturb(atoms, amplitude=params["structure"]["perturbation"], rng=rng)
    protocol = BreakJunctionProtocol(
        **params["protocol"], temperature=item["temperature"], seed=int(item["seed"])
    )
    trace = run_trace(atoms, protocol, calculator=params["calculator"])
    s = int(params["max_snapshots"])
    if len(trace) > s:
        raise ValueError(f"the trace has {len(trace)} snapshots, more than max_snapshots={s}")
    return {
        "n_snapshots": len(trace),
        "elongation": _pad(trace.elongation, s, np.nan),
        "time": _pad(trace.time, s, np.nan),
        "cycle": _pad(trace.cycle.astype(np.int16), s, 0),
        "direction": _pad(trace.direction.astype(np.int8), s, 0),
        "contact": _pad(trace.contact, s, False),
        "positions": _pad(trace.positions.astype(np.float32), s, np.nan),
        "cells": _pad(trace.cells, s, np.nan),
        "numbers": trace.numbers,
        "tags": trace.tags,
        "lead_period": trace.lead_period,
        "ruptured": trace.ruptured,
        "rupture_index": trace.rupture_index,
        "calculator": trace.calculator,
    }


register_kind(
    Kind(
        name="break-junction-md",
        version="1",
        description="one EMT break-junction MD trace per item (stretch/compress, snapshots)",
        check_params=_bj_params,
        outputs=_bj_outputs,
        evaluate_one=_bj_one,
        generators={"traces": _bj_traces},
        input_attrs={
            "trace": ("1", "trace number"),
            "temperature": ("K", "bath temperature"),
            "seed": ("1", "random seed of the trace"),
        },
    )
)


# ------------------------------------------------------------------- conductance-reference


def _ref_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(
        "conductance-reference",
        "parameter",
        params,
        {"fidelity", "calculator", "energies", "snapshot_stride"},
    )
    fidelity = params.get("fidelity", "sband")
    if fidelity not in _FIDELITIES:
        raise SpecError(
            f"conductance-reference: 'fidelity' must be one of {_FIDELITIES}. Got {fidelity!r}."
        )
    energies = [float(e) for e in params.get("energies", [])]
    stride = _check_stride("conductance-reference", params)
    out = {
        "fidelity": fidelity,
        "calculator": dict(params.get("calculator", {})),
        "energies": energies,
        "snapshot_stride": stride,
    }
    _calculator(out)  # validates the calculator parameters now
    return out


def _calculator(params: Mapping[str, Any]):
    from vlab.conductance.transport import ExtendedHuckel, SBandTightBinding

    cls = SBandTightBinding if params["fidelity"] == "sband" else ExtendedHuckel
    try:
        return cls(**params["calculator"])
    except TypeError as err:
        raise SpecError(
            f"conductance-reference: bad 'calculator' parameters for {params['fidelity']}: {err}."
        ) from None


def _ref_identity(params: Mapping[str, Any]) -> dict[str, Any]:
    return {**_calculator(params).identity, "energies": list(params["energies"])}


def _ref_outputs(params: Mapping[str, Any], items: Sequence[Item]) -> dict[str, Variable]:
    out = {"conductance": Variable(units="G0", long_name="conductance G/G0 = T(E_F)")}
    if params["energies"]:
        n = len(params["energies"])
        out["transmission"] = Variable(
            dims=("energy",),
            shape=(n,),
            units="1",
            long_name="transmission T(E), E relative to E_F",
        )
    return out


def _ref_one(item: Item, params: Mapping[str, Any], calculator: Any) -> dict[str, Any]:
    atoms = item["structure"]
    if params["energies"]:
        energies = np.array([0.0, *params["energies"]])
        t = calculator.transmission(atoms, energies)
        return {"conductance": float(t[0]), "transmission": t[1:]}
    return {"conductance": calculator.conductance(atoms)}


_SNAPSHOT_ATTRS = {
    "trace": ("1", "trace number"),
    "snapshot": ("1", "snapshot index"),
    "temperature": ("K", "bath temperature"),
    "elongation": ("angstrom", "electrode displacement"),
}


def _check_stride(kind: str, params: Mapping[str, Any]) -> int:
    stride = params.get("snapshot_stride", 1)
    if not isinstance(stride, int) or stride < 1:
        raise SpecError(f"{kind}: 'snapshot_stride' must be an integer >= 1. Got {stride!r}.")
    return stride


def _ref_from_traces(ds: Any, params: Mapping[str, Any]) -> list[Item]:
    """Every ``snapshot_stride``-th snapshot of each done trace of a break-junction store."""
    from ase import Atoms

    if "positions" not in ds or "n_snapshots" not in ds:
        raise SpecError(
            "conductance-reference: the input catalog store must be a "
            "break-junction-md store (with positions and n_snapshots) or hold "
            "structures; this one has " + ", ".join(sorted(ds.data_vars)) + "."
        )
    items = []
    stride = params["snapshot_stride"]
    for t in range(ds.sizes[ITEM_DIM]):
        trace = ds.isel({ITEM_DIM: t}).load()
        numbers, tags = trace["numbers"].values, trace["tags"].values
        period = float(trace["lead_period"])
        for k in range(0, int(trace["n_snapshots"]), stride):
            atoms = Atoms(
                numbers=numbers,
                positions=trace["positions"].values[k].astype(float),
                cell=trace["cells"].values[k],
                tags=tags,
                pbc=False,
            )
            atoms.info["lead_period"] = period
            items.append(
                {
                    "trace": int(trace["trace"]),
                    "snapshot": k,
                    "temperature": float(trace["temperature"]),
                    "elongation": float(trace["elongation"].values[k]),
                    "structure": atoms,
                }
            )
    return items


register_kind(
    Kind(
        name="conductance-reference",
        version="1",
        description="Landauer conductance of structures (s-band TB or extended-Hückel spd)",
        check_params=_ref_params,
        outputs=_ref_outputs,
        evaluate_one=_ref_one,
        setup=_calculator,
        identity=_ref_identity,
        items_from_dataset=_ref_from_traces,
        input_attrs=_SNAPSHOT_ATTRS,
    )
)


# ------------------------------------------------------------------- conductance-surrogate


def _sur_params(params: Mapping[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    _check_keys("conductance-surrogate", "parameter", params, {"model", "snapshot_stride"})
    model = params.get("model")
    if not isinstance(model, str) or not Path(model).expanduser().is_file():
        raise SpecError(
            "conductance-surrogate: 'model' must be the path of a model saved by "
            f"ConductanceSurrogate.save (vlab conductance train). Got {model!r}."
        )
    stride = _check_stride("conductance-surrogate", params)
    return {"model": str(Path(model).expanduser().resolve()), "snapshot_stride": stride}


def _sur_setup(params: Mapping[str, Any]):
    from vlab.conductance import ConductanceSurrogate

    return ConductanceSurrogate.load(params["model"])


def _sur_identity(params: Mapping[str, Any]) -> dict[str, Any]:
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256(Path(params["model"]).read_bytes()).hexdigest()
    return {"id": "conductance-surrogate", "version": "1", "model_sha256": digest}


def _sur_outputs(params: Mapping[str, Any], items: Sequence[Item]) -> dict[str, Variable]:
    return {
        "conductance": Variable(units="G0", long_name="surrogate conductance G/G0"),
        "conductance_std": Variable(units="G0", long_name="ensemble standard deviation"),
    }


def _sur_batch(items: Sequence[Item], params: Mapping[str, Any], model: Any) -> list:
    mean, std = model.predict([item["structure"] for item in items], return_std=True)
    return [
        {"conductance": float(m), "conductance_std": float(s)}
        for m, s in zip(mean, std, strict=True)
    ]


register_kind(
    Kind(
        name="conductance-surrogate",
        version="1",
        description="conductance predicted by a trained local-descriptor surrogate, in batches",
        check_params=_sur_params,
        outputs=_sur_outputs,
        evaluate_batch=_sur_batch,
        setup=_sur_setup,
        identity=_sur_identity,
        items_from_dataset=_ref_from_traces,
        input_attrs=_SNAPSHOT_ATTRS,
    )
)
