"""Active learning of the conductance surrogate: the model chooses what the reference labels.

``vlab conductance learn SPEC`` runs :func:`run_learning`. Each round:

1. *predict*: the surrogate ensemble predicts every unlabelled snapshot of the pool (one or
   more catalog stores of snapshots: break-junction MD stores, or stores of labelled
   snapshots whose labels the loop does not read) with its spread;
2. *select*: a batch of snapshots; ``uncertainty``: greedy farthest-point sampling in
   descriptor space among the ``candidates x batch`` snapshots of largest ensemble spread
   (out of ``scan`` unlabelled snapshots drawn at random, or all), starting from the most
   uncertain one, so a batch does not spend its budget on near-duplicates (``spread:
   relative`` ranks by the spread divided by the predicted G instead); with ``strata``
   > 1 the batch is shared among that many equal-size groups of predicted conductance (so the
   labels follow the distribution of the pool, as a random draw does); with ``explore``
   > 0 that fraction of the batch is drawn at random instead; ``random``: a uniform draw (the
   baseline). Round 0 is a random draw of ``initial`` snapshots for both;
3. *label*: a ``conductance-reference`` campaign per pool store labels the batch on the
   cluster (identical items already computed in any catalog store are copied, not computed);
4. *retrain*: the surrogate is fitted again on all labels (with those of the ``train``
   stores, labelled snapshots that every round trains on and none selects: a model trained
   elsewhere extended to a new kind of structure), afresh from the same seed (or,
   with ``model.params.warm_start: true``, starting from the last round's members), saved,
   and scored on the validation stores (never selected). The model is the local-descriptor
   :class:`~vlab.conductance.ConductanceSurrogate` (``model.preset``, ``model.params``) or,
   with ``model.estimator: bottleneck``, the fast
   :class:`~vlab.conductance.BottleneckSurrogate` (``model.params``; its batch rule measures
   distances between rows of bottleneck features).

Every round leaves ``round-NNN.selection.json`` (written before labelling), its label stores
``round-NNN/*.zarr`` (registered in the catalog as ``NAME-rNNN-POOL``), the model
``round-NNN.npz`` with ``round-NNN.report.json`` (the input hashes of its training labels,
its validation scores and residuals, from which ``vlab conductance predict`` draws its
predictive histograms) and ``round-NNN.json`` (selection, scores, labels, metrics and timings;
written last, it marks the round complete). Running the same spec again continues after the
last complete round: a selection on disk is reused, a label campaign resumes, nothing is
computed twice. The loop stops at the label budget, after ``max_rounds`` rounds, or when the
validation R² and histogram peak moved less than ``stop`` for ``patience`` rounds in a row.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlab._utils import setting_differences
from vlab.errors import InputError, SpecError

__all__ = [
    "LearningSpec",
    "choose_batch",
    "describe",
    "load_learning",
    "parse_learning",
    "plot_learning_curve",
    "predict_with_spread",
    "relative_spread",
    "run_learning",
    "select_batch",
    "snapshot_fingerprint",
    "validation_metrics",
]

_KEYS = {
    "name",
    "description",
    "pool",
    "snapshot_stride",
    "validation",
    "train",
    "reference",
    "model",
    "strategy",
    "initial",
    "batch",
    "budget",
    "max_rounds",
    "candidates",
    "strata",
    "spread",
    "scan",
    "explore",
    "stop",
    "seed",
    "out",
    "chunk_size",
}
_REQUIRED = {"name", "pool", "validation", "batch", "budget", "out"}
_STRATEGIES = ("uncertainty", "random")
_ESTIMATORS = ("local", "bottleneck")
_SPREADS = ("absolute", "relative")
RELATIVE_FLOOR_G0 = 0.1  # G0; the relative spread divides by max(predicted G, this)
_STOP_KEYS = {"r2_change", "peak_change", "patience"}


@dataclass(frozen=True, kw_only=True)
class LearningSpec:
    """An active-learning run, read from YAML by :func:`load_learning`."""

    name: str
    pool: tuple[str, ...]  # catalog names of stores of snapshots
    validation: tuple[str, ...]  # catalog names or paths of reference stores
    out: Path
    batch: int
    budget: int
    initial: int
    description: str = ""
    train: tuple[str, ...] = ()  # reference stores in every round's training set (not chosen)
    snapshot_stride: int = 1
    reference: Mapping[str, Any] = field(default_factory=lambda: {"fidelity": "spd"})
    model: Mapping[str, Any] = field(default_factory=dict)
    strategy: str = "uncertainty"
    max_rounds: int = 1000
    candidates: int = 4
    strata: int = 1  # groups of predicted conductance that share each batch (1: none)
    spread: str = "absolute"  # rank by the ensemble spread ("absolute") or spread / G
    scan: int | None = None  # unlabelled snapshots scored per round (a random subset); None: all
    explore: float = 0.0  # fraction of each uncertainty batch drawn at random
    stop: Mapping[str, float] | None = None
    seed: int = 0
    chunk_size: int = 25


def _err(source: str, message: str) -> SpecError:
    return SpecError(f"{source}: {message}")


def _int(data: Mapping, key: str, source: str, default: int, low: int = 1) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _err(source, f"{key!r} must be an integer >= {low}. Got {value!r}.")
    return value


def _names(data: Mapping, key: str, source: str) -> tuple[str, ...]:
    value = data.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _err(source, f"{key!r} must be a catalog name or a list of them. Got {value!r}.")
    return tuple(value)


def _stop(data: Mapping, source: str) -> dict[str, float] | None:
    value = data.get("stop")
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - _STOP_KEYS:
        raise _err(
            source, f"'stop' must be a mapping with keys {sorted(_STOP_KEYS)}. Got {value!r}."
        )
    out = {"r2_change": 0.005, "peak_change": 0.02, "patience": 2, **value}
    for key in ("r2_change", "peak_change"):
        if isinstance(out[key], bool) or not isinstance(out[key], int | float) or out[key] < 0:
            raise _err(source, f"'stop.{key}' must be a number >= 0. Got {out[key]!r}.")
    _int(out, "patience", f"{source}: stop", 1)
    return out


def _choice(data: Mapping, key: str, source: str, allowed: tuple[str, ...]) -> str:
    value = data.get(key, allowed[0])
    if value not in allowed:
        raise _err(source, f"{key!r} must be one of {allowed}. Got {value!r}.")
    return value


def _fraction(data: Mapping, key: str, source: str) -> float:
    value = data.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _err(source, f"{key!r} must be a number from 0 to 1. Got {value!r}.")
    return float(value)


def _mapping(data: Mapping, key: str, source: str, default: dict) -> dict:
    value = data.get(key, default)
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _err(source, f"{key!r} must be a mapping of names. Got {value!r}.")
    return dict(value)


def parse_learning(data: Any, *, source: str = "learning spec", base: Path | None = None):
    """Validate a mapping (a parsed YAML file) into a :class:`LearningSpec`.

    Raises
    ------
    SpecError
        One line naming the file and the bad key.
    """
    if not isinstance(data, Mapping):
        raise _err(source, f"a learning spec is a mapping of keys. Got {type(data).__name__}.")
    unknown, missing = sorted(set(data) - _KEYS), sorted(_REQUIRED - set(data))
    if unknown or missing:
        what = f"unknown key(s) {unknown}" if unknown else f"missing key(s) {missing}"
        raise _err(source, f"{what}; a learning spec has the keys {sorted(_KEYS)}.")
    for key in ("name", "description", "out"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            raise _err(source, f"{key!r} must be non-empty text. Got {data[key]!r}.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", data["name"]):
        raise _err(
            source,
            "'name' must be letters, digits, '.', '_', '-' that start with a letter or digit "
            f"(it names the round stores NAME-rNNN-POOL). Got {data['name']!r}.",
        )
    strategy = data.get("strategy", "uncertainty")
    if strategy not in _STRATEGIES:
        raise _err(source, f"'strategy' must be one of {_STRATEGIES}. Got {strategy!r}.")
    batch = _int(data, "batch", source, 1)
    model = _mapping(data, "model", source, {})
    _check_model(model, source)
    reference = _mapping(data, "reference", source, {"fidelity": "spd"})
    _check_reference(reference, source)
    pool, validation = _names(data, "pool", source), _names(data, "validation", source)
    train = _names(data, "train", source) if "train" in data else ()
    for key, names, other, others, why in (
        ("validation", validation, "pool", pool, "its snapshots are never chosen"),
        ("train", train, "pool", pool, "its labels are in every round's training set"),
        ("train", train, "validation", validation, "its labels are in every round's training set"),
    ):
        shared = sorted(set(names) & set(others))
        if shared:
            raise _err(
                source,
                f"{key!r} must not share stores with {other!r} ({why}). Got {shared} in both.",
            )
    base = base or Path.cwd()
    budget, initial = _int(data, "budget", source, 1), _int(data, "initial", source, batch)
    if budget < initial:
        raise SpecError(
            f"{source}: 'budget' ({budget}) must be at least 'initial' ({initial}), the labels "
            "of the first round."
        )
    return LearningSpec(
        name=data["name"],
        description=data.get("description", ""),
        pool=pool,
        validation=validation,
        train=train,
        out=(base / Path(data["out"]).expanduser()).resolve(),
        batch=batch,
        budget=budget,
        initial=initial,
        snapshot_stride=_int(data, "snapshot_stride", source, 1),
        reference=reference,
        model=model,
        strategy=strategy,
        max_rounds=_int(data, "max_rounds", source, 1000),
        candidates=_int(data, "candidates", source, 4),
        strata=_int(data, "strata", source, 1),
        spread=_choice(data, "spread", source, _SPREADS),
        scan=None if data.get("scan") is None else _int(data, "scan", source, 1),
        explore=_fraction(data, "explore", source),
        stop=_stop(data, source),
        seed=_int(data, "seed", source, 0, low=0),
        chunk_size=_int(data, "chunk_size", source, 25),
    )


def _check_model(model: Mapping, source: str) -> None:
    if set(model) - {"estimator", "preset", "params"}:
        raise _err(
            source, f"'model' has the keys ['estimator', 'params', 'preset']. Got {sorted(model)}."
        )
    estimator = model.get("estimator", "local")
    if estimator not in _ESTIMATORS:
        raise _err(
            source,
            f"'model.estimator' must be one of {_ESTIMATORS} (local: SOAP descriptors and a "
            f"network ensemble; bottleneck: the fast tree model). Got {estimator!r}.",
        )
    if estimator == "bottleneck" and "preset" in model:
        raise _err(
            source,
            "'model.preset' names settings of the local estimator; the bottleneck estimator "
            f"takes 'model.params' only. Got preset {model['preset']!r}.",
        )
    if not isinstance(model.get("params", {}), Mapping):
        raise _err(
            source,
            "'model.params' must be a mapping of ConductanceSurrogate parameters by name. "
            f"Got {model['params']!r}.",
        )
    warm = _warm_start(model)
    if estimator == "bottleneck" and "warm_start" in (model.get("params") or {}):
        raise _err(
            source,
            "'model.params.warm_start' is a parameter of the local estimator; the bottleneck "
            "estimator is fitted afresh every round.",
        )
    if not isinstance(warm, bool):
        raise _err(
            source,
            "'model.params.warm_start' must be true (start each round from the last round's "
            f"members) or false (fit afresh). Got {warm!r}.",
        )
    try:
        _estimator(model, 0)
    except InputError as err:
        raise _err(source, f"'model': {err}") from None


def _check_reference(reference: Mapping, source: str) -> None:
    from vlab.campaign import get_kind

    bad = set(reference) - {"fidelity", "calculator"}
    if bad:
        raise _err(
            source, f"'reference' has the keys ['calculator', 'fidelity']. Got {sorted(bad)}."
        )
    try:
        get_kind("conductance-reference").check_params(dict(reference))
    except SpecError as err:
        raise _err(source, f"'reference': {err}") from None


def load_learning(path: str | os.PathLike) -> LearningSpec:
    """Read and validate a learning spec (YAML); paths are relative to its folder."""
    from vlab._yaml import load_yaml_file

    path = Path(path)
    if not path.is_file():
        raise _err(str(path), "no such learning spec file.")
    data = load_yaml_file(path, error=SpecError, what="learning spec")
    return parse_learning(data, source=str(path), base=path.resolve().parent)


def _warm_start(model: Mapping):
    """The spec's ``model.params.warm_start`` (default False: every round is fitted afresh)."""
    return (model.get("params") or {}).get("warm_start", False)


