"""The conductance lab's glue: figures from stores, surrogate training with trace hold-out,
validation against reference stores.

Examples
--------
After a ``conductance-reference`` campaign::

    from vlab.workflows import conductance_figures
    summary = conductance_figures("results/sband.zarr", "results/figures")
    print(summary["histogram_peak_G0"], summary["files"])
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vlab import catalog
from vlab._utils import report_json
from vlab.errors import InputError, did_you_mean

__all__ = [
    "PREDICTIVE_DRAWS",
    "conductance_figures",
    "conductance_traces",
    "labelled_structures",
    "load_surrogate",
    "model_residuals",
    "one_reference",
    "parameter_differences",
    "peak_or_none",
    "predict_conductance",
    "reference_name",
    "same_method",
    "same_reference",
    "store_reference",
    "stretch_traces",
    "train_surrogate",
    "validate_surrogate",
]

#: Draws per snapshot of a predictive histogram (prediction + held-out residual).
PREDICTIVE_DRAWS = 20
#: Held-out snapshots a model's report needs to record residuals for predictive draws (the
#: minimum count per bin of :class:`~vlab.conductance.ConditionalResiduals`).
RESIDUALS_MIN = 30
#: Below this many residuals the predictive draws get a warning: the bins then borrow the
#: residuals of distant predictions (the draws' settings were checked with 680-1,555).
RESIDUALS_FEW = 500
LABEL_HASH_CHARS = 16  # of an input hash, to recognise a training label (64 bits)
PREDICT_CHUNK = 512  # structures per surrogate call (predict), per featurisation (validate)
HELD_OUT_FEW = 3  # held-out traces below which train's scores get a warning
PLOT_MIN_STRUCTURES = 20  # fewer structures make no histogram worth drawing


def conductance_traces(store: str | os.PathLike) -> dict[str, Any]:
    """Per-trace elongation and conductance arrays (done items only, in snapshot order) and
    temperature of a reference store (a path, or a catalog name)."""
    ds = catalog.open_store(catalog.locate(store))
    needed = {"conductance", "trace", "elongation", "temperature"}
    if not needed <= set(ds.variables):
        raise InputError(
            f"The store {str(store)!r} is not a conductance-reference store of break-junction "
            f"snapshots: it lacks {sorted(needed - set(ds.variables))}."
        )
    order = ["snapshot"] if "snapshot" in ds.variables else []
    ds = catalog.select(ds[[*needed, *order, "status"]], status="done").load()
    traces: dict[int, dict[str, Any]] = {}
    for t in np.unique(ds["trace"].values):
        rows = np.flatnonzero(ds["trace"].values == t)
        if order:  # snapshots in the order of the trace, whatever the order of the items
            rows = rows[np.argsort(ds["snapshot"].values[rows], kind="stable")]
        part = ds.isel(item=rows)
        traces[int(t)] = {
            "elongation": part["elongation"].values,
            "conductance": part["conductance"].values,
            "temperature": float(part["temperature"].values[0]),
        }
    return traces


def conductance_figures(
    store: str | os.PathLike, out_dir: str | os.PathLike, *, max_traces: int = 12
) -> dict[str, Any]:
    """Write the histogram (linear and log axes), traces, plateau-length and
    conductance-displacement PNGs, and a summary JSON; for a store of several temperatures also
    their histograms side by side, each with its peak.

    Returns
    -------
    dict
        ``histogram_peak_G0`` (all snapshots), peaks per temperature, counts, plateau lengths
        (:func:`~vlab.conductance.plateau_length` of each stretch in
        :data:`~vlab.conductance.histogram.PLATEAU_WINDOW`: their mean and median in Å and the
        share of traces with a snapshot in the window, ``traces_in_window``, in all and per
        temperature; the median elongation step between the store's snapshots,
        ``snapshot_spacing_A``, sets their resolution), the traces that break
        (``traces_broken``: G falls through
        :data:`~vlab.conductance.displacement.BREAK_THRESHOLD`) and the median elongation at
        which they do (``rupture_elongation_median_A``), in all and per temperature, and
        ``files``. Plateau lengths, ruptures and the conductance-displacement histogram count
        stretches (:func:`stretch_traces`; ``stretches``): one per trace, unless the MD ran
        several stretch-compress cycles. ``summary_json`` names the JSON file written.
    """
    from vlab.conductance import (
        histogram_peak,
        plateau_length,
        plot_histogram,
        plot_plateau_lengths,
        plot_traces,
    )
    from vlab.conductance.displacement import BREAK_THRESHOLD
    from vlab.conductance.histogram import PLATEAU_WINDOW, plot_histogram_comparison

    traces = conductance_traces(store)
    if not traces:
        raise InputError(f"The store {str(store)!r} has no done snapshots to plot.")
    out = _output_folder(out_dir)
    all_g = np.concatenate([t["conductance"] for t in traces.values()])
    name = Path(store).stem
    shown = list(traces.values())[:max_traces]
    files = {
        "histogram": plot_histogram(
            all_g,
            out / f"{name}-histogram.png",
            title=f"{name}: {len(traces)} traces, {all_g.size} snapshots",
        ),
        "histogram_log": plot_histogram(
            all_g, out / f"{name}-histogram-log.png", log=True, title=f"{name} (log axis)"
        ),
        "traces": plot_traces(
            [t["elongation"] for t in shown],
            [t["conductance"] for t in shown],
            out / f"{name}-traces.png",
            offset=1.0,
            title=f"{name}: conductance traces"
            + (f" (the first {len(shown)} of {len(traces)})" if len(shown) < len(traces) else ""),
            labels=[f"{t['temperature']:g} K" for t in shown],
        ),
    }
    summary: dict[str, Any] = {
        "store": str(store),
        "traces": len(traces),
        "snapshots": int(all_g.size),
        "histogram_peak_G0": peak_or_none(all_g, histogram_peak),
    }
    per_temperature = {}
    for temp in sorted({t["temperature"] for t in traces.values()}):
        g = np.concatenate([t["conductance"] for t in traces.values() if t["temperature"] == temp])
        summary[f"histogram_peak_G0_{temp:g}K"] = peak_or_none(g, histogram_peak)
        per_temperature[f"{temp:g} K, {g.size:,} snapshots"] = g
    opening = stretch_traces(traces.values())  # each stretch of a cycled trace on its own
    counted = f"{len(traces)} traces" + (
        f" ({len(opening)} stretches)" if len(opening) != len(traces) else ""
    )
    summary["stretches"] = len(opening)
    lengths: dict[str, list[float]] = {}
    for t in opening:
        length = plateau_length(t["elongation"], t["conductance"])
        lengths.setdefault(f"{t['temperature']:g} K", []).append(length)
    steps = [np.diff(t["elongation"]) for t in traces.values() if t["elongation"].size > 1]
    summary["plateau_window_G0"] = list(PLATEAU_WINDOW)
    summary["snapshot_spacing_A"] = (
        round(float(np.median(np.concatenate(steps))), 3) if steps else None
    )
    summary |= _plateau_summary(lengths)
    files["plateaus"] = plot_plateau_lengths(
        lengths,
        out / f"{name}-plateaus.png",
        window=PLATEAU_WINDOW,
        title=f"{name}: single-atom plateau lengths\n{counted}"
        + (f", snapshots every {summary['snapshot_spacing_A']:g} Å" if steps else ""),
    )
    summary |= _rupture_summary(opening)
    files["histogram_displacement"] = _displacement_figure(
        {"": opening},
        len(traces),
        out / f"{name}-histogram-displacement.png",
        f"{name}: conductance against displacement from the break "
        f"(G falls through {BREAK_THRESHOLD:g} G0)",
    )
    if len(per_temperature) > 1:
        files["histogram_temperatures"] = plot_histogram_comparison(
            per_temperature,
            out / f"{name}-histogram-temperatures.png",
            title=f"{name}: conductance histogram per temperature",
        )
    summary["files"] = {k: str(v) for k, v in files.items()}
    summary["summary_json"] = str(out / f"{name}-summary.json")
    (out / f"{name}-summary.json").write_text(report_json(summary) + "\n")
    return summary


def _rupture_summary(traces) -> dict[str, Any]:
    """How many traces break and the median elongation at which they do (Å), in all and, for
    several temperatures, per temperature."""
    from vlab.conductance import rupture_elongation

    at: dict[str, list[float | None]] = {}
    for t in traces:
        key = "" if t["temperature"] is None else f"_{t['temperature']:g}K"
        at.setdefault(key, []).append(rupture_elongation(t["elongation"], t["conductance"]))
    parts = [("", [x for v in at.values() for x in v])]
    if len(at) > 1:
        parts += list(at.items())
    out: dict[str, Any] = {}
    for suffix, values in parts if at else []:
        broke = [x for x in values if x is not None]
        out[f"traces_broken{suffix}"] = len(broke)
        out[f"rupture_elongation_median_A{suffix}"] = (
            round(float(np.median(broke)), 3) if broke else None
        )
    return out


def _plateau_summary(lengths: Mapping[str, list[float]]) -> dict[str, float]:
    """Mean and median plateau length (Å) and the share of traces ever in the window, of
    all traces and, for several temperatures (labels ``"4 K"``, ...), of each."""
    out: dict[str, float] = {}
    every = np.concatenate([np.asarray(v, dtype=float) for v in lengths.values()])
    parts = [("", every)]
    if len(lengths) > 1:
        parts += [(f"_{k.removesuffix(' K')}K", np.asarray(v)) for k, v in lengths.items()]
    for suffix, values in parts:
        if values.size:
            out[f"plateau_length_mean_A{suffix}"] = round(float(values.mean()), 3)
            out[f"plateau_length_median_A{suffix}"] = round(float(np.median(values)), 3)
            out[f"traces_in_window{suffix}"] = round(float(np.mean(values > 0)), 3)
    return out


def _row_traces(trace, order, elongation, temperature, conductance) -> list[dict[str, Any]]:
    """The stretches (:func:`stretch_traces`) of the traces of a store's snapshots (trace
    numbers, snapshot order, elongations, temperatures or None) with the conductances
    ``conductance`` (a reference's, or a surrogate's predictions); non-finite ones left out."""
    traces = []
    for k in np.unique(trace):
        rows = np.flatnonzero(trace == k)
        rows = rows[np.argsort(order[rows], kind="stable")]
        g, x = conductance[rows], elongation[rows]
        keep = np.isfinite(g) & np.isfinite(x)
        temp = None if temperature is None else float(temperature[rows[0]])
        traces.append({"elongation": x[keep], "conductance": g[keep], "temperature": temp})
    return stretch_traces(traces)


def _label(t: Mapping[str, Any]) -> str:
    return "all" if t["temperature"] is None else f"{t['temperature']:g} K"


def _plateau_summary_of(stretches: list[dict[str, Any]]) -> dict[str, float]:
    """:func:`_plateau_summary` of the plateau lengths of stretches (by temperature)."""
    from vlab.conductance import plateau_length

    lengths: dict[str, list[float]] = {}
    for t in stretches:
        lengths.setdefault(_label(t), []).append(plateau_length(t["elongation"], t["conductance"]))
    return _plateau_summary(lengths) if lengths else {}


def _trace_plateaus(trace, order, elongation, temperature, conductance) -> dict[str, float]:
    """:func:`_plateau_summary_of` the stretches of :func:`_row_traces`."""
    return _plateau_summary_of(_row_traces(trace, order, elongation, temperature, conductance))


def stretch_traces(traces: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each stretch of each trace (:func:`~vlab.conductance.stretches`) as a trace of its own:
    ``elongation``, ``conductance`` and ``temperature``. A trace of one stretch stays as it is;
    the compressions of a trace of several stretch-compress cycles are left out."""
    from vlab.conductance import stretches

    out = []
    for t in traces:
        for run in stretches(t["elongation"]):
            out.append(
                {
                    "elongation": t["elongation"][run],
                    "conductance": t["conductance"][run],
                    "temperature": t["temperature"],
                }
            )
    return out


