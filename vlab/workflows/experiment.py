"""The virtual break-junction experiment: MD, surrogate and reference campaigns, one figure.

``vlab conductance experiment SPEC`` runs it (see ``examples/au-virtual-experiment.yaml``):
break-junction traces of a wire larger than the surrogate's training cells, every snapshot
labelled by the surrogate and by the reference, and the two conductance histograms side by
side with the experimental peak window.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlab import catalog
from vlab._utils import report_json
from vlab.errors import InputError, SpecError, did_you_mean
from vlab.workflows.conductance import (
    PREDICTIVE_DRAWS,
    _few_residuals,
    model_residuals,
    peak_or_none,
    train_surrogate,
)

__all__ = ["ExperimentSpec", "experiment_figure", "load_experiment", "run_experiment"]


# --------------------------------------------------------------- the virtual experiment
_EXPERIMENT_KEYS = {"name", "description", "model", "campaigns", "figure", "summary"}
_EXPERIMENT_KINDS = {
    "md": "break-junction-md",
    "surrogate": "conductance-surrogate",
    "reference": "conductance-reference",
}
_TRAIN_KEYS = {"stores", "holdout", "seed", "preset", "params"}


@dataclass(frozen=True, kw_only=True)
class ExperimentSpec:
    """A virtual break-junction experiment: MD, surrogate and reference campaigns, figure.

    Read from YAML by :func:`load_experiment` (see ``examples/au-virtual-experiment.yaml``).
    ``train`` (keyword arguments of :func:`train_surrogate`) is used only when ``model`` does
    not exist yet. With ``shipped`` (a model shipped with vlab), ``model`` is its file,
    checked against its recorded sha256 before the campaigns run. The model's held-out
    residuals (a shipped model's manifest, or the report ``vlab conductance train`` writes
    beside a model file: :func:`~vlab.workflows.conductance.model_residuals`) give the
    predictive histogram (see :func:`experiment_figure`).
    """

    name: str
    model: Path
    train: Mapping[str, Any] | None
    md: Any  # vlab.campaign.CampaignSpec (imported lazily: reports must not pull in Dask)
    surrogate: Any
    reference: Any
    figure: Path
    summary: Path
    description: str = ""
    shipped: str | None = None  # name of a shipped model (then ``model`` is its file)


def _experiment_error(source: str, message: str):
    from vlab.errors import SpecError

    return SpecError(f"{source}: {message}")


def _experiment_train(data: Any, base: Path, source: str) -> dict[str, Any] | None:
    if data is None:
        return None
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("stores"), list)
        or not all(isinstance(s, str) for s in data["stores"])
    ):
        raise _experiment_error(
            source,
            "'model.train' must be a mapping with a 'stores' list of catalog names or "
            f"store paths. Got {data!r}.",
        )
    unknown = sorted(set(data) - _TRAIN_KEYS)
    if unknown:
        raise _experiment_error(
            source,
            f"unknown 'model.train' key(s) {unknown}; allowed: {sorted(_TRAIN_KEYS)} "
            "(estimator parameters go under 'params' by their own names, e.g. "
            "params: {n_estimators: 8}).",
        )
    if not isinstance(data.get("params", {}), Mapping):
        raise _experiment_error(
            source,
            "'model.train.params' must be a mapping of ConductanceSurrogate parameters by "
            f"name, e.g. {{n_estimators: 8}}. Got {data['params']!r}.",
        )
    stores = [str(base / s) if (base / s).exists() else s for s in data["stores"]]
    return {**data, "stores": stores}


def _experiment_campaigns(data: Any, model: Path, base: Path, source: str) -> dict[str, Any]:
    from vlab.campaign import parse_spec

    if not isinstance(data, Mapping) or set(data) != set(_EXPERIMENT_KINDS):
        got = sorted(data) if isinstance(data, Mapping) else repr(data)
        raise _experiment_error(
            source,
            f"'campaigns' must map exactly {sorted(_EXPERIMENT_KINDS)} to campaign specs. "
            f"Got {got}.",
        )
    specs = {}
    for role, kind in _EXPERIMENT_KINDS.items():
        section = data[role]
        if not isinstance(section, Mapping) or section.get("kind") != kind:
            found = section.get("kind") if isinstance(section, Mapping) else section
            raise _experiment_error(
                source, f"campaigns.{role} must have kind {kind!r}. Got {found!r}."
            )
        if role == "surrogate":
            params = dict(section.get("params") or {})
            if "model" in params:
                raise _experiment_error(
                    source,
                    "campaigns.surrogate.params must not set 'model': it is the experiment's "
                    "'model.path'.",
                )
            section = {**section, "params": {**params, "model": str(model)}}
        specs[role] = parse_spec(section, source=f"{source}: campaigns.{role}", base=base)
    for role in ("surrogate", "reference"):
        if specs[role].inputs.catalog != specs["md"].name:
            raise _experiment_error(
                source,
                f"campaigns.{role}.inputs must be {{catalog: {specs['md'].name}}} (the md "
                f"campaign's name). Got {specs[role].inputs.catalog!r}.",
            )
    return specs


def _experiment_model(data: Any, base: Path, source: str) -> tuple[Path, dict | None, str | None]:
    """(model file, training arguments or None, shipped model name or None)."""
    if isinstance(data, Mapping) and set(data) == {"shipped"}:
        from vlab.conductance.shipped import MODEL_DIR, shipped_model_info

        try:
            info = shipped_model_info(data["shipped"])
        except InputError as err:
            raise _experiment_error(source, f"'model.shipped': {err}") from None
        return MODEL_DIR / info["file"], None, str(data["shipped"])
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("path"), str)
        or set(data) - {"path", "train"}
    ):
        raise _experiment_error(
            source,
            "'model' must be {path: FILE.npz, train: {...}} (train optional) or {shipped: "
            f"NAME}} (a model shipped with vlab, e.g. spd-headline). Got {data!r}.",
        )
    if not data["path"].endswith(".npz"):
        raise _experiment_error(
            source, f"'model.path' must be a .npz file path. Got {data['path']!r}."
        )
    path = (base / Path(data["path"]).expanduser()).resolve()
    return path, _experiment_train(data.get("train"), base, source), None


def _experiment_output(data: Mapping, key: str, base: Path, source: str) -> Path:
    suffix = ".json" if key == "summary" else ".png"
    value = data[key]
    if not isinstance(value, str) or not value.endswith(suffix):
        raise _experiment_error(source, f"{key!r} must be a {suffix} file path. Got {value!r}.")
    return (base / value).resolve()


def load_experiment(path: str | os.PathLike) -> ExperimentSpec:
    """Read and validate a virtual-experiment YAML file; paths are relative to its folder.

    Raises
    ------
    SpecError
        If the file is missing or not YAML, or a key is missing, unknown or invalid.
    """
    from vlab._yaml import load_yaml_file, one_line

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise _experiment_error(source, "no such experiment file.")
    data = load_yaml_file(path, error=SpecError, what="experiment file")
    if not isinstance(data, Mapping):
        shown = one_line(repr(data), 120)
        raise _experiment_error(source, f"an experiment is a mapping of keys. Got {shown}.")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise _experiment_error(
                source, f"'{key}' must be text. Got {type(data[key]).__name__}."
            )
    missing = _EXPERIMENT_KEYS - {"description"} - set(data)
    unknown = set(data) - _EXPERIMENT_KEYS
    if missing or unknown:
        said = [f"missing key(s) {sorted(missing)}"] if missing else []
        said += [f"unknown key(s) {sorted(unknown)}"] if unknown else []
        hint = did_you_mean(sorted(unknown)[0], _EXPERIMENT_KEYS) if len(unknown) == 1 else ""
        raise _experiment_error(
            source,
            f"{', '.join(said)}; an experiment has the keys {sorted(_EXPERIMENT_KEYS)}.{hint}",
        )
    base = path.resolve().parent
    model, train, shipped = _experiment_model(data["model"], base, source)
    return ExperimentSpec(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        model=model,
        train=train,
        shipped=shipped,
        **_experiment_campaigns(data["campaigns"], model, base, source),
        figure=_experiment_output(data, "figure", base, source),
        summary=_experiment_output(data, "summary", base, source),
    )


def _snapshot_table(store: str | os.PathLike) -> dict[str, Any]:
    """Done items of a conductance store as arrays: trace, snapshot, temperature, conductance
    (and elongation, where the store has it)."""
    ds = catalog.open_store(store)
    needed = ["trace", "snapshot", "temperature", "conductance"]
    if not set(needed) <= set(ds.variables):
        raise InputError(
            f"The store {str(store)!r} is not a conductance store of break-junction snapshots "
            "(conductance-reference or conductance-surrogate): it lacks "
            f"{sorted(set(needed) - set(ds.variables))}."
        )
    extra = ["elongation"] if "elongation" in ds.variables else []
    done = catalog.select(ds[[*needed, *extra, "status"]], status="done").load()
    table = {k: done[k].values for k in (*needed, *extra)}
    table["title"] = str(ds.attrs.get("title", Path(store).stem))
    return table


def _match(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the snapshots (trace, snapshot) present in both tables."""
    key_a = a["trace"].astype(np.int64) * 1_000_000 + a["snapshot"].astype(np.int64)
    key_b = b["trace"].astype(np.int64) * 1_000_000 + b["snapshot"].astype(np.int64)
    _, ia, ib = np.intersect1d(key_a, key_b, assume_unique=True, return_indices=True)
    return ia, ib