def _estimator(model: Mapping, seed: int):
    from vlab.conductance import BottleneckSurrogate, ConductanceSurrogate

    params = {"random_state": seed, **dict(model.get("params") or {})}
    if model.get("estimator", "local") == "bottleneck":
        return BottleneckSurrogate.from_params(params)
    params["warm_start"] = _warm_start(model)
    return ConductanceSurrogate.from_preset(model.get("preset", "default"), **params)


# ------------------------------------------------------------------------ the data
@dataclass
class _Pool:
    """Every snapshot of the pool stores: keys, structures, descriptors, fingerprints."""

    keys: list[tuple[str, int, int]]  # (pool store, trace, snapshot)
    temperature: np.ndarray
    descriptors: list
    fingerprints: np.ndarray
    structure_keys: list[str]  # vlab.workflows.conductance.structure_keys
    kinds: set[tuple[int, int]]  # (atoms, electrode atoms per layer) of its junctions


def snapshot_fingerprint(desc) -> np.ndarray:
    """Fixed-length vector of one snapshot's LocalDescriptors: the mean and standard
    deviation of its window atoms' features (where the batch rule measures distances); a
    snapshot's row of bottleneck features is its own fingerprint."""
    if isinstance(desc, np.ndarray):
        return desc
    f = desc.features[desc.window]
    return np.concatenate([f.mean(axis=0), f.std(axis=0)])


