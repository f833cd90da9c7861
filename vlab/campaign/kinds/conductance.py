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

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vlab.campaign.kinds.base import (
    SOURCE_HASH,
    Item,
    Kind,
    KindParams,
    parse_params,
    register_kind,
    short_repr,
    spec_error,
)
from vlab.catalog.schema import ITEM_DIM, Variable
from vlab.errors import InputError, SpecError

_BUILDERS = ("wire", "contact")
_FIDELITIES = ("sband", "spd")
_CELLS = {"min": 1, "max": 12}  # unit cells across a wire, neck or electrode
_MAX_SNAPSHOTS = 100_000
_MAX_TRACE_VALUES = 50_000_000  # snapshots x atoms of one trace (its positions: 600 MB)
_STRIDE = {"min": 1, "max": 1_000_000}


def _check_keys(kind: str, where: str, given: Mapping, allowed: Mapping | set) -> None:
    unknown = sorted(map(str, set(given) - set(allowed)))
    if unknown:
        raise SpecError(f"{kind}: unknown {where} key(s) {unknown}; allowed: {sorted(allowed)}.")


def _is_file(path: str) -> bool:
    try:
        return Path(path).expanduser().is_file()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, an unknown ~user
        return False


# ----------------------------------------------------------------------- break-junction-md

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


@dataclass(frozen=True, kw_only=True)
class StructureParams(KindParams):
    """The junction every ``break-junction-md`` trace starts from (``params.structure``).

    Built by :func:`vlab.conductance.build_wire` (``builder: wire``: ``cross_section``) or
    :func:`vlab.conductance.build_contact` (``builder: contact``: a neck of
    ``neck_cross_section`` unit cells between electrodes of ``electrode_cross_section``).
    """

    #: ``wire`` or ``contact``.
    builder: str = field(default="wire", metadata={"choices": _BUILDERS})
    #: Chemical symbol of the fcc metal.
    element: str = "Au"
    #: Crystal direction along the wire (e.g. ``001``, ``111``).
    direction: str = "001"
    #: Unit cells across a wire.
    cross_section: tuple[int, int] = field(default=(2, 2), metadata=_CELLS)
    #: Unit cells along the wire or neck.
    length: int = field(default=4, metadata={"min": 1, "max": 100})
    #: Unit-cell layers of each electrode.
    electrode_layers: int = field(default=3, metadata={"min": 2, "max": 12})
    #: Unit cells across a contact's neck.
    neck_cross_section: tuple[int, int] = field(default=(2, 2), metadata=_CELLS)
    #: Unit cells across a contact's electrodes.
    electrode_cross_section: tuple[int, int] = field(default=(3, 3), metadata=_CELLS)
    #: Amplitude of the random displacement of the starting positions, Å.
    perturbation: float = field(default=0.05, metadata={"min": 0, "max": 1})


@dataclass(frozen=True, kw_only=True)
class BreakJunctionParams(KindParams):
    """Parameters of ``break-junction-md``."""

    #: The starting junction.
    structure: StructureParams = field(default_factory=StructureParams)
    #: :class:`vlab.conductance.BreakJunctionProtocol` parameters (as given; the temperature
    #: and seed come from each item).
    protocol: Mapping[str, Any] = field(default_factory=dict)
    #: EMT implementation: ``auto`` (asap3 if importable, else ``numpy``), ``asap3``, ``numpy``
    #: (vlab's vectorised EMT) or ``ase`` (ASE's Python EMT).
    calculator: str = field(default="auto", metadata={"choices": ("auto", "asap3", "numpy", "ase")})
    #: Room for snapshots per trace; None: the protocol's upper bound (a smaller value is
    #: refused: a trace may reach the bound).
    max_snapshots: int | None = field(default=None, metadata={"min": 1, "max": _MAX_SNAPSHOTS})


