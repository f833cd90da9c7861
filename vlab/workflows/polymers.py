"""The polymer lab's glue: design libraries from design stores, transfer reports, ingest.

Examples
--------
After ``vlab polymers design`` (a ``polymer-design`` campaign)::

    from vlab.workflows import design_library
    report = design_library("vlab-results/design/design.zarr", "vlab-results/design", n=100)
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vlab import catalog
from vlab._utils import report_json
from vlab.errors import InputError, optional_import
from vlab.polymers.transfer import TRANSFER_SOURCE_TASKS, TRANSFER_SOURCES

__all__ = [
    "TRANSFER_SOURCES",
    "TRANSFER_SOURCE_TASKS",
    "design_library",
    "parse_variants",
    "plot_sim2real_scaling",
    "train_model",
    "training_similarity",
    "training_values",
    "transfer_inputs",
    "transfer_report",
]


def train_model(
    prop: str,
    store: str,
    *,
    name: str,
    n_bits: int = 512,
    descriptors: bool = False,
    folds: int = 5,
    seed: int = 0,
    replace: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a property model on a catalog store's rows, measure it, and register it as ``name``.

    The model is :class:`~vlab.polymers.PolymerPropertyModel` (an ensemble of networks on count
    Morgan fingerprints, and RDKit descriptors if ``descriptors``) fitted on the finished rows
    of ``store`` with a value of ``prop`` (:func:`vlab.catalog.training_rows`). Its card holds
    the ``folds``-fold cross-validated error against predicting the mean and the factor that
    calibrates its std; the saved file records the store's name, property, row count and the
    SHA-256 of its training rows (:func:`vlab.catalog.training_digest`). ``progress``: a
    progress bar (tqdm, on stderr) over the fits, the ``folds`` cross-validation folds and
    then the final fit on all rows (``folds + 1``).

    Returns a summary: ``name``, ``path``, ``training`` (the identity saved), ``card`` lines.

    Examples
    --------
    ``vlab polymers train Tg=polymers-polymon_tg --name tg-net`` on the command line, then
    ``vlab polymers predict --model tg-net '*CC(*)c1ccccc1'``.
    """
    from sklearn.exceptions import ConvergenceWarning

    from vlab._utils import progress_bar as tqdm
    from vlab.polymers import (
        ModelCard,
        PolymerPropertyModel,
        cross_validated_skill,
        describe_estimator,
        register_model,
    )
    from vlab.polymers.registry import check_free_name
    from vlab.polymers.smiles import normalize_many

    check_free_name(name, replace=replace)  # before the training, not after it
    where = f"training data {prop}={store}"
    smiles, y, units, digest = catalog.training_set(store, prop, where=where)
    distinct = len(set(normalize_many(smiles)[0]))
    if min(len(y), distinct) < max(folds, 3):
        raise InputError(
            f"The catalog store {store!r} has {len(y)} finished rows with a value of {prop!r} "
            f"({distinct} distinct repeat units); training with {folds}-fold cross-validation "
            f"needs at least {max(folds, 3)} distinct units ("
            + ("give a smaller --folds, or more data)." if folds > 3 else "give more data).")
        )
    units = units or "1"
    template = PolymerPropertyModel(n_bits=n_bits, descriptors=descriptors, random_state=seed)
    with (
        tqdm(total=folds + 1, desc=f"training {prop}", unit="fit", disable=not progress) as bar,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", ConvergenceWarning)
        skill = cross_validated_skill(
            template, smiles, y, folds=folds, random_state=seed, progress=bar.update
        )
        model = template.fit(smiles, y)
        bar.update(1)
    for warning in caught:  # the others as they were; the networks' in one line
        if not issubclass(warning.category, ConvergenceWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    if unconverged:
        warnings.warn(
            f"{unconverged} of the ensemble networks' fits stopped at their iteration limit "
            "before converging (usual for small data; the card's cross-validated error "
            "measures the model as fitted).",
            UserWarning,
            stacklevel=2,
        )
    training = [{"store": store, "property": prop, "n_rows": len(y), "sha256": digest}]
    card = ModelCard(
        property=prop,
        symbol=prop,
        units=units,
        estimator=describe_estimator(model),
        training=f"catalog store {store} (sha256 {digest[:12]})",
        n_train=len(y),
        skill=skill,
        validation=f"{folds}-fold cross-validation",
    )
    path = register_model(name, model, card=card, training=training, replace=replace)
    return {"name": name, "path": str(path), "training": training, "card": card.describe()}


def training_values(model: str | os.PathLike) -> dict[str, list[str]]:
    """The measured values a polymer model was trained on, by normalised repeat unit
    (:func:`~vlab.polymers.smiles.normalize_repeat_unit`), as text: ``{"*C*": ["209.670"]}``.

    ``model`` is ``builtin:experimental-tc`` (the embedded table of measured thermal
    conductivities; each value with its sample morphology) or the file of a model whose
    training data was recorded (``vlab polymers train``: catalog store and property; the
    store's ``repeat_unit``, else its normalised ``smiles``). A store that changed since the
    training, or is gone, gives nothing: this helps to read predictions, it checks nothing.
    """
    from vlab.polymers import BUILTIN_TC_MODEL, load_experimental_tc, load_model_training

    values: dict[str, list[str]] = {}
    if str(model) == BUILTIN_TC_MODEL:
        table = load_experimental_tc()
        tc, morphology = table.values["thermal_conductivity"], table.text["morphology"]
        for unit, value, kind in zip(table.smiles, tc, morphology, strict=True):
            values.setdefault(unit, []).append(f"{value:.3f} ({kind})")
        return values
    for record in load_model_training(model):
        store, prop = record.get("store"), str(record.get("property"))
        try:
            ds = catalog.training_store(store, prop)
            if catalog.training_digest(store, prop) != record.get("sha256"):
                continue  # changed since the training: not the values it learned
            ds = ds[[v for v in ("repeat_unit", "smiles", prop) if v in ds]].load()
        except (InputError, OSError, KeyError):  # the store is gone: nothing to show
            continue
        for row, value in enumerate(ds[prop].values):
            unit = _normalised(ds, row)
            if unit is not None and np.isfinite(value):
                values.setdefault(unit, []).append(f"{float(value):.3f}")
    return values


#: A prediction is flagged as far from its training data when fewer than this share of the
#: rows its interval was calibrated on were as far from the data their predictions came from.
FAR_SHARE = 0.1


def training_similarity(
    model: str | os.PathLike, smiles: list[str], known: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """How close each repeat unit of ``smiles`` is to the training data of a polymer model,
    next to the rows its interval was calibrated on; empty if the training units are unknown
    (``known``: the model's :func:`training_values`, read here if not given).

    Each entry: ``nearest_training`` (the most similar training unit), ``similarity`` (Tanimoto
    on Morgan fingerprints, r=2, 2048 bits), ``calibration_rows`` and ``calibration_as_far``
    (how many of them were at most as similar to the data they were predicted from:
    held-out chemical families for ``builtin:experimental-tc``, the other training units for a
    saved model, whose intervals are calibrated on cross-validation) and ``far`` (fewer than
    ``FAR_SHARE`` of them: the interval, an average over the calibration rows, may then be
    too narrow), and ``unseen_atoms``: the kinds of atom of the unit (element, with its formal
    charge if any, e.g. ``U``, ``N+``) that no training unit has; a unit with any is ``far``
    whatever its similarity (the fingerprints may find a near unit by its carbon skeleton).
    """
    from vlab.polymers import BUILTIN_TC_MODEL
    from vlab.polymers.smiles import repeat_units
    from vlab.polymers.uncertainty import fingerprints

    smiles = repeat_units(smiles, "training_similarity")
    units = sorted(training_values(model) if known is None else known)
    if len(units) < 2 or not smiles:
        return []
    fps = fingerprints(units)
    if str(model) == BUILTIN_TC_MODEL:
        from vlab.polymers import load_experimental_tc
        from vlab.polymers.transfer.measured import calibration_similarity

        covered = calibration_similarity(load_experimental_tc().smiles)
    else:  # cross-validation: nearly the nearest other training unit
        covered = _nearest_other(units, fps)
    from rdkit import DataStructs

    seen = set().union(*(_atom_kinds(u) for u in units))
    out = []
    for unit, fp in zip(smiles, fingerprints(smiles), strict=True):
        sims = np.asarray(DataStructs.BulkTanimotoSimilarity(fp, fps))
        best = int(np.argmax(sims))
        as_far = int((covered <= sims[best]).sum())
        unseen = sorted(_atom_kinds(unit) - seen)
        out.append(
            {
                "nearest_training": units[best],
                "similarity": round(float(sims[best]), 3),
                "calibration_rows": int(covered.size),
                "calibration_as_far": as_far,
                "unseen_atoms": unseen,
                "far": bool(as_far < FAR_SHARE * covered.size or unseen),
            }
        )
    return out


def _atom_kinds(unit: str) -> set[str]:
    """The kinds of atom of a repeat unit: element symbols, with the formal charge if any
    (``N+``, ``O-``, ``Fe+2``); the ``*`` ends are not atoms."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(unit)
    kinds = set()
    for atom in mol.GetAtoms() if mol is not None else []:
        if atom.GetAtomicNum() == 0:
            continue
        charge = atom.GetFormalCharge()
        sign = (
            ""
            if charge == 0
            else ("+" if charge > 0 else "-") + (str(abs(charge)) if abs(charge) > 1 else "")
        )
        kinds.add(atom.GetSymbol() + sign)
    return kinds


def _nearest_other(units: list[str], fps: list) -> np.ndarray:
    """Each unit's largest Tanimoto similarity to the other ``units`` (``fps``: theirs). For
    thousands of units this takes seconds (all pairs), so it is kept in the model cache under
    a key of the units and read from there afterwards."""
    from vlab._utils import content_hash
    from vlab.polymers.models import model_cache_dir
    from vlab.polymers.uncertainty import nearest_similarity

    path = model_cache_dir() / f"nearest-other-{content_hash('nearest-other', units)[:20]}.npy"
    try:
        cached = np.load(path)
        if cached.shape == (len(units),):
            return cached
    except (OSError, ValueError):  # not computed yet, or unreadable: computed again
        pass
    out = np.array(
        [nearest_similarity(fps[:i] + fps[i + 1 :], [fps[i]])[0] for i in range(len(fps))]
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npy")
        np.save(tmp, out)
        tmp.replace(path)
    except OSError:  # a read-only cache only costs the computing
        pass
    return out


def _normalised(ds, row: int) -> str | None:
    """A store row's normalised repeat unit: its ``repeat_unit``, else from its ``smiles``."""
    from vlab.errors import InvalidSMILESError
    from vlab.polymers.smiles import normalize_repeat_unit

    if "repeat_unit" in ds:
        return str(ds["repeat_unit"].values[row])
    try:
        return normalize_repeat_unit(str(ds["smiles"].values[row]))
    except InvalidSMILESError:
        return None


def _check_design_chains(store: str | os.PathLike) -> None:
    """Refuse a design store without a finished chain, saying what happened and what to do."""
    from vlab.errors import StoreError

    ledger = catalog.read_ledger(store, ("status", "error"))
    counts = catalog.count_status(ledger["status"])
    if counts["done"]:
        return
    errors = [str(e) for e in ledger["error"] if str(e)]
    first = f" First error: {errors[0]}" if errors else ""
    raise StoreError(
        f"The design store {str(store)!r} has no finished chain: {counts['failed']} of "
        f"{len(ledger['status'])} chains failed and {counts['pending']} are pending.{first} "
        "Fix the cause, then run the same command again with --retry-failed (`vlab polymers "
        "design --retry-failed`, or `vlab run SPEC --retry-failed`) to evaluate the failed "
        "chains again; or delete the store to start over."
    )


_FORWARD_MODELS = {
    "gp": "Tanimoto-kernel Gaussian process per property on binary Morgan fingerprints "
    "(r=2, 2048 bits) with an applicability-domain term (nearest-training Tanimoto similarity, "
    "threshold chosen on a validation fifth); PI1070 thermal conductivity, PoLyInfo Tg",
    "ridge": "Bayesian ridge per property on log Morgan counts (r=2, 1024 bits); "
    "PI1070 thermal conductivity, PoLyInfo Tg",
}


def design_library(
    store: str | os.PathLike, out_dir: str | os.PathLike, *, n: int = 1000
) -> dict[str, Any]:
    """Merge the chains of a ``polymer-design`` store into a virtual library of ``n`` units.

    Distinct candidates (by canonical SMILES) of all done chains are ranked plausible first
    (no ring-strain flag and SA score <= 6, :func:`vlab.polymers.design.assess`), then by
    the likelihood of the box the chains aimed at (the target moved ``margin`` standard
    deviations inwards); the best ``n`` get their nearest training neighbour (Tanimoto
    similarity), a novelty flag and an in-box flag (``predicted_in_target``: the forward
    models' mean predictions against the target itself). The hit rates of the report are
    those predictions, the sampler's own models: not an independent check of the designs. Writes
    ``library.csv`` (with ``rank``, ``sa_score``, ``strain_flags`` and ``plausible`` columns),
    ``top10.png`` (the ten most likely *plausible* candidates, implausible ones excluded, with
    predicted values and units) and ``design-report.json`` (with the ``margin``, the
    ``aimed_at`` box and, per property, how many training values lie in the target box:
    ``training_in_target``, :func:`vlab.campaign.kinds.design.training_in_target`).

    Raises
    ------
    StoreError
        If no chain of the store is done (e.g. all failed): the message counts them and says
        how to evaluate them again (``--retry-failed``).
    """
    from vlab.campaign.kinds.design import training_in_target
    from vlab.polymers.design import (
        mean_pairwise_tanimoto,
        nearest_neighbours,
        novel_mask,
        parse_target,
        training_smiles,
    )
    from vlab.polymers.smiles import is_valid_repeat_unit

    _check_design_chains(store)
    ds = catalog.select(catalog.open_store(store), status="done").load()
    calculator = json.loads(ds.attrs["calculator"])
    params = calculator["params"]  # the validated kind parameters
    target = parse_target(params["target"])
    props = [b.name for b in target.boxes]
    pool, pool_hits = _design_pool(ds, props, target)
    lib = {k: v[:n] for k, v in pool.items()}
    smiles = [str(s) for s in lib["smiles"]]
    lib["predicted_in_target"] = target.contains({p: (lib[f"mean_{p}"], None) for p in props})
    training = training_smiles()
    lib["nearest_training"], lib["tanimoto_to_nearest"] = nearest_neighbours(smiles, training)
    lib["novel"] = novel_mask(smiles, training)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_library_csv(out / "library.csv", lib, props)
    implausible_ll = pool["log_likelihood"][~pool["plausible"]]
    aimed = parse_target(_aimed_at(ds, target))
    top = _draw_top10(out / "top10.png", lib, props, aimed, implausible_ll)
    if len(smiles) < n:
        warnings.warn(
            f"The design library holds {len(smiles)} candidates, fewer than the {n} asked for: "
            f"the chains found only {len(pool_hits)} distinct polymers. Run more or longer "
            "chains (--chains, --particles, --steps).",
            UserWarning,
            stacklevel=2,
        )
    report = {
        "store": str(store),
        "target": str(target),
        "library_size": len(smiles),
        "chains": int(ds.sizes["item"]),
        "likelihood": bool(params["likelihood"]),
        "forward_models": _FORWARD_MODELS[params.get("forward_model", "ridge")],
        "training_stores": {  # catalog stores the forward models learned from, and their data
            prop: {"store": store, "sha256": calculator.get("training_sha256", {}).get(prop)}
            for prop, store in (params.get("training") or {}).items()
        },
        "margin": float(params.get("margin", 0.0)),
        "aimed_at": str(aimed),
        "training_in_target": training_in_target(params["target"], params.get("training")),
        "ranking": "plausible candidates first, then the log-likelihood of the aimed-at box; "
        "top10.png shows the most likely plausible candidates (implausible ones excluded)",
        "valid_fraction": float(np.mean([is_valid_repeat_unit(s) for s in smiles])),
        "novel_fraction": float(np.mean(lib["novel"])),
        "predicted_hit_rate": float(np.mean(lib["predicted_in_target"])),
        "plausible_fraction": float(np.mean(lib["plausible"])),
        "candidate_pool": len(pool_hits),
        "candidate_predicted_hit_rate": float(np.mean(pool_hits)),
        "hit_rates_judged_by": "the sampler's own forward models (mean predictions in the "
        "target box): not an independent check; judge designs with a model trained on other "
        "data (vlab polymers predict --model NAME)",
        "candidate_plausible_fraction": round(float(np.mean(pool["plausible"])), 4),
        "top10_implausible_excluded": top["excluded"],
        "mean_pairwise_tanimoto": float(mean_pairwise_tanimoto(smiles)),
        "mean_similarity_to_nearest_training": float(np.mean(lib["tanimoto_to_nearest"])),
        "files": {"library": str(out / "library.csv"), "top10": str(out / "top10.png")},
    }
    (out / "design-report.json").write_text(report_json(report) + "\n")
    return report


def _aimed_at(ds, target) -> str:
    """The box the chains aimed at (recorded in their statistics; the target for old stores)."""
    for text in ds["stats"].values.reshape(-1):
        aimed = json.loads(str(text) or "{}").get("aimed_at")
        if aimed:
            return str(aimed)
    return str(target)


def _design_pool(ds, props: list[str], target) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Distinct candidates of all chains (one per polymer: the most likely way it was written),
    plausible first then by likelihood; which of them the forward models put in ``target``
    (in the order of the pool before that sort).

    Plausibility comes from the store (``polymer-design`` version 2) or is computed here for
    stores written before it was stored.
    """
    from vlab.errors import InvalidSMILESError
    from vlab.polymers.design import assess
    from vlab.polymers.smiles import normalize_repeat_unit

    names = ["smiles", "log_likelihood", *(f"{k}_{p}" for p in props for k in ("mean", "std"))]
    stored = [k for k in ("sa_score", "strain_flags", "plausible") if k in ds]
    flat = {k: ds[k].values.reshape(-1) for k in names + stored}
    flat["smiles"] = flat["smiles"].astype(object)
    rows = [i for i, s in enumerate(flat["smiles"]) if str(s)]
    best: dict[str, int] = {}  # by polymer: the same repeat unit written from another atom
    polymer: dict[str, str] = {}
    for i in sorted(rows, key=lambda i: -flat["log_likelihood"][i]):
        text = str(flat["smiles"][i])
        if text not in polymer:
            try:
                polymer[text] = normalize_repeat_unit(text)
            except InvalidSMILESError:  # kept as written (the plausibility rules judge it)
                polymer[text] = text
        best.setdefault(polymer[text], i)
    pick = np.array(list(best.values()), dtype=int)
    pool = {k: v[pick] for k, v in flat.items()}
    hits = target.contains({p: (pool[f"mean_{p}"], None) for p in props})
    if len(stored) < 3:
        checks = [assess(str(s)) for s in pool["smiles"]]
        pool["sa_score"] = np.array([c.sa_score for c in checks], dtype=float)
        pool["strain_flags"] = np.array([";".join(c.strain_flags) for c in checks], object)
        pool["plausible"] = np.array([c.plausible for c in checks], dtype=bool)
    pool["plausible"] = pool["plausible"].astype(bool)
    order = np.lexsort((-pool["log_likelihood"], ~pool["plausible"]))  # plausible first
    return {k: v[order] for k, v in pool.items()}, hits


def _write_library_csv(path: Path, lib: dict[str, Any], props: list[str]) -> None:
    import csv

    stats = [f"{k}_{p}" for p in props for k in ("mean", "std")]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "rank",
                "smiles",
                *stats,
                "log_likelihood",
                "predicted_in_target",
                "plausible",
                "sa_score",
                "strain_flags",
                "novel",
                "nearest_training",
                "tanimoto_to_nearest",
            ]
        )
        for r, smiles in enumerate(lib["smiles"]):
            writer.writerow(
                [
                    r + 1,
                    smiles,
                    *(f"{lib[k][r]:.6g}" for k in stats),
                    f"{lib['log_likelihood'][r]:.6g}",
                    bool(lib["predicted_in_target"][r]),
                    bool(lib["plausible"][r]),
                    f"{lib['sa_score'][r]:.2f}",
                    lib["strain_flags"][r],
                    bool(lib["novel"][r]),
                    lib["nearest_training"][r],
                    f"{lib['tanimoto_to_nearest'][r]:.4f}",
                ]
            )


def _value(mean: float, std: float, unit: str) -> str:
    """``"0.34 ± 0.05 W/(m K)"``: decimals from the first significant digit of the std."""
    digits = max(0, 1 - int(np.floor(np.log10(std)))) if np.isfinite(std) and std > 0 else 2
    return f"{mean:.{digits}f} ± {std:.{digits}f} {unit}".rstrip()


def _draw_top10(
    path: Path, lib: dict[str, Any], props: list[str], aimed, implausible_ll: np.ndarray
) -> dict[str, int]:
    """Draw the ten most likely plausible candidates (all ten best if none is plausible),
    ranked by the likelihood of the ``aimed`` box.

    ``implausible_ll`` are the log-likelihoods of the pool's implausible candidates: those
    above the last one shown were excluded from the figure (and ranked after the plausible
    ones in the library).
    """
    from vlab.polymers.design import MAX_SA_SCORE, PROPERTY_SYMBOLS, PROPERTY_UNITS, draw_grid

    plausible = np.flatnonzero(lib["plausible"])
    show = plausible[:10] if len(plausible) else np.arange(min(10, len(lib["smiles"])))
    ll = lib["log_likelihood"]
    cut = ll[show[-1]]
    excluded = int(np.sum(implausible_ll >= cut)) if len(plausible) else 0
    legends = []
    for r in show:
        values = ", ".join(
            f"{PROPERTY_SYMBOLS.get(p, p)} "
            + _value(lib[f"mean_{p}"][r], lib[f"std_{p}"][r], PROPERTY_UNITS.get(p, ""))
            for p in props
        )
        flags = "" if lib["plausible"][r] else f", IMPLAUSIBLE: {lib['strain_flags'][r]}"
        legends.append(f"#{r + 1} {values}\nSA {lib['sa_score'][r]:.1f}{flags}")
    boxes = ", ".join(
        str(b)
        .replace(b.name, PROPERTY_SYMBOLS.get(b.name, b.name))
        .replace(">=", " ≥ ")
        .replace("<=", " ≤ ")
        for b in aimed.boxes
    )
    rule = f"strained rings or SA score > {MAX_SA_SCORE:g}"
    if len(plausible):
        second = (
            f"implausible candidates ({rule}) excluded: {excluded} of them were more likely "
            "than the last one shown"
        )
    else:
        second = f"no plausible candidate in the library: showing the most likely ({rule})"
    title = (
        f"Top {len(show)} of {len(lib['smiles'])} candidates by likelihood "
        f"P({boxes}) (the box the chains aimed at) under the forward models (mean ± std)"
        f"\n{second}"
    )
    draw_grid([str(lib["smiles"][r]) for r in show], path, legends=legends, title=title)
    return {"shown": len(show), "excluded": excluded}


def parse_variants(variants) -> list[tuple[str, ...]]:
    """Pretraining variants from names like ``"pi1070+tg"`` (commas also separate variants).

    Examples
    --------
    >>> parse_variants(["pi1070", "pi1070+tg+cp,cp"])
    [('pi1070',), ('pi1070', 'tg', 'cp'), ('cp',)]
    """
    items = [variants] if isinstance(variants, str) else list(variants)
    out = []
    for item in (v.strip() for text in items for v in str(text).split(",")):
        names = tuple(n.strip() for n in item.split("+"))
        bad = [n for n in names if n not in TRANSFER_SOURCES]
        if not item or bad or len(set(names)) != len(names):
            raise InputError(
                f"The transfer sources must be names among {', '.join(TRANSFER_SOURCES)} joined "
                f"by '+' (one variant) and separated by ',' or spaces. Got {item!r}."
            )
        out.append(names)
    if not out:
        raise InputError("Give at least one transfer source variant, e.g. 'pi1070+tg+cp'.")
    return out


def transfer_inputs(variant, target_units, extras) -> tuple[tuple | None, list[str] | None]:
    """Extra (non-PI1070) source rows of a variant, without rows standing for targets.

    Parameters
    ----------
    variant : tuple of str
        Source names (see :data:`TRANSFER_SOURCES`).
    target_units : sequence of str
        Repeat units whose rows must not be in the sources (PI1070 for protocol A, the
        experimental table for B).
    extras : dict of str to (keys, X, y)
        Loaded ``tg`` and ``cp`` sources.

    Returns
    -------
    extra : (X, Y) or None
        Block-diagonal multi-task rows (:func:`~vlab.polymers.transfer.stack_tasks`).
    keys : list of str or None
        Their repeat units / molecules, for the leakage check of ``protocol_a``.
    """
    from vlab.polymers.transfer import source_overlap, stack_tasks

    blocks, keys = [], []
    for name in (n for n in variant if n != "pi1070"):
        smiles, X, y = extras[name]
        smiles = np.asarray(smiles, dtype=object)
        ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
        ok &= ~np.isin(smiles, source_overlap(target_units, list(smiles[ok])))
        blocks.append((X[ok], y[ok]))
        keys.extend(smiles[ok])
    return (stack_tasks(*blocks), keys) if blocks else (None, None)


def _transfer_data(variants):
    """Featurised PI1070, experimental table and the extra sources the variants need."""
    from vlab.polymers import (
        load_experimental_tc,
        load_pi1070,
        load_small_molecule_cp,
        load_tg,
        pi1070_source_columns,
    )
    from vlab.polymers.transfer import featurize, signed_log1p

    if not set(TRANSFER_SOURCE_TASKS) <= set(pi1070_source_columns()):
        raise InputError("A transfer source task is not an allowed PI1070 source column.")
    pi, ex = load_pi1070(), load_experimental_tc()
    f_pi = featurize(pi.smiles, normalized=True)
    keep = np.isfinite(f_pi).all(axis=0) & (np.nanstd(f_pi, axis=0) > 0)

    def x(F):
        return signed_log1p(F[:, keep])

    extras = {}
    needed = {n for v in variants for n in v}
    if "tg" in needed:
        tg, _ = load_tg()
        extras["tg"] = (tg.smiles, x(featurize(tg.smiles, normalized=True)), tg.column("Tg"))
    if "cp" in needed:
        cp = load_small_molecule_cp()
        extras["cp"] = (cp.smiles, x(featurize(cp.smiles, kind="molecule")), cp.column("Cp"))
    ex_x = x(featurize(ex.smiles, normalized=True))
    return pi, x(f_pi), ex, ex_x, extras


def _transfer_variant(variant, data, *, splits, draws, seed, bar, epochs=None):
    from dataclasses import replace

    from vlab.polymers.transfer import PretrainOptions, protocol_a, protocol_b

    pi, x_pi, ex, x_ex, extras = data
    y_pi, y_ex = pi.column("thermal_conductivity"), ex.column("thermal_conductivity")
    y_src = np.column_stack([pi.column(c) for c in TRANSFER_SOURCE_TASKS])
    ok = np.isfinite(x_pi).all(axis=1) & np.isfinite(y_pi)
    units = [s for s, k in zip(pi.smiles, ok, strict=True) if k]
    with_pi = "pi1070" in variant
    # many extra rows: fewer epochs (as in benchmarks/polymers.py)
    options = PretrainOptions(epochs=40, patience=8) if "tg" in variant else PretrainOptions()
    if epochs is not None:
        options = replace(
            options,
            epochs=min(options.epochs, epochs),
            patience=min(options.patience, epochs),
            finetune_epochs=min(options.finetune_epochs, epochs),
        )
    extra, keys = transfer_inputs(variant, units, extras)
    name = "+".join(variant)
    bar.set_description(f"{name}: protocol A")
    res_a = protocol_a(
        x_pi[ok], y_pi[ok], y_src[ok] if with_pi else None, n_splits=splits,
        draws_per_split=draws, extra=extra, units=units, extra_units=keys, options=options,
        rng=np.random.default_rng(seed), progress=bar.update,
    )  # fmt: skip
    src = ok & ~np.isin(np.array(pi.smiles), np.array(ex.smiles))
    extra_b, _ = transfer_inputs(variant, ex.smiles, extras)
    x_src = x_pi[src] if with_pi else np.empty((0, x_pi.shape[1]))
    y_b = y_src[src] if with_pi else np.empty((0, 0))
    bar.set_description(f"{name}: protocol B")
    res_b = protocol_b(
        x_ex, y_ex, x_src, y_b, extra=extra_b, options=options, rng=np.random.default_rng(seed),
        progress=bar.update,
    )  # fmt: skip
    return res_a, res_b


def transfer_report(
    out_dir: str | os.PathLike,
    *,
    sources=("pi1070",),
    splits: int = 4,
    draws: int = 5,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Protocols A and B for each pretraining variant; writes ``transfer.json`` and PNGs.

    Protocol A: PI1070 split by repeat unit into source (2/3, its MD properties only) and
    target pool; 28 training polymers per draw, tested on the rest of the pool; transfer
    learners vs the same ridge from scratch. Protocol B: leave-one-out on the embedded
    experimental table. Extra sources never contain the target polymers (Tg rows of their
    repeat units and molecules equal to their capped units are removed).

    Parameters
    ----------
    out_dir : path
        Folder of ``transfer.json`` and ``protocol_{a,b}[-VARIANT].png``; the figures of a
        ``transfer.json`` there that this call does not draw again are removed.
    sources : sequence of str
        Pretraining variants (:func:`parse_variants`), e.g. ``["pi1070", "cp",
        "pi1070+tg+cp"]``; the first is the headline (``protocol_a``/``protocol_b`` keys),
        every variant is under ``variants``.
    splits, draws, seed
        Protocol A splits, draws per split, and the seed of splits, draws and networks.
    epochs : int, optional
        At most this many epochs of pretraining and of fine-tuning (default: the network's
        own, :class:`~vlab.polymers.transfer.PretrainOptions`); fewer give a quick, rougher
        report.
    progress : bool, default True
        A progress bar (tqdm, on stderr) over the featurisation, then the draws of protocol
        A and the rows of protocol B of every variant.
    """
    if epochs is not None and not (isinstance(epochs, int) and 1 <= epochs <= 10_000):
        raise InputError(f"epochs must be an integer from 1 to 10000, not {epochs!r}.")
    from vlab.polymers.transfer import plot_report

    variants = parse_variants(sources)
    if any("cp" in v for v in variants):  # before the work: a missing package fails at once
        optional_import("chemicals", extra="polymers", purpose="for the 'cp' transfer source")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)  # before the work: a bad folder fails at once
    from vlab._utils import progress_bar as tqdm

    with tqdm(desc="featurising", unit="fit", disable=not progress, smoothing=0.1) as bar:
        data = _transfer_data(variants)
        bar.total = len(variants) * (splits * draws + len(data[3]))
        bar.refresh()
        results = [
            _transfer_variant(
                variant, data, splits=splits, draws=draws, seed=seed, epochs=epochs, bar=bar
            )
            for variant in variants
        ]
    report: dict[str, Any] = {"variants": {}, "files": {}}
    for k, (variant, (res_a, res_b)) in enumerate(zip(variants, results, strict=True)):
        name = "+".join(variant)
        suffix = "" if k == 0 else f"-{name.replace('+', '_')}"
        for key, res in (("protocol_a", res_a), ("protocol_b", res_b)):
            report["files"][f"{key}{suffix}"] = str(plot_report(res, out / f"{key}{suffix}.png"))
        tasks = [t for n in variant for t in TRANSFER_SOURCES[n]]
        report["variants"][name] = {
            "sources": list(variant),
            "tasks": tasks,
            "multi_task": len(tasks) > 1,
            "protocol_a": res_a.summary(),
            "protocol_b": res_b.summary(),
        }
    headline = "+".join(variants[0])
    report.update(
        headline=headline,
        protocol_a=report["variants"][headline]["protocol_a"],
        protocol_b=report["variants"][headline]["protocol_b"],
        best_variant_protocol_a=min(
            report["variants"], key=lambda v: report["variants"][v]["protocol_a"]["ratio_transfer"]
        ),
        source_tasks=list(TRANSFER_SOURCE_TASKS),
    )
    earlier = _transfer_figures(out)  # of the report about to be replaced
    (out / "transfer.json").write_text(report_json(report) + "\n")
    for stale in earlier - _transfer_figures(out):  # variants not run again
        stale.unlink(missing_ok=True)
    return report


def _transfer_figures(out: Path) -> set[Path]:
    """The ``protocol_*.png`` figures that ``out/transfer.json`` names (none without one)."""
    try:
        files = json.loads((out / "transfer.json").read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    named = [out / Path(f).name for f in (files.values() if isinstance(files, dict) else [])
             if isinstance(f, str)]  # fmt: skip
    return {p for p in named if p.name.startswith("protocol_") and p.suffix == ".png"}


def plot_sim2real_scaling(sizes, fits: dict[str, dict], path, *, unit: str = "W/(m K)") -> Path:
    """PNG of error on measured values versus pretraining size, with power-law fits.

    Parameters
    ----------
    sizes : sequence of int
        Number of simulated polymers used in pretraining.
    fits : dict of str to dict
        Per evaluation (e.g. ``"loo"``, ``"kfold"``) the output of
        :func:`~vlab.polymers.transfer.power_law_fit` (``mae``, ``a``, ``exponent``, band).
    path : str or Path
        PNG file to write.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not fits:
        raise InputError("plot_sim2real_scaling needs at least one fit. Got none.")
    n = np.asarray(sizes, dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for (name, fit), color in zip(fits.items(), ("C0", "C1", "C2", "C3")):
        ax.fill_between(n, fit["band_low"], fit["band_high"], color=color, alpha=0.2)
        ax.plot(n, fit["a"] * n ** -fit["exponent"], color=color, lw=1)
        label = (
            f"{name}: b = {fit['exponent']:.3f} "
            f"[{fit['exponent_low']:.3f}, {fit['exponent_high']:.3f}]"
        )
        ax.plot(n, fit["mae"], "o", color=color, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="simulated polymers in pretraining",
        ylabel=f"MAE on measured values ({unit})",
        title="Sim2Real scaling: MAE = a N^-b (90 % band)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