def _describe(structures: list, settings) -> list:
    """What the estimator reads of each structure: LocalDescriptors (``DescriptorSettings``)
    or a row of bottleneck features (``BottleneckSettings``)."""
    from vlab.conductance import BottleneckSettings, bottleneck_features
    from vlab.conductance.descriptors import compute_descriptors

    if isinstance(settings, BottleneckSettings):
        return list(bottleneck_features(structures, settings))
    return compute_descriptors(structures, settings)


def _settings(model) -> Any:
    """The descriptor or feature settings of an (unfitted) estimator."""
    from vlab.conductance import BottleneckSettings, BottleneckSurrogate
    from vlab.conductance.descriptors import DescriptorSettings

    if isinstance(model, BottleneckSurrogate):
        return model.settings or BottleneckSettings()
    return model.descriptor_settings or DescriptorSettings()


def describe(structures: list, model) -> list:
    """What surrogate ``model`` reads of each structure, computed once so that many models
    with the same settings (the rounds of a loop) can predict from it: LocalDescriptors for a
    :class:`~vlab.conductance.ConductanceSurrogate`, a row of bottleneck features for a
    :class:`~vlab.conductance.BottleneckSurrogate`."""
    return _describe(structures, _settings(model))


def _load_pool(
    spec: LearningSpec, settings, cache: dict | None, labelled: frozenset = frozenset()
) -> _Pool:
    """The pool's snapshots, each once (the first of those with the same structure key), and
    none that is among the ``labelled`` structure keys (the validation and train snapshots);
    a ``UserWarning`` says how many were left out."""
    from vlab import catalog
    from vlab.campaign.kinds.conductance import snapshot_items
    from vlab.workflows.conductance import structure_keys

    cache = {} if cache is None else cache
    keys, temps, descs, skeys = [], [], [], []
    seen: set[tuple[int, int]] = set()
    for name in spec.pool:
        ck = ("pool", name, spec.snapshot_stride, settings)
        if ck not in cache:
            ds = catalog.select(catalog.open(name), status="done")
            items = snapshot_items(ds, stride=spec.snapshot_stride)
            structures = [it["structure"] for it in items]
            cache[ck] = (
                [(name, it["trace"], it["snapshot"]) for it in items],
                [it["temperature"] for it in items],
                _describe(structures, settings),
                structure_keys(structures),
                _junction_kinds(structures),
            )
        k, t, d, sk, kinds = cache[ck]
        keys += k
        temps += t
        descs += d
        skeys += sk
        seen |= kinds
    first: dict[str, int] = {}
    for i, key in enumerate(skeys):
        first.setdefault(key, i)
    keep = [i for i, key in enumerate(skeys) if first[key] == i and key not in labelled]
    if len(keep) < len(skeys):
        held = sum(key in labelled for key in first)
        twice = len(skeys) - len(first)
        said = []
        if held:
            said.append(f"{held} are validation or train snapshots too (never chosen)")
        if twice:
            said.append(f"{twice} repeat a snapshot of another pool store (chosen once at most)")
        warnings.warn(
            f"{spec.name}: of the pool's {len(skeys)} snapshots, {'; '.join(said)}.",
            UserWarning,
            stacklevel=3,
        )
        keys, skeys = [keys[i] for i in keep], [skeys[i] for i in keep]
        temps, descs = [temps[i] for i in keep], [descs[i] for i in keep]
    if not keys:
        raise InputError(
            f"{spec.name}: the pool has no snapshot that is not a validation or train one."
        )
    fp = np.stack([snapshot_fingerprint(d) for d in descs])
    fp = (fp - fp.mean(axis=0)) / np.where(fp.std(axis=0) > 0, fp.std(axis=0), 1.0)
    return _Pool(
        keys=keys,
        temperature=np.array(temps),
        descriptors=descs,
        fingerprints=fp,
        structure_keys=skeys,
        kinds=seen,
    )