def peak_or_none(values: np.ndarray, func, structures: int | None = None) -> float | None:
    """``func(values)`` rounded to 0.001 G0 (a peak), or None where it has too few values: the
    ``structures`` they come from (by default one value each) are fewer than
    ``PLOT_MIN_STRUCTURES``, or too few lie above the tunnelling tail."""
    if (np.size(values) if structures is None else structures) < PLOT_MIN_STRUCTURES:
        return None
    try:
        return round(float(func(values)), 3)
    except (ValueError, InputError):  # too few snapshots above the tunnelling tail
        return None


def _output_folder(out_dir: str | os.PathLike) -> Path:
    """``out_dir``, made if needed; an :class:`InputError` if it is a file or under one."""
    out = Path(out_dir)
    blocker = next((p for p in (out, *out.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        what = "is an existing file" if blocker == out else f"is under the file {str(blocker)!r}"
        raise InputError(f"The output folder {str(out)!r} {what}; give a folder.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def labelled_structures(
    name_or_path: str | os.PathLike,
) -> tuple[list, np.ndarray, np.ndarray, str]:
    """Structures, reference conductances and trace numbers of a reference store.

    Raises
    ------
    InputError
        If the store has no structures and conductances, or if its conductances are a
        surrogate's predictions (a ``conductance-surrogate`` store), not reference labels.
    """
    path = catalog.locate(name_or_path)
    ds = catalog.open_store(path)
    _refuse_predictions(ds, str(path))
    if "structure_positions" not in ds or "conductance" not in ds or "status" not in ds:
        raise InputError(
            f"The store {str(name_or_path)!r} is not a conductance-reference store of "
            "structures (it needs structure_*, conductance and status variables)."
        )
    n_items = ds.sizes["item"]
    ds = catalog.select(ds, status="done").load()
    if ds.sizes["item"] == 0:
        raise InputError(
            f"The store {str(name_or_path)!r} has no done snapshots ({n_items} items, none "
            "labelled yet): run its campaign first (vlab status shows it)."
        )
    structures = catalog.decode_structures(ds, prefix="structure_")
    traces = ds["trace"].values if "trace" in ds else np.arange(len(structures))
    return structures, ds["conductance"].values.astype(float), traces, path.stem


def _refuse_predictions(ds, where: str) -> None:
    if ds.attrs.get("kind") == "conductance-surrogate":
        raise InputError(
            f"The store {where!r} holds a surrogate's predictions (a conductance-surrogate "
            "store), not reference labels: training or scoring on them would measure one "
            "model against another. Give a conductance-reference store."
        )


def store_reference(name_or_path: str | os.PathLike) -> dict[str, Any] | None:
    """The reference calculator that labelled a ``conductance-reference`` store (catalog name
    or path): its ``id``, ``version`` and ``params`` as the store records them; None if it
    records none (a store not written by a ``conductance-reference`` campaign).

    Examples
    --------
    >>> store_reference("au-spd-small")["id"]
    'eht-spd'
    >>> reference_name(store_reference("au-sband-small"))
    'sband-tb v1'
    """
    return _reference_of(catalog.open_store(catalog.locate(name_or_path)))


def _reference_of(ds) -> dict[str, Any] | None:
    if ds.attrs.get("kind") != "conductance-reference":
        return None
    try:
        identity = json.loads(ds.attrs.get("calculator") or "null")
    except (TypeError, ValueError):
        return None
    if not isinstance(identity, Mapping) or "id" not in identity:
        return None
    return {k: v for k, v in identity.items() if k != "energies"}  # energies: extra outputs


def campaign_reference(params: Mapping[str, Any]) -> dict[str, Any]:
    """The reference calculator (as :func:`store_reference` gives it) that a
    ``conductance-reference`` campaign with parameters ``params`` computes."""
    from vlab.campaign import get_kind

    kind = get_kind("conductance-reference")
    identity = kind.identify(kind.check_params(dict(params)))
    return {k: v for k, v in json.loads(json.dumps(identity)).items() if k != "energies"}


def reference_name(identity: Mapping[str, Any]) -> str:
    """A reference calculator in a few words: its id, version and named parameter set, e.g.
    ``eht-spd v2 (au-tail)``."""
    params = identity.get("params") or {}
    named = params.get("parameters") if isinstance(params, Mapping) else None
    text = f"{identity.get('id')} v{identity.get('version')}"
    return f"{text} ({named})" if isinstance(named, str) else text


def same_reference(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two reference identities (:func:`store_reference`) are the same calculation:
    the same id, version and parameters."""

    def canonical(identity: Mapping[str, Any]) -> str:
        keep = {k: v for k, v in identity.items() if k != "energies"}
        return json.dumps(keep, sort_keys=True, default=str)

    return canonical(a) == canonical(b)


def same_method(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two reference identities are the same calculator (id and version), whatever
    their parameters."""
    return (a.get("id"), str(a.get("version"))) == (b.get("id"), str(b.get("version")))


def parameter_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """The parameters in which two identities of one calculator differ, in words, e.g.
    ``eta 1e-06 against 2e-06`` (a nested table: ``values differ``)."""
    pa, pb = a.get("params") or {}, b.get("params") or {}
    words = []
    for key in sorted(set(pa) | set(pb), key=str):
        x, y = pa.get(key), pb.get(key)
        if json.dumps(x, sort_keys=True, default=str) == json.dumps(y, sort_keys=True, default=str):
            continue
        if isinstance(x, Mapping) or isinstance(y, Mapping):
            words.append(f"{key} differ")
        else:
            words.append(f"{key} {x} against {y}")
    return ", ".join(words)


def one_reference(stores: list[str], what: str) -> dict[str, Any] | None:
    """The reference calculator shared by ``stores`` (the first store's; None if none records
    one). Stores labelled by one calculator with different parameters (e.g. another
    broadening ``eta``) are accepted with a ``UserWarning`` that names the differences.

    Raises
    ------
    InputError
        If two stores were labelled by different calculators (e.g. s-band and spd): a model
        would learn a mix of them. The message names each store's reference; ``what`` says
        what the stores are for (e.g. "training stores").
    """
    known = [(name, ident) for name in stores if (ident := store_reference(name)) is not None]
    if not known:
        return None
    first_name, first = known[0]
    if not all(same_method(first, ident) for _, ident in known[1:]):
        listed = "; ".join(f"{name!r}: {reference_name(ident)}" for name, ident in known)
        raise InputError(
            f"The {what} were labelled by different reference calculators ({listed}). A "
            "surrogate learns one reference: give stores of one reference (one model per "
            "reference)."
        )
    for name, ident in known[1:]:
        if not same_reference(first, ident):
            warnings.warn(
                f"The {what} {first_name!r} and {name!r} were labelled by "
                f"{reference_name(first)} with different parameters "
                f"({parameter_differences(first, ident)}): the model learns both.",
                UserWarning,
                stacklevel=2,
            )
    return first


def _model_file_report(path: str | os.PathLike) -> dict[str, Any]:
    """The ``.report.json`` beside a model file (``vlab conductance train``, the rounds of
    ``vlab conductance learn``) as a dict; empty if there is none or it cannot be read."""
    try:
        report = json.loads(Path(path).with_suffix(".report.json").read_text())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _model_reference(described: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reference a surrogate learned, as :func:`load_surrogate` describes it: a shipped
    model's manifest ``reference_calculator``, or a model file's ``.report.json``
    ``reference``; None if unknown."""
    from vlab.conductance import shipped_model_info
    from vlab.conductance.shipped import shipped_model_name

    shipped = described.get("shipped") or shipped_model_name(described.get("path", ""))
    if shipped is not None:
        found = shipped_model_info(shipped).get("reference_calculator")
    else:
        found = _model_file_report(str(described.get("path", ""))).get("reference")
    return dict(found) if isinstance(found, Mapping) and "id" in found else None


def model_residuals(model: str | os.PathLike) -> Any:
    """The held-out residuals of a surrogate, for predictive draws, or None if it has none
    (an :class:`~vlab.errors.InputError` if ``model`` names no shipped model and no file).

    ``model`` is a shipped model's name (its manifest's residuals, on validation traces) or
    the path of a model file: then the residuals that its ``.report.json`` records (``vlab
    conductance train``: the held-out traces; ``vlab conductance learn``: the loop's
    validation stores), if that report is of this very file (its ``model_sha256``; a report
    left beside a replaced model file gives none, with a ``UserWarning``).

    Returns
    -------
    ConditionalResiduals or None
        ``sample(predicted)`` draws the reference's spread around new predictions; the
        histogram of the draws is the surrogate's estimate of the reference histogram.

    Examples
    --------
    >>> model_residuals("spd-headline").sample([0.9], draws=3, rng=0).shape
    (3,)
    """
    from vlab.conductance import ConditionalResiduals, load_shipped_residuals, shipped_models
    from vlab.conductance.shipped import file_sha256, shipped_model_name

    shipped = str(model) if str(model) in shipped_models() else shipped_model_name(model)
    if shipped is not None:
        try:
            return load_shipped_residuals(shipped)
        except InputError:  # a shipped model without recorded residuals
            return None
    path = Path(model)
    if not path.is_file():
        from vlab.errors import did_you_mean

        names = sorted(shipped_models())
        raise InputError(
            f"model_residuals: {str(model)!r} is neither a shipped model ({', '.join(names)}) "
            "nor a model file." + did_you_mean(str(model), names)
        )
    report = _model_file_report(path)
    if "residuals" not in report or "model_sha256" not in report:
        return None
    recorded, kept = report["residuals"], report["model_sha256"]
    if not path.is_file() or file_sha256(path) != kept:
        warnings.warn(
            f"The report {path.with_suffix('.report.json').name!r} beside the model "
            f"{str(path)!r} is of another model file (sha256 differs): its held-out "
            "residuals are not used (no predictive draws).",
            UserWarning,
            stacklevel=2,
        )
        return None
    try:
        return ConditionalResiduals.from_dict(recorded)
    except (InputError, KeyError, TypeError, ValueError):  # a damaged record
        return None


def _is_predict_report(path: Path) -> bool:
    """Whether ``path`` holds a report that :func:`predict_conductance` wrote (which it may
    replace): a JSON object of exactly ``model`` and ``sources``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(data) == {"model", "sources"}


def _few_residuals(residuals: Any, words: str) -> str | None:
    """A warning when ``residuals`` (of the model ``words``) are too few for a smooth
    predictive histogram (fewer than ``RESIDUALS_FEW``)."""
    if residuals is None or residuals.reference.size >= RESIDUALS_FEW:
        return None
    return (
        f"The predictive draws of {words} rest on {residuals.reference.size} held-out "
        f"residuals; with fewer than {RESIDUALS_FEW} each bin of predictions borrows the "
        "residuals of distant ones and the predictive histogram is rough (its peak can be off "
        "by 0.1 G0 or more). Hold out more traces when training (--holdout), or give a "
        "learning loop more validation snapshots."
    )


def _predictive(described: Mapping[str, Any]) -> tuple[Any, set[str], str | None]:
    """For a surrogate as :func:`load_surrogate` describes it: its held-out residuals
    (:func:`model_residuals`, or None), the keys of the held-out snapshots they came from
    (a model file's report, :func:`_listed`; empty if unknown) and the few-residuals
    warning, if any (also issued as a ``UserWarning``)."""
    from vlab.conductance.shipped import shipped_model_name

    residuals = model_residuals(described.get("shipped") or described["path"])
    shipped = described.get("shipped") or shipped_model_name(described["path"])
    listed = None if shipped else _listed(_model_file_report(described["path"]), "residual")
    held_out = listed or set()
    few = _few_residuals(residuals, _model_words(described))
    if few:
        warnings.warn(few, UserWarning, stacklevel=3)
    return residuals, held_out, few


def _residual_overlap(known: set[str], source: str, items: list[tuple[str, str]]) -> str | None:
    """A warning if some of ``items`` (a store's, :func:`_item_keys`) are the held-out
    snapshots whose residuals the predictive draws use: the predictive histogram there is not
    independent."""
    seen = sum(not known.isdisjoint(keys) for keys in items)
    if not seen:
        return None
    return (
        f"{seen} of the {len(items)} structures of {source!r} are the held-out snapshots "
        "whose residuals the predictive draws use: the predictive peak there is not an "
        "independent estimate."
    )


def _model_words(described: Mapping[str, Any]) -> str:
    if "shipped" in described:
        return f"the {described['shipped']} model"
    return f"the model {Path(str(described.get('path', 'model'))).name}"


def _reference_warning(model_ref, store_ref, source: str, model: str) -> str | None:
    """A warning if ``source`` was labelled by another reference than the model learned."""
    if model_ref is None or store_ref is None or same_reference(model_ref, store_ref):
        return None
    if same_method(model_ref, store_ref):
        other = (
            f"{reference_name(store_ref)} with other parameters than {model} learned "
            f"({parameter_differences(model_ref, store_ref)})"
        )
    else:
        other = f"{reference_name(store_ref)}, but {model} learned {reference_name(model_ref)}"
    return (
        f"The reference conductances of {source!r} come from {other}: R² and MAE against "
        "them compare two references, not the model's accuracy."
    )


def _done_input_hashes(name_or_path: str | os.PathLike) -> list[str]:
    """Input hashes of the done items of a store, in the order of :func:`labelled_structures`
    (empty if the store records none)."""
    ds = catalog.select(catalog.open_store(catalog.locate(name_or_path)), status="done")
    return [str(h) for h in ds["input_hash"].values] if "input_hash" in ds else []


def structure_keys(structures: Iterable[Any]) -> list[str]:
    """A key per structure (the first ``LABEL_HASH_CHARS`` hex characters of a hash of its
    atomic numbers, tags, cell and positions to 1e-4 Å): the same snapshot gets the same key
    in any store, whichever reference labelled it, so a model's reports list their training
    and held-out snapshots by these keys."""
    import hashlib

    keys = []
    for atoms in structures:
        digest = hashlib.sha256()
        for part in (
            np.asarray(atoms.numbers, dtype=np.int64),
            np.asarray(atoms.get_tags(), dtype=np.int64),
            np.round(np.asarray(atoms.cell[:], dtype=np.float64), 4) + 0.0,
            np.round(np.asarray(atoms.positions, dtype=np.float64), 4) + 0.0,
        ):
            digest.update(np.ascontiguousarray(part).tobytes())
        keys.append(digest.hexdigest()[:LABEL_HASH_CHARS])
    return keys


def _item_keys(hashes: list[str] | None, structures: list) -> list[tuple[str, str]]:
    """For each item of a store: its input hash (shortened; empty if the store records none)
    and its structure key, either of which a model's report may list."""
    short = [str(h)[:LABEL_HASH_CHARS] for h in hashes] if hashes else [""] * len(structures)
    return list(zip(short, structure_keys(structures), strict=True))


def _listed(report: Mapping[str, Any], what: str) -> set[str] | None:
    """The keys a model file's report lists for its ``what`` (``training``, ``residual``)
    snapshots: structure keys, and the input hashes earlier reports listed; None if none."""
    found = None
    for key in (f"{what}_structure_keys", f"{what}_input_hashes"):
        listed = report.get(key)
        if isinstance(listed, list):
            found = (found or set()) | {str(h) for h in listed}
    return found


def labelled_temperatures(name_or_path: str | os.PathLike) -> np.ndarray:
    """MD temperatures (K) of the snapshots of a reference store, in the order of
    :func:`labelled_structures` (its done items).

    Raises
    ------
    InputError
        If the store has no ``temperature`` variable.
    """
    path = catalog.locate(name_or_path)
    ds = catalog.select(catalog.open_store(path), status="done")
    if "temperature" not in ds:
        raise InputError(
            f"The store {str(path)!r} records no temperature per snapshot; give a "
            "conductance-reference store made from break-junction MD traces."
        )
    return ds["temperature"].values.astype(float)


def _parity(ax, y, p, title: str) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score

    r2, mae = float(r2_score(y, p)), float(mean_absolute_error(y, p))
    top = max(1.5, float(np.max(y)) * 1.05)
    ax.scatter(y, p, s=6, alpha=0.6)
    ax.plot([0, top], [0, top], "k--", lw=1)
    ax.set(
        xlabel="reference G (G0)",
        ylabel="surrogate G (G0)",
        title=f"{title}\nR² {r2:.3f}, MAE {mae:.3f} G0",
    )
    return {"r2": round(r2, 4), "mae_G0": round(mae, 4), "n": len(y)}


def train_surrogate(
    names: list[str],
    model_path: str | os.PathLike,
    *,
    holdout: float = 0.25,
    seed: int = 0,
    preset: str = "default",
    params: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    estimator: str = "local",
    progress: bool = True,
    overwrite: bool = True,
) -> dict:
    """Train a surrogate on reference stores, holding out whole traces.

    Writes the model, ``MODEL.report.json`` and ``MODEL.parity.png`` (held-out traces). The
    report lists the training items' input hashes (their first ``LABEL_HASH_CHARS``
    characters), by which ``predict`` and ``validate`` recognise training labels, the
    reference calculator of the stores (``reference``), by which they recognise stores
    labelled by another, and, with at least ``RESIDUALS_MIN`` held-out snapshots, their
    residuals (``residuals``: a :class:`~vlab.conductance.ConditionalResiduals`, with the
    model file's ``model_sha256`` and the held-out items' input hashes), from which
    ``predict``, ``validate`` and ``experiment`` draw the predictive histogram
    (:func:`model_residuals`); stores labelled by different calculators are refused
    (:func:`one_reference`). With ``estimator="local"`` the model is
    :meth:`ConductanceSurrogate.from_preset` of ``preset`` with ``params`` (estimator
    parameters by their own names; ``descriptor_settings`` as a mapping) on top; ``n_jobs`` is
    the number of processes that train the members at once (the model does not depend on it). With
    ``estimator="bottleneck"`` it is :meth:`BottleneckSurrogate.from_params` of ``params``
    (fast, for junctions like the training ones; no presets). ``random_state`` is ``seed``
    (a ``random_state`` in ``params`` is refused). Stores are given once each; a snapshot in
    several of them (the same structure) is used once, and the traces that share snapshots
    are held out together (a warning says how many). ``progress``: a progress bar over the
    members of the local estimator as they finish training (its ``verbose``).
    ``overwrite=False`` refuses, before any work, a ``model_path`` that exists (``vlab
    conductance train`` without ``--force``).
    """
    from matplotlib.figure import Figure

    from vlab.conductance import BottleneckSurrogate, ConditionalResiduals, ConductanceSurrogate
    from vlab.conductance.shipped import file_sha256

    if "random_state" in (params or {}):
        raise InputError(
            "The estimator's random_state is the seed of the split and the ensemble: give "
            f"seed {params['random_state']!r} (--seed; model.train.seed in an experiment "
            "spec) instead of a random_state parameter."
        )
    if estimator == "bottleneck":
        if preset != "default":
            raise InputError(
                f"Presets are settings of the local-descriptor estimator; the bottleneck "
                f"estimator takes parameters only (--set NAME=VALUE). Got preset {preset!r}."
            )
        model = BottleneckSurrogate.from_params({"random_state": seed, **dict(params or {})})
    elif estimator == "local":
        given = {"random_state": seed, "verbose": int(progress), **dict(params or {})}
        model = ConductanceSurrogate.from_preset(preset, **given, n_jobs=n_jobs)
    else:
        raise InputError(
            f"The estimator must be 'local' (SOAP descriptors, networks) or 'bottleneck' "
            f"(bottleneck features, boosted trees). Got {estimator!r}."
        )
    if not 0 < holdout < 1:
        raise InputError(
            f"The holdout fraction must be between 0 and 1, both excluded (the held-out traces "
            f"score the model and give its residuals). Got {holdout}."
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"The seed must be an integer >= 0. Got {seed!r}.")
    target = Path(model_path)
    target = target if target.suffix == ".npz" else target.with_name(target.name + ".npz")
    if target.exists() and not overwrite:
        raise InputError(
            f"The model file {str(target)!r} exists; give another --model path, or --force "
            "to replace it (and its .report.json and .parity.png)."
        )
    _refuse_twice(names, "training store")
    reference = one_reference(list(names), "training stores")
    parts = [labelled_structures(n) for n in names]
    structures = [s for p in parts for s in p[0]]
    y = np.concatenate([p[1] for p in parts])
    groups = np.concatenate([[f"{p[3]}:{t}" for t in p[2]] for p in parts])
    keys = np.array(structure_keys(structures))  # for predict and validate to recognise them
    first, groups, shared = _shared_snapshots(keys, groups)
    if shared:
        warnings.warn(
            f"{shared} snapshot(s) are in more than one training store (or twice in one): each "
            "is trained on or held out once, and the traces that share snapshots are held "
            "out together.",
            UserWarning,
            stacklevel=2,
        )
        structures = [s for s, keep in zip(structures, first, strict=True) if keep]
        y, groups, keys = y[first], groups[first], keys[first]
    unique = np.random.default_rng(seed).permutation(np.unique(groups))
    n_test = max(1, round(holdout * len(unique)))
    if n_test >= len(unique):
        raise InputError(
            f"The holdout fraction {holdout} holds out {n_test} of the {len(unique)} trace(s) "
            "of the training stores, leaving none to train on: "
            + (
                "give more traces (one to train on and one held out at the least)."
                if len(unique) < 2
                else f"give a fraction below {(len(unique) - 0.5) / len(unique):.3g}."
            )
        )
    test_groups = set(unique[:n_test])
    test = np.array([g in test_groups for g in groups])
    few = None
    if n_test < HELD_OUT_FEW:
        few = (
            f"The held-out scores rest on {n_test} trace(s) ({int(test.sum())} snapshots): "
            "snapshots of one trace are alike, so R² and MAE are rough estimates. Hold out "
            "more traces (--holdout) or train on stores of more traces."
        )
        warnings.warn(few, UserWarning, stacklevel=2)
    model.fit([s for s, t in zip(structures, test, strict=True) if not t], y[~test])
    pred = model.predict([s for s, t in zip(structures, test, strict=True) if t])
    fig = Figure(figsize=(4.5, 4.5), layout="constrained")
    metrics = _parity(fig.add_subplot(), y[test], pred, "held-out traces")
    model_path = model.save(model_path)
    fig.savefig(model_path.with_suffix(".parity.png"), dpi=120)
    if estimator == "local":
        described = {
            "preset": preset,
            "params": {
                k: v
                for k, v in model.non_default_params().items()
                if k not in ("n_jobs", "verbose")
            },
            "electrode_coupling": bool(model.electrode_coupling),
            "bootstrap": bool(model.bootstrap),
        }
    else:
        given = {"random_state": seed, **dict(params or {})}
        described = {"params": {k: v for k, v in given.items() if k != "settings"}}
        described["settings"] = model.settings_.to_dict()
    report = {
        "model": str(model_path),
        "estimator": estimator,
        "training_stores": names,
        **({} if reference is None else {"reference": reference}),
        **described,
        "n_train": int((~test).sum()),
        "held_out_traces": len(test_groups),
        "held_out": metrics,
        **({"warning": few} if few else {}),
        "parity_png": str(model_path.with_suffix(".parity.png")),
    }
    if shared:
        report["shared_snapshots"] = shared
    report["training_structure_keys"] = sorted(set(keys[~test].tolist()))
    report["model_sha256"] = file_sha256(model_path)
    if test.sum() >= RESIDUALS_MIN:  # the spread of the reference around new predictions
        report["residuals"] = ConditionalResiduals(pred, y[test]).to_dict()
        report["residual_structure_keys"] = sorted(set(keys[test].tolist()))
    model_path.with_suffix(".report.json").write_text(report_json(report) + "\n")
    return report


def _refuse_twice(names: Sequence[str], what: str, why: str = "give each once") -> None:
    """An :class:`InputError` naming the first of ``names`` given twice (and ``why``)."""
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise InputError(f"The {what} {twice!r} is given twice; {why}.")


def _shared_snapshots(keys: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Snapshots labelled twice (the same structure key, e.g. one trace in two stores): the
    mask of the first of each, the trace groups with those that share a snapshot merged into
    one (so the copies of a trace are held out together), and how many rows are copies."""
    _, index = np.unique(keys, return_index=True)
    first = np.zeros(len(keys), dtype=bool)
    first[index] = True
    parent = {g: g for g in groups.tolist()}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    seen: dict[str, str] = {}
    for key, group in zip(keys.tolist(), groups.tolist(), strict=True):
        if key in seen:
            parent[root(group)] = root(seen[key])
        else:
            seen[key] = group
    return first, np.array([root(g) for g in groups.tolist()]), int((~first).sum())


def validate_surrogate(
    model_path: str | os.PathLike,
    names: list[str],
    out_dir: str | os.PathLike,
    *,
    progress: bool = True,
) -> dict:
    """R², MAE and a parity plot of a surrogate against each reference store: a saved model
    file, or a shipped model by name (``spd-headline``, ``spd-bottleneck``).

    Writes ``validation.json`` and ``validation-parity.png`` in ``out_dir``. For a shipped
    model, or a model file whose ``.report.json`` lists its training labels (``vlab
    conductance train``, the rounds of ``vlab conductance learn``), each store's entry counts
    its ``training_labels`` and, if there are any, warns that R² and MAE there measure the
    fit. Each entry has the histogram peaks of the point predictions and of the reference
    and, for a model with held-out residuals (:func:`model_residuals`), of the predictive
    draws (``peak_predictive_G0``). ``progress``: a progress bar (tqdm, on stderr) over the
    structures of each store of
    more than ``PREDICT_CHUNK`` of them, featurised (SOAP descriptors, or bottleneck features)
    that many at a time and then predicted in one call, so the predictions are those of one
    call bit for bit; the bar reaches the end when the predictions are made. A store labelled
    by another reference calculator than the model learned gets a ``warning`` (also issued as
    a ``UserWarning``); a store of a surrogate's predictions is refused.
    """
    from matplotlib.figure import Figure

    from vlab.conductance import histogram_peak

    model, described = load_surrogate(model_path)
    known = _model_training_labels(described)
    learned = _model_reference(described)
    residuals, held_out, few = _predictive(described)
    _refuse_twice(names, "store")
    loaded = [labelled_structures(name) for name in names]  # every store checked first
    out = _output_folder(out_dir)
    fig = Figure(figsize=(4.5 * len(names), 4.5), layout="constrained")
    report: dict[str, Any] = {"model": str(model_path), "stores": {}}
    if learned is not None:
        report["model_reference"] = reference_name(learned)
    if few:
        report["predictive_warning"] = few
    for k, (name, (structures, y, _, stem)) in enumerate(zip(names, loaded, strict=True)):
        pred = _featurise_in_chunks_then_predict(model, structures, stem, progress)
        entry = _parity(fig.add_subplot(1, len(names), k + 1), y, pred, stem)
        report["stores"][name] = entry
        entry["peak_surrogate_G0"] = peak_or_none(pred, histogram_peak)
        if residuals is not None:
            draws = residuals.sample(pred, draws=PREDICTIVE_DRAWS, rng=0)
            entry["peak_predictive_G0"] = peak_or_none(draws, histogram_peak, len(pred))
        entry["peak_reference_G0"] = peak_or_none(y, histogram_peak)
        labelled_by = store_reference(name)
        if labelled_by is not None:
            entry["reference"] = reference_name(labelled_by)
        found = [_reference_warning(learned, labelled_by, name, _model_words(described))]
        items = _item_keys(_done_input_hashes(name), structures) if known or held_out else []
        if known is not None:
            entry["training_labels"], overlap = _training_overlap(known, name, items)
            found.append(overlap)
        if residuals is not None and held_out:
            found.append(_residual_overlap(held_out, name, items))
        for warning in filter(None, found):
            warnings.warn(warning, UserWarning, stacklevel=2)
        if any(found):
            entry["warning"] = " ".join(filter(None, found))
    fig.savefig(out / "validation-parity.png", dpi=120)
    report["parity_png"] = str(out / "validation-parity.png")
    (out / "validation.json").write_text(report_json(report) + "\n")
    return report


def _featurise_in_chunks_then_predict(model, structures: list, desc: str, progress: bool):
    """``model.predict(structures)`` under a progress bar: the features of ``PREDICT_CHUNK``
    structures at a time (each structure's do not depend on the others), then one prediction
    from all of them. Predicting in chunks would not give the numbers of one call: the
    network's single-precision matrix products depend on how the rows are grouped."""
    from vlab._utils import progress_bar as tqdm
    from vlab.conductance import BottleneckSurrogate, bottleneck_features, compute_descriptors

    if not structures:
        return model.predict(structures)  # its own error
    if isinstance(model, BottleneckSurrogate):  # a feature array

        def featurise(chunk):
            return bottleneck_features(chunk, model.settings_)

        def join(parts):
            return np.concatenate(parts)
    else:  # a list of LocalDescriptors

        def featurise(chunk):
            return compute_descriptors(chunk, model.descriptor_settings_)

        def join(parts):
            return [d for part in parts for d in part]

    n, parts = len(structures), []
    show = progress and n > PREDICT_CHUNK
    with tqdm(total=n, desc=str(desc), unit="structure", disable=not show) as bar:
        for start in range(0, n, PREDICT_CHUNK):
            parts.append(featurise(structures[start : start + PREDICT_CHUNK]))
            if start + PREDICT_CHUNK < n:  # the last chunk counts once predicted
                bar.update(PREDICT_CHUNK)
        bar.set_postfix_str("predicting")
        pred = model.predict(join(parts))
        bar.set_postfix_str("", refresh=False)
        bar.update(n - bar.n)
    return pred


def load_surrogate(model: str | os.PathLike):
    """A surrogate from a shipped model name (e.g. ``spd-headline``, checksum checked) or the
    path of a ``.npz`` file written by ``ConductanceSurrogate.save`` or
    ``BottleneckSurrogate.save``, and its description."""
    from vlab.conductance import load_shipped_model, shipped_models
    from vlab.conductance.shipped import load_model_file

    shipped = shipped_models()
    if str(model) in shipped:
        return load_shipped_model(str(model)), {"shipped": str(model)}
    path = Path(model)
    if not path.is_file():
        missing = "" if "spd-headline" in shipped else (
            " (The spd-headline model file is missing from this installation; "
            "benchmarks/train_headline.py makes it.)"
        )  # fmt: skip
        raise InputError(
            f"The model {str(model)!r} is neither a shipped surrogate "
            f"({', '.join(shipped) or 'none'}) nor an existing .npz file written by "
            f"vlab conductance train.{missing}" + did_you_mean(model, shipped)
        )
    return load_model_file(path), {"path": str(path)}


class _Source(NamedTuple):
    """What :func:`predict_conductance` reads of a source (None: the source has no such)."""

    structures: list
    reference: np.ndarray | None = None
    hashes: list[str] | None = None
    temperature: np.ndarray | None = None
    calculator: dict[str, Any] | None = None  # the reference that labelled the store
    traces: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # trace, order, elongation


def _input_structures(source: str) -> _Source:
    """Structures of a store (catalog name or path) or of a structure file (ase.io.read, e.g.
    extended XYZ with tags and ``lead_period``), and the store's reference conductances, input
    hashes and MD temperatures."""
    path = Path(source)
    if path.is_file():
        from ase.io import read

        try:
            structures = list(read(path, index=":"))
        except Exception as err:  # ase raises many kinds for unreadable files
            raise InputError(
                f"Could not read structures from {source!r} ({type(err).__name__}: {err}). "
                "Give a structure file that ase.io.read understands (e.g. extended XYZ with "
                "tags and lead_period), or a store with structure_* variables."
            ) from None
        _check_junctions(structures, source)
        return _Source(structures)
    location = catalog.as_location(source)
    if not catalog.store_exists(location):
        known = {e.name for e in catalog.list_entries()}
        if str(source) not in known and not path.exists() and (path.suffix or len(path.parts) > 1):
            raise InputError(
                f"{str(source)!r} is neither a structure file nor a store: no such file or "
                "folder (and no catalog entry of that name). Give a structure file that "
                "ase.io.read understands, a conductance-reference store, or a catalog entry "
                "name (vlab catalog list)."
            )
        location = catalog.get_entry(source).checked_location()
    ds = catalog.open_store(location)
    calculator = _reference_of(ds)
    predictions = ds.attrs.get("kind") == "conductance-surrogate"  # not a reference
    if "status" in ds:
        ds = catalog.select(ds, status="done")
    ds = ds.load()
    if "structure_positions" not in ds:
        raise InputError(
            f"The store {source!r} holds no structures (structure_* variables); give a "
            "conductance-reference store or a structure file."
        )
    has_ref = "conductance" in ds and not predictions
    ref = ds["conductance"].values.astype(float) if has_ref else None
    hashes = [str(h) for h in ds["input_hash"].values] if "input_hash" in ds else None
    temperature = ds["temperature"].values.astype(float) if "temperature" in ds else None
    structures = catalog.decode_structures(ds, prefix="structure_")
    traces = None
    if {"trace", "elongation"} <= set(ds.variables):  # MD snapshots: traces to follow
        order = ds["snapshot"].values if "snapshot" in ds else np.arange(len(structures))
        traces = (ds["trace"].values, order, ds["elongation"].values.astype(float))
    return _Source(structures, ref, hashes, temperature, calculator, traces)


def _check_species(structures: list, source: str, surrogate: Any, model: str) -> None:
    """Refuse, naming the source and the first such structure, structures with elements that
    the ``surrogate`` (``model`` in words) has no descriptors for."""
    species = None
    for attr in ("descriptor_settings_", "settings_"):
        settings = getattr(surrogate, attr, None)
        species = species or getattr(settings, "species", None)
    if not species:
        return
    for i, atoms in enumerate(structures):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if unknown:
            raise InputError(
                f"{source!r}, structure {i} (of {len(structures)}): it holds {unknown}, but "
                f"{model} describes {list(species)} junctions only (the shipped models: gold). "
                "Give junctions of those elements, or train a surrogate on reference labels of "
                "yours (vlab conductance train)."
            )


def _check_junctions(structures: list, source: str) -> None:
    """Refuse a structure file whose structures are not junctions the surrogate can read,
    naming the file, the first such structure and how to make one."""
    from vlab.conductance import validate_structure
    from vlab.errors import InvalidStructureError

    for i, atoms in enumerate(structures):
        try:
            validate_structure(atoms)
        except InvalidStructureError as err:
            raise InputError(
                f"{source!r}, structure {i} (of {len(structures)}): {err} The surrogate reads "
                "junctions: electrodes tagged 1 and 2 at the two ends along z, the device "
                "tagged 0, and info['lead_period'] (as vlab.conductance.build_wire and the MD "
                "snapshots give them; extended XYZ keeps tags and info)."
            ) from None


def training_labels(name: str) -> set[str]:
    """Structure keys (:func:`structure_keys`) of the labelled structures that shipped model
    ``name`` was trained on: its manifest's ``training_stores`` (catalog names and their
    traces), as far as the catalog has those stores; the input hashes (their first
    ``LABEL_HASH_CHARS`` characters) of a store without structures. The same snapshot has the
    same key in any store (copies, exports, a learning loop's labels) whichever reference
    labelled it, so a store's items with their key in this set are training snapshots."""
    from vlab.conductance import shipped_model_info

    labels: set[str] = set()
    for store, spec in (shipped_model_info(name).get("training_stores") or {}).items():
        try:
            ds = catalog.open(store)
        except (InputError, OSError):  # not in this catalog: nothing to compare with
            continue
        if "input_hash" not in ds:
            continue
        keep = ds["status"].values == 1 if "status" in ds else np.ones(ds.sizes["item"], bool)
        traces = str(spec.get("traces", "all")) if isinstance(spec, Mapping) else "all"
        if traces != "all" and "trace" in ds:
            low, _, high = traces.partition("-")
            trace = ds["trace"].values
            keep &= (trace >= int(low)) & (trace <= int(high or low))
        if "structure_positions" in ds:  # the same snapshots, whichever reference labels them
            done = ds.isel(item=np.flatnonzero(keep)).load()
            labels.update(structure_keys(catalog.decode_structures(done, prefix="structure_")))
        else:
            labels.update(str(h)[:LABEL_HASH_CHARS] for h in ds["input_hash"].values[keep])
    return labels


def _model_training_labels(described: Mapping[str, Any]) -> tuple[set[str], str, str] | None:
    """The training labels of a surrogate as :func:`load_surrogate` describes it, how to name
    it and its held-out scores in words: a shipped model's (:func:`training_labels`, blind
    set), or those a model file's ``.report.json`` lists (``vlab conductance train``,
    held-out traces); None if unknown."""
    from vlab.conductance import shipped_model_info
    from vlab.conductance.shipped import shipped_model_name

    shipped = described.get("shipped") or shipped_model_name(described.get("path", ""))
    if shipped is not None:
        blind = shipped_model_info(shipped).get("blind") or {}
        scores = (
            f"on blind snapshots, {blind['store']}: R² {blind['r2']:.3f}, MAE "
            f"{blind['mae_G0']:.3f} G0"
            if {"store", "r2", "mae_G0"} <= blind.keys()
            else ""
        )
        return training_labels(shipped), f"the {shipped} model", scores
    path = Path(str(described.get("path", "")))
    report = _model_file_report(path)
    labels = _listed(report, "training")
    if labels is None:  # no record of its training snapshots
        return None
    held = report.get("held_out") or {}
    where = str(report.get("held_out_what") or "its held-out traces")
    scores = (
        f"on {where}: R² {held['r2']:.3f}, MAE {held['mae_G0']:.3f} G0"
        if isinstance(held, Mapping) and {"r2", "mae_G0"} <= held.keys()
        else ""
    )
    return labels, f"the model {path.name}", scores


def _training_overlap(known, source: str, items: list[tuple[str, str]]) -> tuple[int, str | None]:
    """How many of ``items`` (a store's, :func:`_item_keys`) are training snapshots of the
    model ``known`` (:func:`_model_training_labels`), whichever reference labelled them, and a
    warning if any are: R² and MAE against their reference measure its fit, not its
    accuracy."""
    labels, model, scores = known
    seen = sum(not labels.isdisjoint(keys) for keys in items)
    if not seen:
        return 0, None
    where = f" ({scores})" if scores else ""
    return seen, (
        f"{seen} of the {len(items)} structures of {source!r} were training labels of "
        f"{model}: R² and MAE against their reference measure its fit, not its "
        f"accuracy{where}."
    )


def predict_conductance(
    sources: list[str],
    *,
    model: str | os.PathLike = "spd-headline",
    out: str | os.PathLike | None = None,
    plot: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Surrogate conductance (ensemble mean and spread, G0) of every structure of ``sources``.

    Parameters
    ----------
    sources : list of str
        Stores with structures (catalog names or paths) or structure files (``ase.io.read``).
    model : str or path
        A shipped model name (default ``spd-headline``, its sha256 checked) or a model file.
    out : path, optional
        JSON file to write the report to. A report there is replaced, and the figures it
        names that this call does not draw again (other sources, or ``plot=False``) are
        removed.
    plot : bool
        With ``out``, also draw the conductance histogram of each source of at least
        ``PLOT_MIN_STRUCTURES`` structures beside it (``OUT-SOURCE.png``, linear and log
        axes): the point predictions, the predictive draws (models with held-out residuals,
        :func:`model_residuals`) and the reference conductances (stores that have them),
        each with its peak. The entry's ``histogram_png`` names the file.
    progress : bool
        A progress bar (tqdm, on stderr) over the structures of each source of more than
        ``PREDICT_CHUNK`` of them, predicted that many at a time (within ~1e-7 G0 of one call:
        the network's single-precision products depend on how rows are grouped; the report's
        rounded numbers are the same).

    Returns
    -------
    dict
        The model, and per source the predictions and, where the store has reference
        conductances, R², MAE and histogram peaks against them (and for a store of MD
        snapshots at several temperatures, the peaks at each). With a model that records
        held-out residuals (a shipped model's manifest, or the ``.report.json`` that ``vlab
        conductance train`` writes beside a model file; :func:`model_residuals`), also
        ``peak_predictive_G0``: the histogram peak of draws of the reference's spread around
        the predictions (:class:`~vlab.conductance.ConditionalResiduals`, 20 per structure,
        seed 0), the surrogate's estimate of the reference histogram's peak; a store that
        holds the held-out snapshots of those residuals gets a ``warning``. With a shipped
        model that records its range of use (given by name or by its file), a source with structures
        outside it gets a ``warning`` (also issued as a ``UserWarning``): other sizes for the
        fast ``spd-bottleneck``, narrower electrodes than the training cells' for both
        (:func:`~vlab.conductance.shipped.range_of_use_warning`). A store with reference
        conductances also gets ``training_labels``, how many of its structures the model was
        trained on (a shipped model: :func:`training_labels`; a model file: the input hashes
        its ``.report.json`` lists), and a ``warning`` if any were: R² and MAE on them
        measure the fit, not the accuracy. A store labelled by another reference
        calculator than the model learned (by the model's manifest or ``.report.json``) gets
        a ``warning`` too: R² and MAE there compare two references. A store of a surrogate's
        predictions (``conductance-surrogate``) is predicted but not scored against them.
        For a store of MD snapshots (trace numbers and elongations), the plateau lengths of
        the predicted traces (``plateau_length_mean_A``, per temperature too; see
        :func:`~vlab.conductance.plateau_length`), and in ``against_reference`` those of the
        reference's traces (``reference_plateaus``); so also the traces that break and the
        median elongation at which they do (``traces_broken``, ``rupture_elongation_median_A``;
        ``reference_ruptures``), and with ``plot`` their conductance-displacement histograms
        (``displacement_png``: ``OUT-SOURCE-displacement.png``, predicted and reference
        traces, a panel per temperature).
    """
    from vlab.conductance.shipped import shipped_model_name

    _refuse_twice(sources, "source", "the report holds one entry per source")
    if out is not None and (Path(out).suffix != ".json" or Path(out).is_dir()):
        raise InputError(
            f"The report file {str(out)!r} must be a .json file path (not a folder); an "
            "existing report of that name is replaced."
        )
    if out is not None and Path(out).is_file() and not _is_predict_report(Path(out)):
        raise InputError(
            f"The file {str(out)!r} exists and is not a report of vlab conductance predict "
            "(a model's .report.json, say): it is left untouched. Give another --out."
        )
    if out is not None:  # its folder can be made: checked before any work
        blocker = next((p for p in Path(out).parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise InputError(
                f"The report file {str(out)!r} cannot be written: {str(blocker)!r} is a file, "
                "not a folder. Give another --out."
            )
    surrogate, described = load_surrogate(model)
    shipped_name = described.get("shipped") or shipped_model_name(described.get("path", ""))
    residuals, held_out, few = _predictive(described)
    learned = _model_reference(described)
    report: dict[str, Any] = {"model": dict(described), "sources": {}}
    if learned is not None:
        report["model"]["reference"] = reference_name(learned)
    if residuals is not None:
        report["model"]["residuals"] = int(residuals.reference.size)
        if few:
            report["model"]["warning"] = few
    staged: dict[Path, Path] = {}  # figures drawn under a temporary name -> their name
    model_parts = (surrogate, described, shipped_name, residuals, held_out, learned)
    try:
        _predict_sources(sources, model_parts, report, staged, out, plot, progress)
        if out is not None:  # the report and its figures replace the earlier ones together
            earlier = _report_figures(Path(out))
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            _temporary(Path(out)).write_text(report_json(report) + "\n")
            for temporary, final in staged.items():
                os.replace(temporary, final)
            os.replace(_temporary(Path(out)), out)
            for stale in earlier - _report_figures(Path(out)):
                stale.unlink(missing_ok=True)
    finally:  # after an error or an interrupt: no temporary file left, earlier outputs kept
        for temporary in [*staged, *([] if out is None else [_temporary(Path(out))])]:
            temporary.unlink(missing_ok=True)
    return report


def _predict_sources(sources, model_parts, report, staged, out, plot, progress) -> None:
    """The loop of :func:`predict_conductance`: each source's entry in ``report``, its
    figures drawn under temporary names (``staged``: temporary -> final name)."""
    from vlab.conductance import histogram_peak
    from vlab.conductance.shipped import range_of_use_warning
    from vlab.workflows.learning import validation_metrics

    surrogate, described, shipped_name, residuals, held_out, learned = model_parts
    taken: set[str] = set()  # figure names written by this call
    known: Any = ...  # the model's training labels: read at the first store with a reference
    for source in sources:
        structures, ref, hashes, temperature, calculator, traces = _input_structures(source)
        if not structures:
            raise InputError(
                f"{source!r} holds no structures to predict (a store: no done snapshots yet; "
                "vlab status shows it)."
            )
        _check_species(structures, source, surrogate, _model_words(described))
        mean, std = _predict_in_chunks(surrogate, structures, source, progress)
        entry: dict[str, Any] = {
            "n": len(structures),
            "conductance_G0": np.round(mean, 4).tolist(),
            "conductance_std_G0": np.round(std, 4).tolist(),
        }
        found = []
        if shipped_name is not None:
            found.append(range_of_use_warning(structures, shipped_name, source))
        if ref is not None:
            found.append(_reference_warning(learned, calculator, source, _model_words(described)))
        if ref is not None:
            known = _model_training_labels(described) if known is ... else known
            items = _item_keys(hashes, structures) if known or held_out else []
            if known is not None:
                entry["training_labels"], overlap = _training_overlap(known, source, items)
                found.append(overlap)
            if residuals is not None and held_out:
                found.append(_residual_overlap(held_out, source, items))
        for warning in filter(None, found):
            warnings.warn(warning, UserWarning, stacklevel=4)
        if any(found):
            entry["warning"] = " ".join(filter(None, found))
        temps = [] if temperature is None else np.unique(temperature[np.isfinite(temperature)])
        if residuals is not None:
            draws = residuals.sample(mean, draws=PREDICTIVE_DRAWS, rng=0)
            entry["peak_predictive_G0"] = peak_or_none(draws, histogram_peak, len(mean))
            per_structure = draws.reshape(len(mean), PREDICTIVE_DRAWS)
            for temp in temps if len(temps) > 1 else []:
                at = per_structure[temperature == temp]
                entry[f"peak_{temp:g}K_predictive_G0"] = peak_or_none(
                    at.ravel(), histogram_peak, len(at)
                )
        legs = {}  # the stretches of the predicted (and reference) traces
        if traces is not None:
            legs["surrogate"] = _row_traces(*traces, temperature, mean)
            entry |= _plateau_summary_of(legs["surrogate"]) | _rupture_summary(legs["surrogate"])
            if ref is not None:
                legs["reference"] = _row_traces(*traces, temperature, ref)
        if ref is not None:
            several = temperature if len(temps) > 1 else None
            entry["against_reference"] = validation_metrics(ref, mean, several)
            if calculator is not None:
                entry["against_reference"]["reference"] = reference_name(calculator)
            if traces is not None:
                entry["against_reference"]["reference_plateaus"] = _plateau_summary_of(
                    legs["reference"]
                )
                entry["against_reference"]["reference_ruptures"] = _rupture_summary(
                    legs["reference"]
                )
        if plot and out is not None and len(structures) >= PLOT_MIN_STRUCTURES:
            figure = _prediction_histogram(
                source,
                mean,
                draws if residuals is not None else None,
                ref,
                out,
                described,
                taken,
                trained_on=entry.get("training_labels", 0),
                staged=staged,
            )
            taken.add(figure.name)
            entry["histogram_png"] = str(figure)
            if traces is not None:
                shown = figure.with_name(f"{figure.stem}-displacement.png")
                temporary = _temporary(shown)
                staged[temporary] = shown
                _displacement_figure(
                    legs,
                    np.unique(traces[0]).size,
                    temporary,
                    f"{source}: G against displacement from the break",
                )
                entry["displacement_png"] = str(shown)
        report["sources"][source] = entry


def _temporary(path: Path) -> Path:
    """A temporary name beside ``path`` (hidden, with its suffix: matplotlib reads a figure's
    format from it)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def _report_figures(out: Path) -> set[Path]:
    """The figures that the predict report ``out`` names (none if there is no such report):
    the PNGs beside it whose names start with its stem, as :func:`predict_conductance`
    writes them. Replacing a report removes those of its figures the new one does not
    write again, so no figure of an earlier run sits beside a report that does not name it."""
    if not out.is_file() or not _is_predict_report(out):
        return set()
    sources = json.loads(out.read_text(encoding="utf-8"))["sources"]
    named = [  # by name: the figures are written beside the report
        out.with_name(Path(entry[key]).name)
        for entry in (sources.values() if isinstance(sources, dict) else [])
        if isinstance(entry, dict)
        for key in ("histogram_png", "displacement_png")
        if isinstance(entry.get(key), str)
    ]
    return {p for p in named if p.suffix == ".png" and p.name.startswith(f"{out.stem}-")}


def _displacement_figure(
    groups: Mapping[str, list[dict[str, Any]]], n_traces: int, path: Path, title: str
) -> Path:
    """Conductance-displacement histogram of stretches (:func:`stretch_traces` dicts), a panel
    per group and temperature (``groups``: a panel-label prefix, "" for none, -> stretches),
    binned at the snapshots' spacing; the panels say "stretches" when the first group has
    more of them than the ``n_traces`` traces they come from."""
    from vlab.conductance import plot_displacement_histogram

    every = [(who, t) for who, legs in groups.items() for t in legs]
    steps = np.concatenate([np.diff(t["elongation"]) for _, t in every] + [np.empty(0)])
    first = next(iter(groups.values()), [])
    return plot_displacement_histogram(
        [t["elongation"] for _, t in every],
        [t["conductance"] for _, t in every],
        path,
        labels=[f"{who}, {_label(t)}" if who else _label(t) for who, t in every],
        x_bin=max(0.25, float(np.median(steps)) if steps.size else 0.0),
        title=title,
        noun="traces" if len(first) == n_traces else "stretches",
    )


def _predict_in_chunks(surrogate, structures: list, source: str, progress: bool):
    """``surrogate.predict(structures, return_std=True)``, ``PREDICT_CHUNK`` structures at a
    time under a progress bar (each structure's prediction does not depend on the others).
    Unlike validation (:func:`_featurise_in_chunks_then_predict`) it predicts chunk by chunk:
    the descriptors of a whole campaign's snapshots need not fit in memory."""
    from vlab._utils import progress_bar as tqdm

    parts = []
    show = progress and len(structures) > PREDICT_CHUNK
    with tqdm(total=len(structures), desc=str(source), unit="structure", disable=not show) as bar:
        for start in range(0, len(structures), PREDICT_CHUNK):
            chunk = structures[start : start + PREDICT_CHUNK]
            parts.append(surrogate.predict(chunk, return_std=True))
            bar.update(len(chunk))
    if not parts:
        return surrogate.predict(structures, return_std=True)
    return np.concatenate([m for m, _ in parts]), np.concatenate([s for _, s in parts])


def _prediction_histogram(
    source, mean, draws, ref, out, described, taken, trained_on: int = 0, staged=None
) -> Path:
    """Histogram figure of one source's predictions (and draws and reference), beside ``out``;
    a name in ``taken`` (another source of the same name) gets a number. The title says how
    many structures were the model's training labels (``trained_on``), if any."""
    import re

    from vlab.conductance.histogram import plot_histogram_comparison

    out = Path(out)
    name = Path(str(source)).name.removesuffix(".zarr")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "source"
    model = described.get("shipped") or Path(str(described.get("path", "model"))).name
    samples = {f"point predictions, {mean.size:,} structures": mean}
    if draws is not None:
        samples[f"predictive draws, {PREDICTIVE_DRAWS} per structure"] = draws
    if ref is not None:
        samples[f"reference, {ref.size:,} structures"] = ref
    path = out.with_name(f"{out.stem}-{slug}.png")
    k = 1
    while path.name in taken:
        k += 1
        path = out.with_name(f"{out.stem}-{slug}-{k}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    title = f"{source}: surrogate {model}"
    if trained_on:
        title += f" ({trained_on:,} of the {mean.size:,} structures were its training labels)"
    if staged is None:
        return plot_histogram_comparison(samples, path, title=title)
    staged[_temporary(path)] = path  # drawn under a temporary name, renamed with the report
    plot_histogram_comparison(samples, _temporary(path), title=title)
    return path
