"""Campaign kind ``polymer-design``: independent iQSPR SMC chains, one per item.

Adapter only. ``setup`` (once per worker process) fits the SMILES language model on the
catalog's repeat units (PI1070, the two PoLyInfo Tg sets, the design seeds) and the forward
models of PI1070 thermal conductivity and PoLyInfo Tg (``forward_model``: Tanimoto-kernel GPs
with an applicability-domain term, :func:`vlab.polymers.design.fit_design_models`, or Bayesian
ridge on count-Morgan fingerprints);
each item runs :func:`vlab.polymers.design.run_smc` with its own seed and returns its best
``keep`` distinct candidates (padded arrays) with their plausibility (SA score, ring-strain
flags: :func:`vlab.polymers.design.assess`), which
:func:`vlab.workflows.polymers.design_library` merges into the virtual library. A chain reports
each SMC step as it completes (:func:`vlab.campaign.progress.report_progress`), so the progress
bar counts steps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlab.campaign.kinds.base import (
    Item,
    Kind,
    KindParams,
    parse_params,
    register_kind,
    spec_error,
)
from vlab.catalog.schema import Variable
from vlab.errors import InputError, SpecError

_COUNT = {"min": 1, "max": 100_000}
#: Default ``margin``: the margin that did best for a judge trained on polymers the sampler never
#: saw, in a rehearsal on the sampler's own data (``benchmarks/design_selection.py``).
DEFAULT_MARGIN = 2.5


@dataclass(frozen=True, kw_only=True)
class DesignParams(KindParams):
    """Parameters of ``polymer-design``."""

    #: Target box of properties (:func:`vlab.polymers.design.parse_target`).
    target: str = "thermal_conductivity>=0.3 W/(m K); Tg>=450 K"
    #: SMC particles of each chain.
    n_particles: int = field(default=100, metadata=_COUNT)
    #: SMC steps of each chain.
    n_steps: int = field(default=150, metadata=_COUNT)
    #: Weight particles by the likelihood of the target (False: the language model only).
    likelihood: bool = True
    #: Best distinct candidates kept per chain.
    keep: int = field(default=2000, metadata=_COUNT)
    #: Order of the SMILES n-gram language model.
    order: int = field(default=10, metadata={"min": 2, "max": 20})
    #: Randomised SMILES per training repeat unit of the language model.
    n_augment: int = field(default=5, metadata={"min": 0, "max": 100})
    #: Forward models: ``gp`` (Tanimoto-kernel GPs with an applicability-domain term chosen on
    #: a validation split) or ``ridge`` (Bayesian ridge on Morgan counts, no domain term).
    forward_model: str = field(default="gp", metadata={"choices": ("gp", "ridge")})
    #: The sampler aims at the target with every bound moved ``margin`` standard deviations
    #: (of the property's training values) into the box, and the chains rank their candidates
    #: by the likelihood of that aimed-at box; the library is judged against ``target``.
    margin: float = field(default=DEFAULT_MARGIN, metadata={"min": 0.0, "max": 5.0})
    #: Catalog stores the forward models learn from, per target property (e.g.
    #: ``{thermal_conductivity: polymers-radonpy_pi1070, Tg: polymers-polymon_tg}``); a store
    #: needs a ``smiles`` variable and one named as the property. Unnamed properties learn from
    #: the registered public source (PI1070 thermal conductivity, PoLyInfo Tg).
    training: Mapping[str, str] = field(default_factory=dict)


def _params(params: Mapping[str, Any]) -> DesignParams:
    from vlab.polymers.design import DESIGN_PROPERTIES as PROPERTIES
    from vlab.polymers.design import parse_target

    checked = parse_params(DesignParams, params, kind="polymer-design")
    try:
        target = parse_target(checked.target)
    except InputError as err:
        raise spec_error("polymer-design", err) from None
    names = {box.name for box in target.boxes}
    if not names <= set(PROPERTIES):
        raise SpecError(
            f"polymer-design: the target names {sorted(names - set(PROPERTIES))}; "
            f"the forward models predict {sorted(PROPERTIES)}."
        )
    extra = sorted(set(checked.training) - names)
    if extra:
        raise SpecError(
            f"polymer-design: params.training names {extra}, which the target does not "
            f"constrain; allowed: {sorted(names)}."
        )
    for prop, store in checked.training.items():
        _training_store(store, prop)
    return checked


def _where(prop: str) -> dict[str, Any]:
    """How the training-store helpers of :mod:`vlab.catalog` name the input in their errors."""
    return {"where": f"polymer-design: params.training.{prop}", "error": SpecError}


def _training_store(store: Any, prop: str):
    """The catalog store ``store`` (done rows), checked to hold ``smiles`` and ``prop``."""
    from vlab.catalog import training_store

    return training_store(store, prop, **_where(prop))


def _training_data(target, training: Mapping[str, str]) -> dict[str, tuple[list, np.ndarray]]:
    """``{property: (smiles, values)}`` of the forward models: named stores, else the sources."""
    from vlab.catalog import training_rows
    from vlab.polymers import load_source
    from vlab.polymers.design import DESIGN_PROPERTIES as PROPERTIES

    data = {}
    for box in target.boxes:
        if box.name in training:
            data[box.name] = training_rows(training[box.name], box.name, **_where(box.name))
        else:
            source, column = PROPERTIES[box.name]
            table = load_source(source, normalize=False)
            data[box.name] = (list(table.smiles), table.column(column))
    return data


def training_in_target(target_text: str, training: Mapping[str, str] | None = None) -> dict:
    """Per property of the target: how many of its training values lie in the target's box,
    of how many, and their range, from the data the forward models learn (``training``:
    named catalog stores, else the built-in sources).

    A box that no training value reaches asks the forward models to extrapolate: their
    predictions there carry little information, and a library judged by them can be empty.

    Examples
    --------
    >>> found = training_in_target("Tg>=2000 K")["Tg"]
    >>> found["in_target"], found["n"] > 1000, found["max"] < 2000
    (0, True, True)
    """
    from vlab.polymers.design import parse_target

    target = parse_target(target_text)
    data = _training_data(target, training or {})
    out = {}
    for box in target.boxes:
        y = np.asarray(data[box.name][1], float)
        y = y[np.isfinite(y)]
        inside = int(np.sum((y >= box.low) & (y <= box.high)))
        out[box.name] = {
            "in_target": inside,
            "n": int(y.size),
            "min": round(float(y.min()), 4) if y.size else None,
            "max": round(float(y.max()), 4) if y.size else None,
            "units": box.unit,
        }
    return out


def training_digest(store: str, prop: str) -> str:
    """SHA-256 of what the forward model of ``prop`` learns from catalog store ``store``.

    See :func:`vlab.catalog.training_digest`.
    """
    from vlab.catalog import training_digest as digest

    return digest(store, prop, **_where(prop))


def _training_identity(params: Mapping[str, Any]) -> dict[str, Any]:
    """With named training stores, their content digests (added to the default identity).

    A store re-ingested or extended under the same name then gives other item hashes, so no
    design learned from its old content is copied as if it were current.
    """
    training = params.get("training") or {}
    if not training:
        return {}
    return {
        "training_sha256": {
            prop: training_digest(store, prop) for prop, store in sorted(training.items())
        }
    }


_FORWARD: dict[str, Any] = {}  # fitted forward models of this process, by model and data
_MAX_FORWARD = 4


def _forward_models(model: str, data: Mapping[str, tuple[list, np.ndarray]]):
    """The forward models ``model`` (``gp`` or ``ridge``) fitted on ``data``, fitted once per
    process for the same training data (a fit is deterministic and is only read afterwards):
    campaigns that change the target, margin or sampler settings reuse it."""
    from vlab._utils import content_hash
    from vlab.polymers.design import MorganRidgeModels, fit_design_models

    key = content_hash(
        model, {p: [list(smiles), np.asarray(y, float).tolist()] for p, (smiles, y) in data.items()}
    )
    if key not in _FORWARD:
        if len(_FORWARD) >= _MAX_FORWARD:
            _FORWARD.pop(next(iter(_FORWARD)))
        if model == "ridge":
            _FORWARD[key] = MorganRidgeModels().fit(data)
        else:
            _FORWARD[key] = fit_design_models(data, rng=0)[0]
    return _FORWARD[key]


def _setup(params: Mapping[str, Any]) -> dict[str, Any]:
    from vlab.polymers import load_smiles_list
    from vlab.polymers.design import (
        fitted_language_model,
        parse_target,
        shifted_target,
        training_smiles,
    )

    target = parse_target(params["target"])
    data = _training_data(target, params.get("training", {}))
    scale = {p: float(np.nanstd(np.asarray(y, float))) for p, (_, y) in data.items()}
    aim = shifted_target(target, scale, float(params.get("margin", 0.0)))
    model = params.get("forward_model", "gp")
    predictor = _forward_models(model, data)
    log_domain = None if model == "ridge" else predictor.log_domain
    return {
        "lm": fitted_language_model(
            training_smiles(), order=params["order"], n_augment=params["n_augment"]
        ),
        "predictor": predictor,
        "log_domain": log_domain,
        "target": aim,
        "seeds": list(load_smiles_list("hightcond_initial_smiles")),
    }


def _outputs(params: Mapping[str, Any], items: Sequence[Item]) -> dict[str, Variable]:
    from vlab.polymers.design import MAX_SA_SCORE, PROPERTY_UNITS, parse_target

    k = int(params["keep"])
    cand = ("candidate",)
    out = {
        "n_candidates": Variable(dtype="int32", long_name="distinct valid candidates of the chain"),
        "smiles": Variable(dims=cand, shape=(k,), dtype="str", long_name="candidate repeat unit"),
        "log_likelihood": Variable(
            dims=cand, shape=(k,), long_name="log P(properties in the aimed-at box)"
        ),
        "step_found": Variable(dims=cand, shape=(k,), dtype="int32", long_name="SMC step"),
        "stats": Variable(dtype="str", long_name="SMC statistics (JSON)"),
        "sa_score": Variable(
            dims=cand, shape=(k,), long_name="synthetic accessibility score (1 easy - 10 hard)"
        ),
        "strain_flags": Variable(
            dims=cand, shape=(k,), dtype="str", long_name="ring-strain flags (';'-separated)"
        ),
        "plausible": Variable(
            dims=cand,
            shape=(k,),
            dtype="bool",
            long_name=f"no strain flag and SA score <= {MAX_SA_SCORE:g}",
        ),
    }
    for box in parse_target(params["target"]).boxes:
        units = PROPERTY_UNITS.get(box.name, "1")
        out[f"mean_{box.name}"] = Variable(
            dims=cand, shape=(k,), units=units, long_name=f"predicted {box.name}"
        )
        out[f"std_{box.name}"] = Variable(
            dims=cand, shape=(k,), units=units, long_name=f"predictive std of {box.name}"
        )
    return out


def _chains(gen: Mapping[str, Any], n: int, rng: np.random.Generator) -> list[Item]:
    seeds = rng.integers(0, 2**31 - 1, size=n)
    return [{"chain": i, "seed": int(seeds[i])} for i in range(n)]


def _pad(values, k: int, fill, dtype) -> np.ndarray:
    out = np.full(k, fill, dtype=dtype)
    out[: len(values)] = values[:k]
    return out


def _plausibility(smiles) -> dict[str, list]:
    from vlab.polymers.design import assess

    checks = [assess(s) for s in smiles]
    return {
        "sa_score": [c.sa_score for c in checks],
        "strain_flags": [";".join(c.strain_flags) for c in checks],
        "plausible": [c.plausible for c in checks],
    }


def _run_chain(item: Item, params: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict:
    from vlab.campaign.progress import report_progress
    from vlab.polymers.design import run_smc

    result = run_smc(
        ctx["seeds"],
        ctx["lm"],
        ctx["predictor"],
        ctx["target"],
        rng=int(item["seed"]),
        n_particles=params["n_particles"],
        n_steps=params["n_steps"],
        likelihood=params["likelihood"],
        log_domain=ctx.get("log_domain"),
        callback=lambda step, n_steps: report_progress(1),
    )
    order = np.argsort(-np.asarray(result.log_likelihood), kind="stable")[: params["keep"]]
    k = int(params["keep"])
    out = {
        "n_candidates": len(result.smiles),
        "smiles": _pad(np.array(result.smiles, dtype=object)[order], k, "", object),
        "log_likelihood": _pad(np.asarray(result.log_likelihood)[order], k, np.nan, float),
        "step_found": _pad(np.asarray(result.step_found)[order], k, -1, np.int32),
        "stats": json.dumps(
            {**result.stats.as_dict(), "aimed_at": str(ctx["target"])}, default=float
        ),
    }
    checks = _plausibility([str(s) for s in out["smiles"] if s])
    out["sa_score"] = _pad(np.array(checks["sa_score"], float), k, np.nan, float)
    out["strain_flags"] = _pad(np.array(checks["strain_flags"], dtype=object), k, "", object)
    out["plausible"] = _pad(np.array(checks["plausible"], bool), k, False, bool)
    for name in result.mean:
        out[f"mean_{name}"] = _pad(np.asarray(result.mean[name])[order], k, np.nan, float)
        out[f"std_{name}"] = _pad(np.asarray(result.std[name])[order], k, np.nan, float)
    return out


register_kind(
    Kind(
        name="polymer-design",
        version="3",
        description="iQSPR: SMILES language model + SMC towards a target box, one chain per item",
        check_params=_params,
        outputs=_outputs,
        evaluate_one=_run_chain,
        setup=_setup,
        identity_extra=_training_identity,
        generators={"chains": _chains},
        generator_params={"chains": ()},
        input_attrs={"chain": ("1", "chain number"), "seed": ("1", "random seed of the chain")},
        progress_units=lambda params, item: int(params["n_steps"]),
        progress_unit="step",
    )
)