def _junction_kinds(structures: list) -> set[tuple[int, int]]:
    """The kinds of junction among ``structures``: (atoms, electrode atoms per layer)."""
    from vlab.conductance.structures import electrode_atoms_per_layer

    return {(len(a), electrode_atoms_per_layer(a) or 0) for a in structures}


def _load_labelled(names, settings, cache: dict | None) -> dict[str, Any]:
    """Descriptors, reference labels, temperatures, structure keys and kinds of junction
    (:func:`_junction_kinds`) of labelled stores (validation, train)."""
    from vlab import catalog
    from vlab.workflows.conductance import labelled_structures, structure_keys

    cache = {} if cache is None else cache
    descs, ys, temps, skeys = [], [], [], []
    seen: set[tuple[int, int]] = set()
    for name in names:
        ck = ("labelled", name, settings)
        if ck not in cache:
            structures, y, _, _ = labelled_structures(name)
            ds = catalog.select(catalog.open_store(catalog.locate(name)), status="done")
            temp = ds["temperature"].values.astype(float) if "temperature" in ds else None
            temp = np.full(len(y), np.nan) if temp is None else temp
            described = _describe(structures, settings)
            keys = structure_keys(structures)
            cache[ck] = (described, y, temp, keys, _junction_kinds(structures))
        d, y, t, sk, kinds = cache[ck]
        descs += d
        ys.append(y)
        temps.append(t)
        skeys += sk
        seen |= kinds
    return {
        "descriptors": descs,
        "y": np.concatenate(ys) if ys else np.zeros(0),
        "temperature": np.concatenate(temps) if temps else np.zeros(0),
        "keys": skeys,
        "kinds": seen,
    }


# ------------------------------------------------------------------------ selection
def select_batch(
    std: np.ndarray,
    fingerprints: np.ndarray,
    n: int,
    *,
    candidates: int = 4,
    mean: np.ndarray | None = None,
    strata: int = 1,
) -> np.ndarray:
    """Indices of ``n`` rows: farthest-point sampling among the most uncertain ones.

    Takes the ``candidates * n`` rows of largest ``std``, starts from the most uncertain and
    adds, one at a time, the candidate farthest (Euclidean, in ``fingerprints``) from those
    already chosen. With ``strata`` > 1 the rows are first split by their predicted value
    ``mean`` into ``strata`` groups of equal size (quantiles), the batch is shared among the
    groups in proportion to their size, and each group's share is chosen by the rule above
    within the group: the labels then follow the distribution of the predictions (as a random
    draw does) while each group contributes its most uncertain rows.

    Examples
    --------
    >>> std = np.array([0.9, 0.8, 0.1, 0.7])
    >>> fp = np.array([[0.0], [0.01], [5.0], [3.0]])
    >>> select_batch(std, fp, 2, candidates=1).tolist()
    [0, 1]
    >>> select_batch(std, fp, 2, candidates=2).tolist()  # all four are candidates
    [0, 2]
    >>> mean = np.array([1.0, 1.1, 3.0, 2.9])  # two strata: {0, 1} and {2, 3}
    >>> sorted(select_batch(std, fp, 2, candidates=1, mean=mean, strata=2).tolist())
    [0, 3]
    """
    if isinstance(strata, bool) or not isinstance(strata, int | np.integer) or strata < 1:
        raise InputError(f"The 'strata' of select_batch must be an integer >= 1. Got {strata!r}.")
    n = min(n, len(std))
    if n <= 0:
        return np.array([], dtype=int)
    if strata == 1:
        return _farthest_of_uncertain(std, fingerprints, n, candidates)
    if mean is None or len(mean) != len(std):
        raise InputError(
            "select_batch with strata > 1 needs 'mean', one predicted value per row of 'std'."
        )
    groups = np.array_split(np.argsort(mean, kind="stable"), min(strata, len(std)))
    sizes = np.array([len(g) for g in groups], float)
    share = n * sizes / sizes.sum()
    count = np.floor(share).astype(int)
    for i in np.argsort(-(share - count), kind="stable")[: n - count.sum()]:
        count[i] += 1  # largest remainders
    picks = [
        g[_farthest_of_uncertain(std[g], fingerprints[g], int(c), candidates)]
        for g, c in zip(groups, count, strict=True)
        if c > 0
    ]
    return np.concatenate(picks)


def choose_batch(
    mean: np.ndarray,
    std: np.ndarray,
    fingerprints: np.ndarray,
    n: int,
    *,
    spread: str = "absolute",
    candidates: int = 4,
    strata: int = 1,
) -> np.ndarray:
    """Indices of the ``n`` rows an uncertainty round labels, from the ensemble's ``mean`` and
    ``std``: rows are scored by the spread (``spread="absolute"``: ``std``; ``"relative"``:
    :func:`relative_spread`) and picked by :func:`select_batch` with ``candidates`` and
    ``strata``. The loop's rule, in one place.

    Examples
    --------
    >>> mean = np.array([5.0, 1.0, 0.05])
    >>> std = np.array([0.5, 0.2, 0.05])
    >>> fp = np.array([[0.0], [1.0], [2.0]])
    >>> choose_batch(mean, std, fp, 1, candidates=1).tolist()
    [0]
    >>> choose_batch(mean, std, fp, 1, spread="relative", candidates=1).tolist()
    [2]
    """
    if spread not in _SPREADS:
        raise InputError(
            f"The 'spread' of choose_batch must be one of {list(_SPREADS)}. Got {spread!r}."
        )
    score = std if spread == "absolute" else relative_spread(mean, std)
    return select_batch(score, fingerprints, n, candidates=candidates, mean=mean, strata=strata)