def _bj_params(params: Mapping[str, Any]) -> BreakJunctionParams:
    from vlab.conductance import BreakJunctionProtocol

    kind = "break-junction-md"
    checked = parse_params(BreakJunctionParams, params, kind=kind)
    _check_keys(kind, "protocol", checked.protocol, _PROTOCOL_KEYS)
    try:
        protocol = BreakJunctionProtocol(**checked.protocol)  # checks ranges, clear messages
        n_snapshots = checked.max_snapshots or protocol.max_snapshots
    except (InputError, TypeError, ValueError) as err:
        raise spec_error(kind, err) from None
    except OverflowError:
        n_snapshots = np.inf
    try:
        bound = protocol.max_snapshots
    except OverflowError:
        bound = np.inf
    if checked.max_snapshots is not None and checked.max_snapshots < bound:
        raise SpecError(
            f"{kind}: max_snapshots {checked.max_snapshots} is below the {bound:,} snapshots "
            "a trace of this protocol can make: a trace that long would fail after its MD. "
            "Leave max_snapshots out, or shorten the protocol (snapshot_every, "
            "max_elongation, cycles)."
        )
    if n_snapshots > _MAX_SNAPSHOTS:
        raise SpecError(
            f"{kind}: the protocol makes up to {n_snapshots:,.0f} snapshots per trace, more than "
            f"{_MAX_SNAPSHOTS:,}; raise snapshot_every or lower max_elongation or cycles."
        )
    try:
        n_atoms = len(_build(checked.structure))  # bad structures fail now, not on workers
    except InputError as err:
        raise spec_error(kind, err) from None
    if n_atoms * n_snapshots > _MAX_TRACE_VALUES:
        raise SpecError(
            f"{kind}: {n_atoms:,} atoms x {n_snapshots:,} snapshots per trace is more than "
            f"{_MAX_TRACE_VALUES:,}; use a smaller structure or fewer snapshots."
        )
    return replace(checked, max_snapshots=int(n_snapshots))


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
    given = gen.get("temperatures", [4.0, 300.0])
    temperatures = list(given) if isinstance(given, list | tuple) else [None]
    numbers = all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in temperatures)
    if not temperatures or not numbers or not all(0 <= t <= 1000 for t in temperatures):
        # the MD protocol's range, checked here: a bad value fails at once, not per item
        raise SpecError(
            "break-junction-md: inputs.params.temperatures must be a list of temperatures "
            f"between 0 and 1000 K. Got {given!r}."
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
        "calculator": Variable(dtype="str", long_name="EMT implementation (asap3, numpy or ase)"),
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


#: Revision of the compression legs of traces of several cycles (they now stop before device
#: atoms flow around an electrode, and a trace ends when compression does not re-form
#: contact). Only those traces changed, so only their items get another identity (and hash):
#: stores of single-stretch traces stay valid.
_COMPRESSION_REVISION = 2


def _bj_identity_extra(params: Mapping[str, Any]) -> dict[str, Any]:
    cycles = int((params.get("protocol") or {}).get("cycles", 1))
    return {"compression_revision": _COMPRESSION_REVISION} if cycles > 1 else {}


register_kind(
    Kind(
        name="break-junction-md",
        version="1",
        identity_extra=_bj_identity_extra,
        description="one EMT break-junction MD trace per item (stretch/compress, snapshots)",
        check_params=_bj_params,
        outputs=_bj_outputs,
        evaluate_one=_bj_one,
        generators={"traces": _bj_traces},
        generator_params={"traces": ("temperatures",)},
        item_fields=("trace", "temperature", "seed"),
        input_attrs={
            "trace": ("1", "trace number"),
            "temperature": ("K", "bath temperature"),
            "seed": ("1", "random seed of the trace"),
        },
    )
)


# ------------------------------------------------------------------- conductance-reference


@dataclass(frozen=True, kw_only=True)
class ReferenceParams(KindParams):
    """Parameters of ``conductance-reference``."""

    #: ``sband`` (s-band tight binding) or ``spd`` (extended Hückel).
    fidelity: str = field(default="sband", metadata={"choices": _FIDELITIES})
    #: Parameters of the calculator (:class:`vlab.conductance.transport.SBandTightBinding` or
    #: :class:`vlab.conductance.transport.ExtendedHuckel`).
    calculator: Mapping[str, Any] = field(default_factory=dict)
    #: Energies of T(E) relative to E_F, eV; none: the conductance only.
    energies: tuple[float, ...] = field(
        default=(), metadata={"min": -100, "max": 100, "max_len": 10_000}
    )
    #: Label every ``snapshot_stride``-th snapshot of each input trace.
    snapshot_stride: int = field(default=1, metadata=_STRIDE)
    #: Label only these snapshots, as ``"TRACE:SNAPSHOT"`` texts (e.g. ``"3:12"``), among those
    #: that ``snapshot_stride`` keeps (a pick that names none gets a warning); none: all.
    snapshots: tuple[str, ...] = field(default=(), metadata={"max_len": _MAX_SNAPSHOTS})
    #: Label a uniform random sample (without replacement) of this many of those snapshots;
    #: 0: all of them.
    sample: int = field(default=0, metadata={"min": 0, "max": _MAX_SNAPSHOTS})
    #: Seed of the random sample.
    sample_seed: int = field(default=0, metadata={"min": 0, "max": 2**32 - 1})


def _picks(kind: str, snapshots: Sequence[str]) -> frozenset[tuple[int, int]]:
    """The ``(trace, snapshot)`` pairs of ``"TRACE:SNAPSHOT"`` texts."""
    pairs = set()
    for text in snapshots:
        trace, sep, snap = text.partition(":")
        if not (sep and trace.isdigit() and snap.isdigit()):
            raise SpecError(
                f"{kind}: 'snapshots' holds texts TRACE:SNAPSHOT of two integers >= 0, e.g. "
                f"'3:12'. Got {short_repr(text)}."
            )
        pairs.add((int(trace), int(snap)))
    return frozenset(pairs)


def _ref_params(params: Mapping[str, Any]) -> ReferenceParams:
    checked = parse_params(ReferenceParams, params, kind="conductance-reference")
    checked = replace(checked, energies=tuple(float(e) for e in checked.energies))
    _picks("conductance-reference", checked.snapshots)
    _calculator(checked)  # validates the calculator parameters now
    return checked


def _calculator(params: Mapping[str, Any]):
    from vlab.conductance.transport import ExtendedHuckel, SBandTightBinding

    cls = SBandTightBinding if params["fidelity"] == "sband" else ExtendedHuckel
    try:
        return cls(**params["calculator"])
    except (InputError, TypeError, ValueError) as err:
        what = f"bad 'calculator' parameters for {params['fidelity']}: {err}"
        raise spec_error("conductance-reference", ValueError(what)) from None


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


def snapshot_items(ds: Any, *, stride: int = 1, kind: str = "conductance-reference") -> list[Item]:
    """Items (trace, snapshot, temperature, elongation, structure) of a store of snapshots.

    ``ds`` is a ``break-junction-md`` store or a store of labelled snapshots
    (``conductance-reference`` or ``conductance-surrogate``, with ``structure_*`` variables);
    of either, the snapshots whose index is a multiple of ``stride`` (of an MD store, every
    ``stride``-th snapshot of each trace). Items of a store of labelled snapshots carry that
    store's input hash under :data:`SOURCE_HASH`. ``kind`` names the campaign kind in errors.
    """
    if "positions" in ds and "n_snapshots" in ds:
        return _md_snapshots(ds, stride)
    needed = {"structure_positions", "trace", "snapshot", "temperature", "elongation"}
    if needed <= set(ds.variables):
        return [item for item in _stored_snapshots(ds) if item["snapshot"] % stride == 0]
    raise SpecError(
        f"{kind}: the input catalog store must be a break-junction-md store "
        "(with positions and n_snapshots) or a store of labelled snapshots (with "
        "structure_* variables); this one has " + ", ".join(sorted(ds.data_vars)) + "."
    )


def _stored_snapshots(ds: Any) -> list[Item]:
    from vlab.catalog.structures import decode_structures

    ds = ds.load()
    structures = decode_structures(ds, prefix="structure_")
    hashes = ds["input_hash"].values if "input_hash" in ds else [None] * len(structures)
    return [
        {
            "trace": int(ds["trace"].values[i]),
            "snapshot": int(ds["snapshot"].values[i]),
            "temperature": float(ds["temperature"].values[i]),
            "elongation": float(ds["elongation"].values[i]),
            "structure": atoms,
            SOURCE_HASH: None if hashes[i] is None else str(hashes[i]),
        }
        for i, atoms in enumerate(structures)
    ]


def _same_calculation(ds: Any, kind: str, identity: Mapping[str, Any]) -> bool:
    """``ds`` is a store of ``kind`` made with the calculator ``identity``."""
    import json

    try:
        stored = json.loads(ds.attrs.get("calculator", "null"))
    except (TypeError, ValueError):
        return False
    return ds.attrs.get("kind") == kind and stored == json.loads(json.dumps(identity))


def _ref_from_traces(ds: Any, params: Mapping[str, Any]) -> list[Item]:
    """The items of an input store: its snapshots (all, a stride, or the picked ones), or
    a random sample of ``sample`` of those (seeded by ``sample_seed``; in store order).

    An item from a store of the same kind and calculator is the same calculation, so it keeps
    that store's input hash (its label is copied, not computed again); other items lose it.
    """
    items = snapshot_items(ds, stride=params["snapshot_stride"])
    picks = _picks("conductance-reference", params.get("snapshots", ()))
    if picks:
        items = [it for it in items if (it["trace"], it["snapshot"]) in picks]
        unmatched = sorted(picks - {(it["trace"], it["snapshot"]) for it in items})
        if unmatched:
            shown = ", ".join(f"'{t}:{k}'" for t, k in unmatched[:5])
            stride = params["snapshot_stride"]
            warnings.warn(
                f"conductance-reference: {len(unmatched)} of the {len(picks)} 'snapshots' "
                f"picks name no done snapshot of the input store"
                + (f" whose index is a multiple of snapshot_stride {stride}" if stride > 1 else "")
                + f" ({shown}{', ...' if len(unmatched) > 5 else ''}); they are left out.",
                UserWarning,
                stacklevel=2,
            )
    if 0 < params.get("sample", 0) < len(items):
        rng = np.random.default_rng(params.get("sample_seed", 0))
        keep = np.sort(rng.choice(len(items), size=params["sample"], replace=False))
        items = [items[i] for i in keep]
    same = _same_calculation(ds, "conductance-reference", _ref_identity(params))
    for item in items:
        if not same or item.get(SOURCE_HASH) is None:
            item.pop(SOURCE_HASH, None)
    return items


def _sur_from_traces(ds: Any, params: Mapping[str, Any]) -> list[Item]:
    """The snapshots of an input store; a UserWarning if the model is a shipped one that
    records a range of use and some snapshots lie outside it."""
    from vlab.conductance.shipped import range_of_use_warning, shipped_model_name

    items = snapshot_items(ds, stride=params["snapshot_stride"], kind="conductance-surrogate")
    for item in items:
        item.pop(SOURCE_HASH, None)
    name = shipped_model_name(params["model"])
    if name is not None:
        source = str(ds.attrs.get("title") or "the input store")
        warning = range_of_use_warning([item["structure"] for item in items], name, source)
        if warning:
            warnings.warn(warning, UserWarning, stacklevel=2)
    return items


def _md_snapshots(ds: Any, stride: int) -> list[Item]:
    """Every ``stride``-th snapshot of each done trace of a break-junction store."""
    from vlab.catalog.structures import decode_snapshots

    items = []
    for t in range(ds.sizes[ITEM_DIM]):
        trace = ds.isel({ITEM_DIM: t}).load()
        for k, atoms in zip(
            range(0, int(trace["n_snapshots"]), stride),
            decode_snapshots(trace, stride=stride),
            strict=True,
        ):
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


@dataclass(frozen=True, kw_only=True)
class SurrogateParams(KindParams):
    """Parameters of ``conductance-surrogate``."""

    #: Path of a model saved by :meth:`vlab.conductance.ConductanceSurrogate.save` or
    #: :meth:`vlab.conductance.BottleneckSurrogate.save`, or the name of a shipped model
    #: (e.g. ``spd-headline``, ``spd-bottleneck``) (checked, then made an absolute path).
    model: str | None = None
    #: Predict every ``snapshot_stride``-th snapshot of each input trace.
    snapshot_stride: int = field(default=1, metadata=_STRIDE)


def _sur_params(params: Mapping[str, Any]) -> SurrogateParams:
    from vlab.conductance.shipped import model_file_format, shipped_model_file, shipped_models

    checked = parse_params(SurrogateParams, params, kind="conductance-surrogate")
    model = checked.model
    if isinstance(model, str) and model in shipped_models():
        model = str(shipped_model_file(model))  # checked against its recorded sha256
    if model is None or not _is_file(model):
        raise SpecError(
            "conductance-surrogate: 'model' must be the path of a model saved by "
            "ConductanceSurrogate.save (vlab conductance train) or BottleneckSurrogate.save, "
            f"or a shipped model ({', '.join(shipped_models())}). Got {short_repr(model)}."
        )
    if model_file_format(model) not in _MODEL_FORMATS:
        raise SpecError(
            f"conductance-surrogate: 'model' {short_repr(model)} is a file, but not a model "
            "saved by ConductanceSurrogate.save (vlab conductance train) or "
            f"BottleneckSurrogate.save, nor a shipped model ({', '.join(shipped_models())})."
        )
    return replace(checked, model=str(Path(model).expanduser().resolve()))


_MODEL_FORMATS = ("vlab-conductance-surrogate", "vlab-bottleneck-surrogate")


def _sur_setup(params: Mapping[str, Any]):
    from vlab.conductance.shipped import load_model_file

    return load_model_file(params["model"])


def _sur_identity(params: Mapping[str, Any]) -> dict[str, Any]:
    import hashlib

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
        description="conductance predicted by a trained surrogate, in batches",
        check_params=_sur_params,
        outputs=_sur_outputs,
        evaluate_batch=_sur_batch,
        setup=_sur_setup,
        identity=_sur_identity,
        items_from_dataset=_sur_from_traces,
        input_attrs=_SNAPSHOT_ATTRS,
    )
)