def _peaks(table: dict, prefix: str, func, per: int = 1) -> dict[str, float | None]:
    """Peaks of all and of each temperature's conductances (``per`` values a snapshot)."""
    g = table["conductance"]
    out = {f"{prefix}_G0": peak_or_none(g, func, g.size // per)}
    for temp in np.unique(table["temperature"]):
        rows = table["temperature"] == temp
        out[f"{prefix}_G0_{temp:g}K"] = peak_or_none(g[rows], func, int(rows.sum()) // per)
    return out


def _parity_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score

    r2, mae = float(r2_score(y, p)), float(mean_absolute_error(y, p))
    return {"n": int(y.size), "r2": round(r2, 4), "mae_G0": round(mae, 4)}


def experiment_figure(
    surrogate_store: str | os.PathLike,
    reference_store: str | os.PathLike,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    residuals: Any = None,
    draws: int = PREDICTIVE_DRAWS,
) -> dict[str, Any]:
    """Compare the surrogate's and the reference's conductance histograms; write the PNG.

    The surrogate histogram uses all its done snapshots; the reference one all of its own
    (every k-th snapshot of the same traces, or a random sample of them). Snapshots present
    in both stores give R² and MAE of the surrogate against the reference.

    With ``residuals`` (a :class:`~vlab.conductance.ConditionalResiduals` of the model's
    held-out errors), the *predictive* histogram is drawn as well: ``draws`` values per
    snapshot, the prediction plus a residual of similar predictions (seed 0). Point
    predictions regress towards the mean where the descriptors cannot tell snapshots apart,
    which narrows their histogram; the draws restore the reference's spread.

    Returns
    -------
    dict
        ``histogram_peak_surrogate_G0``, ``histogram_peak_reference_G0`` (and per temperature,
        e.g. ``histogram_peak_reference_G0_4K``), their difference, whether the surrogate
        peak is in the experimental window, counts, R²/MAE on the common snapshots and
        ``figure``; with ``residuals`` also ``histogram_peak_predictive_G0`` (and per
        temperature) and the predictive peak on the reference's snapshots. Plateau lengths
        (:func:`~vlab.conductance.plateau_length`, mean and median per temperature) of the
        surrogate's traces (``plateaus_surrogate``) and, where the reference labels evenly
        spaced snapshots of each trace (a stride, not a random sample), of the reference's
        traces and of the surrogate's on the same snapshots (``plateaus_reference``,
        ``plateaus_surrogate_on_reference_snapshots``: lengths compare at one spacing only).
        The conductance-displacement histogram of the surrogate's traces
        (``figure_displacement``: ``path`` with ``-displacement`` added to its name) and the
        traces that break, with the median elongation at which they do
        (``ruptures_surrogate``).
    """
    from vlab.conductance import histogram_peak
    from vlab.conductance.histogram import EXPERIMENT_WINDOW, plot_histogram_comparison

    sur, ref = _snapshot_table(surrogate_store), _snapshot_table(reference_store)
    ia, ib = _match(sur, ref)
    if ia.size == 0:
        raise InputError(
            f"The stores {str(surrogate_store)!r} and {str(reference_store)!r} share no done "
            "snapshot (trace, snapshot); they must label snapshots of the same MD campaign."
        )
    summary: dict[str, Any] = {
        **_peaks(sur, "histogram_peak_surrogate", histogram_peak),
        **_peaks(ref, "histogram_peak_reference", histogram_peak),
        "histogram_peak_surrogate_on_reference_snapshots_G0": peak_or_none(
            sur["conductance"][ia], histogram_peak
        ),
    }
    predictive = None
    if residuals is not None:
        predictive = {
            "conductance": residuals.sample(sur["conductance"], draws=draws, rng=0),
            "temperature": np.repeat(sur["temperature"], draws),
        }
        on_reference = residuals.sample(sur["conductance"][ia], draws=draws, rng=0)
        summary |= _peaks(predictive, "histogram_peak_predictive", histogram_peak, draws)
        summary["histogram_peak_predictive_on_reference_snapshots_G0"] = peak_or_none(
            on_reference, histogram_peak, len(ia)
        )
        summary["predictive_draws_per_snapshot"] = draws
    s, r = summary["histogram_peak_surrogate_G0"], summary["histogram_peak_reference_G0"]
    low, high = EXPERIMENT_WINDOW
    summary.update(
        peak_difference_G0=None if s is None or r is None else round(abs(s - r), 3),
        surrogate_peak_in_experiment_window=s is not None and low <= s <= high,
        experiment_window_G0=[low, high],
        traces=len(np.unique(sur["trace"])),
        snapshots_surrogate=int(sur["conductance"].size),
        snapshots_reference=int(ref["conductance"].size),
        common_snapshots=_parity_scores(ref["conductance"][ib], sur["conductance"][ia]),
    )
    summary |= _experiment_plateaus(sur, ref, ia)
    samples = {f"surrogate, {sur['conductance'].size:,} snapshots": sur["conductance"]}
    peaks = [s]
    if predictive is not None:
        samples[f"surrogate + held-out residuals ({draws} draws per snapshot)"] = predictive[
            "conductance"
        ]
        peaks.append(summary["histogram_peak_predictive_G0"])
    samples[f"reference ({ref['title']}), {ref['conductance'].size:,} snapshots"] = ref[
        "conductance"
    ]
    peaks = dict(zip(samples, [*peaks, r], strict=True))
    figure = plot_histogram_comparison(samples, path, peaks=peaks, title=title or sur["title"])
    summary["figure"] = str(figure)
    summary |= _experiment_displacement(sur, Path(path), title or sur["title"])
    return summary


def _experiment_displacement(sur: dict, path: Path, title: str) -> dict[str, Any]:
    """The conductance-displacement histogram of the surrogate's traces (a panel per
    temperature, beside ``path``) and which of them break where."""
    from vlab.workflows.conductance import _displacement_figure, _row_traces, _rupture_summary

    if "elongation" not in sur:
        return {}
    columns = (sur[k] for k in ("trace", "snapshot", "elongation", "temperature", "conductance"))
    legs = _row_traces(*columns)
    figure = _displacement_figure(
        {"": legs},
        np.unique(sur["trace"]).size,
        path.with_name(f"{path.stem}-displacement.png"),
        f"{title}: the surrogate's G against displacement from the break",
    )
    return {"ruptures_surrogate": _rupture_summary(legs), "figure_displacement": str(figure)}


def _experiment_plateaus(sur: dict, ref: dict, ia: np.ndarray) -> dict[str, Any]:
    """Plateau lengths of the surrogate's traces and, where the reference labels evenly spaced
    snapshots of every trace, of the reference's and of the surrogate's on those snapshots."""
    from vlab.workflows.conductance import _trace_plateaus

    if "elongation" not in sur:
        return {}

    def plateaus(table: dict, rows: np.ndarray, conductance: np.ndarray) -> dict:
        return _trace_plateaus(
            table["trace"][rows],
            table["snapshot"][rows],
            table["elongation"][rows],
            table["temperature"][rows],
            conductance,
        )

    every = np.arange(sur["conductance"].size)
    out: dict[str, Any] = {"plateaus_surrogate": plateaus(sur, every, sur["conductance"])}
    even = all(
        np.unique(np.diff(np.sort(ref["snapshot"][ref["trace"] == k]))).size <= 1
        for k in np.unique(ref["trace"])
    )
    if even and "elongation" in ref:
        out["plateaus_reference"] = plateaus(
            ref, np.arange(ref["conductance"].size), ref["conductance"]
        )
        out["plateaus_surrogate_on_reference_snapshots"] = plateaus(sur, ia, sur["conductance"][ia])
    return out


def _store_info(store: Path) -> dict[str, Any]:
    """Items, done count, summed item seconds and the creation-to-last-update span of a store."""
    from datetime import datetime

    ds = catalog.open_store(store)
    status = ds["status"].values
    span = None
    if "created" in ds.attrs and "updated" in ds.attrs:
        created, updated = (datetime.fromisoformat(ds.attrs[k]) for k in ("created", "updated"))
        span = round((updated - created).total_seconds(), 1)
    return {
        "store": str(store),
        "items": int(status.size),
        "done": int((status == 1).sum()),
        "item_seconds_sum": round(float(np.nansum(ds["duration"].values)), 1),
        "wall_s_created_to_updated": span,
    }


def _model_summary(model: Path, training: dict | None) -> dict[str, Any]:
    report_path = model.with_suffix(".report.json")
    report = training or (json.loads(report_path.read_text()) if report_path.is_file() else {})
    keys = ("training_stores", "n_train", "held_out_traces", "held_out", "wall_s")
    return {"path": str(model), **{k: report[k] for k in keys if k in report}}


def _train_if_missing(spec: ExperimentSpec, source: str) -> dict | None:
    import time

    if spec.model.is_file():
        return None
    if spec.train is None:
        raise _experiment_error(
            source,
            f"the model {str(spec.model)!r} does not exist and 'model.train' is not given: "
            "train one (vlab conductance train) or add model.train.",
        )
    kw = {k: v for k, v in spec.train.items() if k != "stores"}
    start = time.perf_counter()
    training = train_surrogate(spec.train["stores"], spec.model, **kw)
    return {**training, "wall_s": round(time.perf_counter() - start, 1)}


def _check_one_reference(spec: ExperimentSpec, source: str) -> None:
    """Refuse an experiment whose surrogate learned another reference calculator than its
    reference campaign computes (by the shipped model's manifest, the model file's
    ``.report.json``, or ``model.train``'s stores): it would compare two references. The
    same calculator with other parameters gets a ``UserWarning``."""
    import warnings

    from vlab.workflows.conductance import (
        _model_reference,
        campaign_reference,
        one_reference,
        parameter_differences,
        reference_name,
        same_method,
        same_reference,
    )

    if spec.shipped is not None:
        learned = _model_reference({"shipped": spec.shipped})
    elif spec.model.is_file():
        learned = _model_reference({"path": str(spec.model)})
    elif spec.train is not None:
        learned = one_reference(list(spec.train["stores"]), "model.train stores")
    else:
        return  # no model and no way to train one: _train_if_missing says so
    computed = campaign_reference(spec.reference.params)
    if learned is None or same_reference(learned, computed):
        return
    if same_method(learned, computed):
        warnings.warn(
            f"{source}: campaigns.reference computes {reference_name(computed)} with other "
            f"parameters than the surrogate learned ({parameter_differences(learned, computed)}).",
            UserWarning,
            stacklevel=3,
        )
        return
    raise _experiment_error(
        source,
        f"the surrogate learned {reference_name(learned)} labels, but campaigns.reference "
        f"computes {reference_name(computed)}: the experiment would compare two references. "
        "Give the reference campaign the surrogate's reference (params.fidelity, "
        "params.calculator), or a surrogate trained on that reference's labels.",
    )


def run_experiment(
    path: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    synchronous: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run a virtual experiment (see :func:`load_experiment`) end to end, or resume it.

    1. trains the surrogate if its model file does not exist (``model.train``);
    2. runs the MD, surrogate and reference campaigns on one cluster (each resumes);
    3. draws the histogram comparison and writes the summary JSON.

    Returns
    -------
    dict
        The summary (also written to the experiment's ``summary`` file).
    """
    from vlab.campaign import plan_campaign, run_campaigns
    from vlab.conductance.shipped import shipped_model_info

    spec = load_experiment(path)
    plan_campaign(spec.md)  # a bad MD campaign fails now, not after training the surrogate
    residuals, shipped = None, None
    if spec.shipped is not None:
        from vlab.conductance.shipped import load_shipped_model, load_shipped_residuals

        shipped = shipped_model_info(spec.shipped)
        load_shipped_model(spec.shipped)  # checks the file against its recorded sha256
        if "residuals" in shipped:
            residuals = load_shipped_residuals(spec.shipped)
    _check_one_reference(spec, str(path))
    training = _train_if_missing(spec, str(path))
    if spec.shipped is None:  # a model file: the held-out residuals its report records
        residuals = model_residuals(spec.model)
    few = _few_residuals(residuals, f"the model {spec.model.name}")
    if few:
        import warnings

        warnings.warn(few, UserWarning, stacklevel=2)
    specs = (spec.md, spec.surrogate, spec.reference)
    reports = run_campaigns(
        list(specs),
        synchronous=synchronous,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    for report in reports:
        print(report.summary(), flush=True)
    spec.figure.parent.mkdir(parents=True, exist_ok=True)
    title = spec.description or spec.name
    summary = {"experiment": spec.name, "description": spec.description}
    summary |= experiment_figure(
        spec.surrogate.store, spec.reference.store, spec.figure, title=title, residuals=residuals
    )
    if few:
        summary["predictive_warning"] = few
    summary["atoms_per_structure"] = int(catalog.open_store(spec.md.store).sizes["atom"])
    summary["model"] = _model_summary(spec.model, training)
    if shipped is not None:
        summary["model"] |= {
            "shipped": spec.shipped,
            **{k: shipped[k] for k in ("sha256", "n_train", "blind") if k in shipped},
        }
    summary["campaigns"] = {
        role: {
            **_store_info(s.store),
            "this_run": {"computed": r.computed, "copied": r.copied, "wall_s": round(r.seconds, 1)},
        }
        for role, s, r in zip(("md", "surrogate", "reference"), specs, reports, strict=True)
    }
    spec.summary.parent.mkdir(parents=True, exist_ok=True)
    spec.summary.write_text(report_json(summary) + "\n")
    return summary