def relative_spread(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Ensemble spread relative to the prediction: ``std / max(mean, RELATIVE_FLOOR_G0)``.

    The absolute spread of the conductance ensemble grows with G, so ranking by it favours
    thick wires (G > 3 G0); relative to G, the single-atom plateau and breaking contacts
    compete on equal terms.

    Examples
    --------
    >>> relative_spread(np.array([5.0, 1.0, 0.0]), np.array([0.5, 0.2, 0.05])).tolist()
    [0.1, 0.2, 0.5]
    """
    return np.asarray(std, float) / np.maximum(np.asarray(mean, float), RELATIVE_FLOOR_G0)


def _farthest_of_uncertain(std, fingerprints, n: int, candidates: int) -> np.ndarray:
    top = np.argsort(-std, kind="stable")[: max(n, candidates * n)]
    chosen = [0]
    dist = np.linalg.norm(fingerprints[top] - fingerprints[top[0]], axis=1)
    dist[0] = -np.inf
    for _ in range(n - 1):
        k = int(np.argmax(dist))
        chosen.append(k)
        dist = np.minimum(dist, np.linalg.norm(fingerprints[top] - fingerprints[top[k]], axis=1))
        dist[chosen] = -np.inf
    return top[chosen]


# ------------------------------------------------------------------------ metrics
def validation_metrics(
    y: np.ndarray, pred: np.ndarray, temperature: np.ndarray | None = None
) -> dict[str, Any]:
    """R², MAE (all and on 0-3 G0 of the reference) and histogram peaks of both, G0.

    Examples
    --------
    >>> y = np.linspace(0, 4, 50)
    >>> m = validation_metrics(y, y + 0.1)
    >>> m["mae_G0"], m["n_0_3G0"]
    (0.1, 37)
    """
    from sklearn.metrics import mean_absolute_error, r2_score

    from vlab.conductance import histogram_peak
    from vlab.workflows.conductance import peak_or_none

    low = (y >= 0) & (y <= 3)
    out: dict[str, Any] = {
        "n": int(y.size),
        "r2": round(float(r2_score(y, pred)), 4),
        "mae_G0": round(float(mean_absolute_error(y, pred)), 4),
        "n_0_3G0": int(low.sum()),
        "r2_0_3G0": round(float(r2_score(y[low], pred[low])), 4) if low.sum() > 1 else None,
        "mae_0_3G0": round(float(mean_absolute_error(y[low], pred[low])), 4) if low.any() else None,
        "peak_surrogate_G0": peak_or_none(pred, histogram_peak),
        "peak_reference_G0": peak_or_none(y, histogram_peak),
    }
    if temperature is not None:
        for temp in np.unique(temperature[np.isfinite(temperature)]):
            rows = temperature == temp
            out[f"peak_{temp:g}K_surrogate_G0"] = peak_or_none(pred[rows], histogram_peak)
            out[f"peak_{temp:g}K_reference_G0"] = peak_or_none(y[rows], histogram_peak)
    return out


# ------------------------------------------------------------------------ state on disk
def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` as standard JSON all or nothing (a temporary file, then a rename)."""
    from vlab._utils import report_json

    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(report_json(data) + "\n")
    os.replace(tmp, path)


#: Settings that decide what the rounds choose and learn: a folder of rounds continues only
#: with the same ones (``budget``, ``max_rounds`` and ``stop`` may change: a loop can be
#: extended or ended sooner).
_LOOP_KEYS = (
    "pool", "validation", "train", "reference", "model", "strategy", "initial", "batch",
    "candidates", "strata", "spread", "scan", "explore", "seed", "snapshot_stride",
)  # fmt: skip


def _check_same_loop(spec: LearningSpec) -> None:
    """Record the settings of the loop in ``out/learning-spec.json`` at its first run, and
    refuse to continue a folder of rounds made with other settings (naming them)."""
    settings = {k: getattr(spec, k) for k in _LOOP_KEYS}
    now = json.loads(json.dumps(settings, sort_keys=True, default=str))
    record = spec.out / "learning-spec.json"
    if not record.is_file():
        _write_json(record, now)
        return
    try:
        before = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # unreadable: written again
        _write_json(record, now)
        return
    changed = setting_differences({k: before.get(k) for k in _LOOP_KEYS}, now)
    if changed:
        raise SpecError(
            f"{spec.name}: the folder {str(spec.out)!r} holds the rounds of a loop with other "
            f"settings ({'; '.join(changed)}). Give the spec another 'out' (or delete that "
            "folder to start over); budget, max_rounds and stop may change between runs."
        )


def _warn_other_kinds(spec: LearningSpec, learned: set, scored: set) -> None:
    """A UserWarning if the validation stores hold kinds of junction (atoms, electrode
    width) that neither the pool nor the train stores have: the loop's validation scores, and
    the stopping rule that follows them, then measure transfer to another kind of junction."""

    def words(kinds: set) -> str:
        shown = sorted(kinds)[:4]
        text = ", ".join(f"{n} atoms ({w or '?'} per electrode layer)" for n, w in shown)
        return text + (f" and {len(kinds) - 4} more" if len(kinds) > 4 else "")

    other = scored - learned
    if other and learned:
        warnings.warn(
            f"{spec.name}: the validation stores hold junctions of a kind the pool and train "
            f"stores do not have ({words(other)}; the pool and train stores: {words(learned)}). "
            "The validation scores, and the stopping rule that follows them, measure transfer "
            "to that kind; validate on held-out snapshots of the pool's kind to measure what "
            "the loop learns.",
            UserWarning,
            stacklevel=3,
        )


def _check_round_names(spec: LearningSpec) -> None:
    """Refuse a loop whose round stores would take the catalog names (``NAME-rNNN-POOL``) of
    the round stores of another loop of the same ``name`` in another folder, where those
    stores still are: the entries would then point here, and the other loop's stores would
    drop out of the catalog."""
    import re

    from vlab import catalog

    pattern = re.compile(rf"{re.escape(spec.name)}-r\d{{3}}-.+")
    here = spec.out.expanduser().resolve()
    for entry in catalog.list_entries():
        if not pattern.fullmatch(entry.name) or catalog.is_url(entry.location) or entry.missing:
            continue  # (a store deleted since: its name is free)
        where = Path(str(entry.location))
        if here != where and here not in where.parents:
            raise SpecError(
                f"{spec.name}: the catalog entry {entry.name!r} names a round store of another "
                f"loop called {spec.name!r} ({str(where)!r}, outside 'out' {str(here)!r}); "
                "this loop's rounds would take its name and that store would drop out of the "
                "catalog. Give this loop another 'name', or run it with that loop's 'out'."
            )


def _rounds_done(out: Path) -> list[dict]:
    rounds = []
    while (out / f"round-{len(rounds):03d}.json").is_file():
        rounds.append(json.loads((out / f"round-{len(rounds):03d}.json").read_text()))
    return rounds


def _selection(spec, pool, model, labelled: set, k: int, rng) -> tuple[dict, dict]:
    """The batch of round ``k`` (read back if it was chosen before) and stage timings."""
    path = spec.out / f"round-{k:03d}.selection.json"
    if path.is_file():
        return json.loads(path.read_text()), {"predict_s": 0.0, "select_s": 0.0}
    free = np.array([i for i, key in enumerate(pool.keys) if key not in labelled])
    n = min(spec.initial if k == 0 else spec.batch, spec.budget - len(labelled), free.size)
    t0 = time.perf_counter()
    std = mean = None
    if model is None or spec.strategy == "random":
        pick = rng.choice(free.size, size=n, replace=False)
    else:
        if spec.scan is not None and free.size > max(spec.scan, n):
            free = np.sort(rng.choice(free, size=max(spec.scan, n), replace=False))
        mean, std = predict_with_spread(model, [pool.descriptors[i] for i in free])
    t1 = time.perf_counter()
    if std is not None:
        n_random = round(spec.explore * n)
        pick = choose_batch(
            mean,
            std,
            pool.fingerprints[free],
            n - n_random,
            spread=spec.spread,
            candidates=spec.candidates,
            strata=spec.strata,
        )
        rest = np.setdiff1d(np.arange(free.size), pick)
        pick = np.concatenate([pick, rng.choice(rest, size=n_random, replace=False)]).astype(int)
    t2 = time.perf_counter()
    chosen = free[pick]
    selection = {
        "round": k,
        "strategy": "random" if model is None else spec.strategy,
        "snapshots": [list(pool.keys[i]) for i in chosen],
        "predicted_G0": None if mean is None else [round(float(v), 5) for v in mean[pick]],
        "spread_G0": None if std is None else [round(float(v), 5) for v in std[pick]],
        "pool_spread_median_G0": None if std is None else round(float(np.median(std)), 5),
    }
    _write_json(path, selection)
    return selection, {"predict_s": round(t1 - t0, 3), "select_s": round(t2 - t1, 3)}


def predict_with_spread(model, descriptors: list, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble mean and spread of a fitted surrogate on ``descriptors`` (a list of
    LocalDescriptors or ase.Atoms), ``size`` structures at a time (bounded memory)."""
    parts = [
        model.predict(descriptors[i : i + size], return_std=True)
        for i in range(0, len(descriptors), size)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _label(spec, selection: dict, k: int, client, progress: bool) -> tuple[dict, list]:
    """Run the label campaign(s) of a selection; ``{(store, trace, snapshot): G}``."""
    from vlab import catalog
    from vlab.campaign import parse_spec, run_campaign

    labels, reports = {}, []
    for name in dict.fromkeys(s[0] for s in selection["snapshots"]):
        picks = [f"{t}:{s}" for p, t, s in selection["snapshots"] if p == name]
        store = spec.out / f"round-{k:03d}" / f"{name}.zarr"
        cspec = parse_spec(
            {
                "name": f"{spec.name}-r{k:03d}-{name}",
                "kind": "conductance-reference",
                "description": f"round {k} of {spec.name}: labels of the chosen snapshots",
                "inputs": {"catalog": name},
                "params": {
                    **spec.reference,
                    "snapshot_stride": spec.snapshot_stride,
                    "snapshots": picks,
                },
                "store": str(store),
                "chunk_size": spec.chunk_size,
            },
            source=f"{spec.name}: round {k} labels",
        )
        report = run_campaign(cspec, client=client, progress=progress)
        reports.append(report)
        ds = catalog.select(catalog.open_store(store), status="done")
        ds = ds[["trace", "snapshot", "conductance"]].load()
        for t, s, g in zip(ds["trace"].values, ds["snapshot"].values, ds["conductance"].values):
            labels[(name, int(t), int(s))] = float(g)
    return labels, reports


def _all_labels(spec, rounds: list[dict]) -> dict:
    labels = {}
    for r in rounds:
        for (p, t, s), g in zip(r["snapshots"], r["labels_G0"], strict=True):
            labels[(p, int(t), int(s))] = g
    return labels


def _should_stop(spec: LearningSpec, rounds: list[dict], n_pool: int) -> str | None:
    n = rounds[-1]["n_labels"] if rounds else 0
    if rounds and n >= min(spec.budget, n_pool):
        return f"label budget reached ({n} labels; budget {spec.budget})"
    if len(rounds) >= spec.max_rounds:
        return f"max_rounds reached ({len(rounds)})"
    stop = spec.stop
    if stop is None or len(rounds) <= stop["patience"]:
        return None
    recent = [r["validation"] for r in rounds[-stop["patience"] - 1 :]]
    r2 = [m["r2"] for m in recent]
    peaks = [m["peak_surrogate_G0"] for m in recent]
    steady_r2 = max(r2) - min(r2) <= stop["r2_change"]
    steady_peak = None not in peaks and max(peaks) - min(peaks) <= stop["peak_change"]
    if steady_r2 and steady_peak:
        return f"validation R² and histogram peak steady for {stop['patience']} rounds"
    return None


def _round_line(spec: LearningSpec, r: dict) -> str:
    v, t = r["validation"], r["timings_s"]
    return (
        f"{spec.name} round {r['round']}: {r['n_labels']} labels (+{len(r['snapshots'])}, "
        f"computed {r['computed']}, copied {r['copied']}"
        + (f", {r['labelled_before']} from an interrupted run" if r.get("labelled_before") else "")
        + f"); validation R² {v['r2']:.3f}, "
        f"MAE {v['mae_G0']:.3f} G0, peak {v['peak_surrogate_G0']} vs {v['peak_reference_G0']} "
        f"G0; predict {t['predict_s']:.1f} s, select {t['select_s']:.2f} s, "
        f"label {t['label_s']:.1f} s, retrain {t['retrain_s']:.1f} s"
    )


# ------------------------------------------------------------------------ the loop
def run_learning(
    spec: LearningSpec | str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    synchronous: bool = False,
    echo: Callable[[str], None] | None = print,
    cache: dict | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or continue) the active-learning loop of ``spec`` (see the module docstring).

    Parameters
    ----------
    spec : LearningSpec or path
        The spec, or the path of its YAML file.
    workers, scheduler, synchronous
        Where the label campaigns run (as for ``vlab run``); ``synchronous``: in this process.
    echo : callable or None
        Receives the dashboard link and one progress line per round.
    cache : dict, optional
        Descriptors of the pool and validation stores, kept across calls (benchmarks).
    progress : bool
        Progress bars (tqdm, on stderr) in each round: over the chosen snapshots as the
        reference labels them, and over the ensemble members as the surrogate retrains
        (networks; the boosted-tree estimator has none).

    Returns
    -------
    dict
        The summary (also ``OUT/summary.json``): the rounds' label counts, metrics and
        timings, why the loop stopped, the final model file and the learning-curve figure
        (``OUT/learning-curve.png``, :func:`plot_learning_curve`).
    """
    import contextlib

    from vlab.campaign import connect
    from vlab.conductance import ConductanceSurrogate, load_model_file

    spec = spec if isinstance(spec, LearningSpec) else load_learning(spec)
    echo = echo or (lambda line: None)
    reference = _check_label_references(spec)
    _check_round_names(spec)
    settings = _settings(_estimator(spec.model, spec.seed))
    val = _load_labelled(spec.validation, settings, cache)
    base = _load_labelled(spec.train, settings, cache)
    pool = _load_pool(spec, settings, cache, frozenset(val["keys"]) | frozenset(base["keys"]))
    _warn_other_kinds(spec, pool.kinds | base["kinds"], val["kinds"])
    spec.out.mkdir(parents=True, exist_ok=True)  # once the stores are known to be readable
    _check_same_loop(spec)
    rounds = _rounds_done(spec.out)
    model = None
    if rounds:
        model = load_model_file(spec.out / f"round-{len(rounds) - 1:03d}.npz")
        if isinstance(model, ConductanceSurrogate):
            model.set_params(warm_start=_warm_start(spec.model))
    with contextlib.ExitStack() as stack:
        client = None
        if not synchronous:
            client = stack.enter_context(connect(workers=workers, scheduler=scheduler))
            echo(f"Dask dashboard: {client.dashboard_link}")
        reason = _should_stop(spec, rounds, len(pool.keys))
        while reason is None:
            k = len(rounds)
            rng = np.random.default_rng([spec.seed, k])
            labelled = set(_all_labels(spec, rounds))
            selection, timings = _selection(spec, pool, model, labelled, k, rng)
            t0 = time.perf_counter()
            new, reports = _label(spec, selection, k, client, progress)
            timings["label_s"] = round(time.perf_counter() - t0, 3)
            rounds.append(None)  # placeholder while the model trains
            model, record = _retrain(
                spec, pool, val, base, rounds[:-1], selection, new, model, k, progress, reference
            )
            record.update(
                computed=sum(r.computed for r in reports),
                copied=sum(r.copied for r in reports),
                # labels an earlier, interrupted run of this round left in its stores
                labelled_before=sum(r.done - r.computed - r.copied for r in reports),
                timings_s={**timings, "retrain_s": record.pop("retrain_s")},
            )
            _write_json(spec.out / f"round-{k:03d}.json", record)
            rounds[-1] = record
            echo(_round_line(spec, record))
            reason = _should_stop(spec, rounds, len(pool.keys))
    summary = _summary(spec, rounds, reason)
    if rounds:
        summary["figure"] = str(plot_learning_curve(rounds, spec.out / "learning-curve.png"))
    _write_json(spec.out / "summary.json", summary)
    echo(f"{spec.name}: stopped: {reason}; model {summary['model']}")
    if rounds:
        echo(f"{spec.name}: learning curve {summary['figure']}")
    return summary


def plot_learning_curve(rounds: list[dict], path: str | os.PathLike) -> Path:
    """Draw a loop's validation R², MAE and histogram peaks against its labels; save to ``path``.

    ``rounds`` are the loop's round records (``OUT/round-NNN.json``). Left: R² on all
    validation snapshots and on those whose reference lies in 0-3 G0; middle: MAE (same two);
    right: the histogram peak of the surrogate's predictions against the reference's (all
    snapshots and per temperature). Returns the path of the PNG file.
    """
    from matplotlib.figure import Figure

    if not rounds:
        raise InputError("plot_learning_curve needs at least one round record. Got none.")
    n = [r["n_labels"] for r in rounds]
    val = [r["validation"] for r in rounds]

    def series(key: str) -> np.ndarray:
        return np.array([np.nan if v.get(key) is None else v[key] for v in val], float)

    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (key, label) in zip(axes[:2], (("r2", "R²"), ("mae", "MAE (G0)")), strict=True):
        full = "r2" if key == "r2" else "mae_G0"
        ax.plot(n, series(full), "o-", label="all snapshots")
        ax.plot(n, series(f"{key}_0_3G0"), "s--", label="reference in 0-3 G0")
        ax.set(xlabel="reference labels", ylabel=f"validation {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    temps = sorted(
        {
            k[5:-13]
            for v in val
            for k in v
            if k.startswith("peak_") and k.endswith("K_surrogate_G0")
        },
        key=lambda t: float(t[:-1]),
    )
    for tag in ["", *[f"{t}_" for t in temps]]:
        label = "all" if not tag else tag[:-1].replace("K", " K")
        line = axes[2].plot(n, series(f"peak_{tag}surrogate_G0"), "o-", label=f"surrogate, {label}")
        ref = series(f"peak_{tag}reference_G0")
        axes[2].plot(n, ref, ":", color=line[0].get_color(), label=f"reference, {label}")
    axes[2].set(xlabel="reference labels", ylabel="histogram peak (G0)")
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize="small")
    fig.suptitle(f"Active learning on the validation stores ({rounds[-1]['strategy']} labels)")
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _check_label_references(spec: LearningSpec) -> dict[str, Any]:
    """The reference calculator of the loop's labels (its spec's ``reference``); a
    ``UserWarning`` for a ``train`` or ``validation`` store labelled by that calculator with
    other parameters.

    Raises
    ------
    InputError
        If a ``train`` or ``validation`` store was labelled by another calculator: the model
        would learn, or be scored against, a mix of two references.
    """
    import warnings

    from vlab.workflows.conductance import (
        campaign_reference,
        parameter_differences,
        reference_name,
        same_method,
        same_reference,
        store_reference,
    )

    ours = campaign_reference(spec.reference)
    for what, names in (("train", spec.train), ("validation", spec.validation)):
        for name in names:
            theirs = store_reference(name)
            if theirs is None or same_reference(ours, theirs):
                continue
            mix = "learn" if what == "train" else "be scored against"
            if same_method(ours, theirs):
                warnings.warn(
                    f"{spec.name}: the {what} store {name!r} was labelled by "
                    f"{reference_name(theirs)} with other parameters than the loop's "
                    f"'reference' ({parameter_differences(ours, theirs)}); the loop "
                    f"{'trains on' if what == 'train' else 'scores against'} them as they are.",
                    UserWarning,
                    stacklevel=3,
                )
                continue
            raise InputError(
                f"{spec.name}: the {what} store {name!r} was labelled by "
                f"{reference_name(theirs)}, but the loop labels with {reference_name(ours)} "
                f"(its 'reference'): the model would {mix} a mix of two references. Give "
                f"{what} stores labelled like the loop's, or set 'reference' to theirs."
            )
    return ours


def _retrain(
    spec,
    pool,
    val,
    base,
    done: list[dict],
    selection,
    new: dict,
    model,
    k: int,
    progress: bool,
    reference: Mapping[str, Any] | None = None,
):
    from vlab.conductance import ConditionalResiduals
    from vlab.conductance.shipped import file_sha256
    from vlab.workflows.conductance import RESIDUALS_MIN

    keys = [tuple(s) for s in selection["snapshots"]]
    missing = [key for key in keys if key not in new]
    if missing:
        raise InputError(
            f"{spec.name}: round {k}: the reference gave no label for {len(missing)} chosen "
            f"snapshot(s), e.g. {missing[0]} (failed items: see the round's label store)."
        )
    index = {key: i for i, key in enumerate(pool.keys)}
    labels = {  # (a label of a snapshot left out of the pool since is not trained on)
        key: g
        for key, g in {**_all_labels(spec, done), **{key: new[key] for key in keys}}.items()
        if key in index
    }
    rows = [index[key] for key in labels]
    t0 = time.perf_counter()
    if model is None:
        model = _estimator(spec.model, spec.seed)
    if "verbose" in model.get_params():  # a bar over the ensemble members (not saved)
        model.set_params(verbose=int(progress))
    model.fit(
        [*base["descriptors"], *(pool.descriptors[i] for i in rows)],
        np.concatenate([base["y"], list(labels.values())]),
    )
    retrain = time.perf_counter() - t0
    path = model.save(spec.out / f"round-{k:03d}.npz")
    pred = predict_with_spread(model, val["descriptors"])[0]
    metrics = validation_metrics(val["y"], pred, val["temperature"])
    trained = {*base["keys"], *(pool.structure_keys[i] for i in rows)}
    residuals: dict[str, Any] = {}  # for predictive draws of this model (predict, validate)
    if len(val["y"]) >= RESIDUALS_MIN:
        residuals["residuals"] = ConditionalResiduals(pred, val["y"]).to_dict()
        residuals["residual_structure_keys"] = sorted(set(val["keys"]))
    _write_json(  # what predict and validate read to recognise the model's training labels
        path.with_suffix(".report.json"),
        {
            "model": str(path),
            "model_sha256": file_sha256(path),
            "training_stores": [  # the train stores and the label stores of rounds 0 to k
                *spec.train,
                *(
                    f"{spec.name}-r{j:03d}-{store.stem}"
                    for j in range(k + 1)
                    for store in sorted((spec.out / f"round-{j:03d}").glob("*.zarr"))
                ),
            ],
            **({} if reference is None else {"reference": dict(reference)}),
            "held_out": metrics,
            "held_out_what": f"the loop's validation stores ({', '.join(spec.validation)})",
            **residuals,
            "training_structure_keys": sorted(trained),
        },
    )
    record = {
        "round": k,
        "strategy": selection["strategy"],
        "n_labels": len(labels),
        "n_train": len(base["y"]) + len(labels),
        "snapshots": selection["snapshots"],
        "spread_G0": selection["spread_G0"],
        "labels_G0": [new[key] for key in keys],
        "validation": metrics,
        "model": str(path),
        "retrain_s": round(retrain, 3),
    }
    return model, record


def _summary(spec: LearningSpec, rounds: list[dict], reason: str | None) -> dict[str, Any]:
    return {
        "name": spec.name,
        "strategy": spec.strategy,
        "pool": list(spec.pool),
        "validation": list(spec.validation),
        "train": list(spec.train),
        "stopped": reason,
        "rounds": len(rounds),
        "n_labels": [r["n_labels"] for r in rounds],
        "r2": [r["validation"]["r2"] for r in rounds],
        "mae_G0": [r["validation"]["mae_G0"] for r in rounds],
        "timings_s": [r["timings_s"] for r in rounds],
        "final": rounds[-1]["validation"] if rounds else None,
        "model": rounds[-1]["model"] if rounds else None,
    }
