"""``vlab polymers``: ingest, predict, design, transfer."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

from vlab._utils import report_json
from vlab.cli._options import ResultsPath, help_when_bare, positive_int

__all__ = ["register"]


def _cmd_polymers_ingest(args: argparse.Namespace) -> int:
    from vlab.errors import DataFileError, InputError, StoreError, did_you_mean
    from vlab.polymers import SOURCES
    from vlab.workflows.ingest import ingest_source

    if "all" in args.source and len(args.source) > 1:
        raise InputError(
            "'all' ingests every source and stands alone; give 'all' or source names. Got "
            f"{' '.join(args.source)}."
        )
    names = sorted(SOURCES) if args.source == ["all"] else list(dict.fromkeys(args.source))
    for name in names:
        if name not in SOURCES:
            raise InputError(
                f"Unknown polymer source {name!r}; sources: {', '.join(sorted(SOURCES))}"
                " (or 'all')." + did_you_mean(name, SOURCES)
            )
    failed = 0
    for name in names:
        there = (Path(args.out) / f"polymers-{name}.zarr").exists() and not args.replace
        try:
            store = ingest_source(name, Path(args.out), replace=args.replace)
        except (DataFileError, StoreError) as err:  # one source missing: the others still go
            if len(names) == 1:
                raise
            failed += 1
            print(f"vlab: error: {name}: {err.__cause__ or err}", file=sys.stderr, flush=True)
            continue
        again = " (already ingested, kept; --replace writes it again)" if there else ""
        print(f"{name}: {store} (catalog entry polymers-{name}){again}", flush=True)
    if failed:
        print(
            f"vlab: error: {failed} of the {len(names)} sources could not be ingested (the "
            "reasons are above); the others were.",
            file=sys.stderr,
        )
        return 1
    return 0


def _shown(smiles: str) -> str:
    """The SMILES as given if short and printable, else a shortened one-line form."""
    from vlab.polymers.smiles import shorten

    return smiles if len(smiles) <= 80 and smiles.isprintable() else shorten(smiles)


def _cmd_polymers_predict(args: argparse.Namespace) -> int:
    from vlab.campaign import get_kind
    from vlab.polymers import BUILTIN_TC_MODEL, load_model_training
    from vlab.polymers.smiles import normalize_repeat_unit
    from vlab.workflows.polymers import training_similarity, training_values

    kind = get_kind("polymer-predict")
    params = kind.check_params({"model": args.model, "morphology": args.morphology})
    context = kind.setup(params)
    card = context["card"]
    results = kind.evaluate_batch([{"smiles": s} for s in args.smiles], params, context)
    print("\n".join(f"# {line}" for line in card.describe()))
    measured = training_values(params["model"])
    if not measured and str(params["model"]) != BUILTIN_TC_MODEL:
        recorded = [str(t.get("store")) for t in load_model_training(params["model"])]
        if recorded:  # trained on catalog stores that are gone or changed since
            print(
                f"# its training data ({', '.join(recorded)}) is not in the catalog as it was "
                "when the model was trained: units of its training data and units far from "
                "it are not marked."
            )
    valid = [normalize_repeat_unit(r["canonical_smiles"]) for r in results if isinstance(r, dict)]
    closeness = iter(training_similarity(params["model"], valid, measured))
    for smiles, result in zip(args.smiles, results, strict=True):
        if isinstance(result, Exception):
            print(f"{_shown(smiles)}\terror: {result}")
        else:
            bounds = card.bounds_95(result["mean"], result["std"])
            span = f" [{float(bounds[0]):.3f}, {float(bounds[1]):.3f}]" if bounds else ""
            known = measured.get(normalize_repeat_unit(result["canonical_smiles"]))
            said = f"\tin its training data ({card.units}): {', '.join(known)}" if known else ""
            near = next(closeness, None)
            if near is not None and near["far"]:
                said += f"\tfar from its training data: {_why_far(near)}: the interval may be " + (
                    "too narrow"
                )
            print(
                f"{_shown(smiles)}\t{card.symbol} = {result['mean']:.3f} ± "
                f"{result['interval']:.3f}{span} {card.units}{said}"
            )
    invalid = sum(isinstance(result, Exception) for result in results)
    if invalid == len(results):
        print(
            f"vlab: error: none of the {len(results)} SMILES given is a valid repeat unit "
            "(the reasons are above); nothing was predicted.",
            file=sys.stderr,
        )
        return 2
    if invalid:
        print(
            f"vlab: error: {invalid} of the {len(results)} SMILES given "
            f"{'is not a valid repeat unit' if invalid == 1 else 'are not valid repeat units'} "
            "(the reasons are above); the others were predicted.",
            file=sys.stderr,
        )
        return 1
    return 0


_MAX_SEED = 2**32 - 1

# the keys of vlab.polymers.SOURCES, named here so that `vlab --help` need not import RDKit
SOURCE_NAMES = (
    "experimental_tc",
    "hightcond_initial_smiles",
    "hightcond_lc_frags",
    "polymon_tg",
    "polymon_tg_raw",
    "radonpy_pi1070",
    "xenonpy_polymer_genome",
)


def _margin(text: str) -> float:
    """argparse type of ``--margin``: a number from 0 to 5."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 5:
        raise argparse.ArgumentTypeError(
            f"--margin must be a number from 0 to 5 (standard deviations). Got {text[:40]!r}."
        )
    return value


def _training_option(values: list[str], what: str = "--training") -> dict[str, str]:
    """``PROPERTY=STORE`` options as a mapping; a clear error for any other form."""
    from vlab.errors import InputError

    out = {}
    for text in values:
        prop, sep, store = text.partition("=")
        if not sep or not prop.strip() or not store.strip():
            raise InputError(
                f"{what} must be PROPERTY=STORE, e.g. Tg=polymers-polymon_tg. Got {text!r}."
            )
        out[prop.strip()] = store.strip()
    return out


def _check_design_options(target: str, training: dict[str, str]) -> None:
    """``--target`` and ``--training`` checked, the errors naming the options."""
    from vlab.catalog import training_store
    from vlab.errors import InputError
    from vlab.polymers.design import DESIGN_PROPERTIES, parse_target

    try:
        boxes = parse_target(target).boxes
    except InputError as err:
        raise InputError(f"--target {target!r}: {err}") from None
    names = sorted({box.name for box in boxes})
    unknown = [name for name in names if name not in DESIGN_PROPERTIES]
    if unknown:
        raise InputError(
            f"--target {target!r} names {', '.join(unknown)}; the forward models predict "
            f"{', '.join(DESIGN_PROPERTIES)}."
        )
    for prop, store in training.items():
        if prop not in names:
            raise InputError(
                f"--training {prop}={store}: the target ({target!r}) does not constrain {prop!r}; "
                f"give training stores for {', '.join(names)}."
            )
        training_store(store, prop, where=f"--training {prop}={store}", error=InputError)


#: The options of `vlab polymers design` behind the settings of its campaign spec.
_DESIGN_OPTIONS = {
    "inputs.n": "--chains",
    "inputs.seed": "--seed",
    "params.n_steps": "--steps",
    "params.n_particles": "--particles",
    "params.keep": "--n",
    "params.target": "--target",
    "params.margin": "--margin",
    "params.forward_model": "--forward-model",
    "params.likelihood": "--prior-only",
    "params.training": "--training",
}


def _check_same_design(spec, out: Path) -> None:
    """Refuse, in the options' words, a design whose store in ``out`` another run with other
    options wrote (the runner would refuse it in the spec's words)."""
    import json

    from vlab import catalog
    from vlab._utils import setting_differences
    from vlab.campaign import get_kind
    from vlab.errors import InputError

    if not catalog.store_exists(spec.store):
        return
    try:
        before = catalog.open_store(spec.store).attrs["spec"]
        before = json.loads(before) if isinstance(before, str) else dict(before)
    except Exception:  # no readable record: the runner's own check decides
        return
    before.pop("store", None)
    now = spec.as_dict(include_store=False)
    for data in (before, now):  # defaults filled in: an option given at its default is equal
        with contextlib.suppress(Exception):  # a record the kind no longer reads: as written
            data["params"] = _plain(get_kind("polymer-design").check_params(data["params"]))
    changed = setting_differences(before, now)
    if not changed:
        return
    said = []
    for change in changed:
        setting, _, values = change.partition(": ")
        option = next((o for k, o in _DESIGN_OPTIONS.items() if setting.startswith(k)), None)
        if setting == "params.likelihood":  # the option switches the likelihood off
            values = "given -> not given" if values == "false -> true" else "not given -> given"
        said.append(f"{option} {values}" if option else change)
    raise InputError(
        f"{out} holds the design {spec.name!r} of another run ({'; '.join(said[:4])}). Give "
        "the same options to resume it, another --name or --out for a new design, "
        f"or delete {spec.store} to start over."
    )


def _plain(params) -> dict:
    """Checked parameters as plain data (a dataclass or a mapping), for comparing."""
    import dataclasses

    if dataclasses.is_dataclass(params):
        return dataclasses.asdict(params)
    return dict(params)


def _why_far(near: dict) -> str:
    """Why a unit is far from a model's training data (a :func:`training_similarity` entry)."""
    from vlab.workflows.polymers import FAR_SHARE

    reasons = []
    if near["unseen_atoms"]:
        reasons.append(f"no training unit has {', '.join(near['unseen_atoms'])} atoms")
    as_far, rows = near["calibration_as_far"], near["calibration_rows"]
    if as_far < FAR_SHARE * rows:
        reasons.append(
            f"the nearest training unit, {_shown(near['nearest_training'])}, has Tanimoto "
            f"similarity {near['similarity']:.2f}, and {as_far} of the {rows} rows its "
            f"interval was calibrated on {'was' if as_far == 1 else 'were'} as far from their "
            "data"
        )
    return "; ".join(reasons)


def _cmd_polymers_design(args: argparse.Namespace) -> int:
    import yaml

    from vlab.campaign import get_kind, parse_spec, run_campaigns
    from vlab.campaign.kinds.design import training_in_target
    from vlab.errors import InputError
    from vlab.polymers.design import fitted_language_model, size_run, training_smiles
    from vlab.workflows.polymers import design_library

    chains, particles, steps = size_run(
        args.n, n_chains=args.chains, n_particles=args.particles, n_steps=args.steps
    )
    params = {
        "target": args.target,
        "n_steps": steps,
        "n_particles": particles,
        "likelihood": not args.prior_only,
        "forward_model": args.forward_model,
        **({} if args.margin is None else {"margin": args.margin}),
        "training": _training_option(args.training),
        "keep": max(args.n, 100),
    }
    _check_design_options(args.target, params["training"])
    try:  # what the options above do not cover, before anything is printed or made
        checked = get_kind("polymer-design").check_params(params)
    except InputError as err:
        raise type(err)(
            f"vlab polymers design: {str(err).removeprefix('polymer-design: ')}"
        ) from None
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or ("design-prior" if args.prior_only else "design")
    data = {
        "name": name,
        "kind": "polymer-design",
        "params": params,
        "chunk_size": 1,
        "inputs": {"generator": "chains", "n": chains, "seed": args.seed},
        "store": f"{name}.zarr",
    }
    spec_path = out / f"{name}.yaml"  # written once the run is complete
    spec = parse_spec(data, source="vlab polymers design", base=out)
    _check_same_design(spec, out)
    for prop, found in training_in_target(args.target, params["training"]).items():
        if found["in_target"] == 0 and found["n"]:
            warnings.warn(
                f"vlab polymers design: no training polymer's {prop} lies in the target box "
                f"({found['n']} training values, {found['min']:g}-{found['max']:g} "
                f"{found['units']}): the forward model extrapolates there, and the library "
                "may hold no predicted hit.",
                UserWarning,
                stacklevel=1,
            )
    print(f"{chains} chains x {particles} particles x {steps} SMC steps for a library of {args.n}")
    # the chains' SMILES language model, fitted here once and cached (the workers load it):
    # each worker would otherwise fit its own at the same time, behind a bar standing at 0
    fitted_language_model(
        training_smiles(),
        order=checked["order"],
        n_augment=checked["n_augment"],
        on_fit=lambda: print(
            "fitting the SMILES language model of the chains (once, about a minute; later "
            "runs load it from the model cache)",
            flush=True,
        ),
    )
    report = run_campaigns(
        [spec],
        synchronous=args.synchronous,
        workers=args.workers,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
    )[0]
    finished = report.done == report.n_items
    if finished:  # the record of a complete run; a failed run leaves the previous one as it was
        tmp = spec_path.with_name(f".{spec_path.name}.tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        tmp.replace(spec_path)
    print(report.summary())
    if not finished:
        print(f"{spec_path} not written: {report.failed} of {report.n_items} chains failed.")
    summary = design_library(spec.store, out / f"{name}-library", n=args.n)
    print(report_json(summary))
    return 0


def _cmd_polymers_train(args: argparse.Namespace) -> int:
    from vlab.catalog import training_store
    from vlab.errors import InputError
    from vlab.polymers.registry import check_free_name
    from vlab.workflows.polymers import train_model

    training = _training_option([args.training], "The training data (PROPERTY=STORE)")
    ((prop, store),) = training.items()
    check_free_name(args.name, replace=args.replace)  # both before the line below
    training_store(store, prop, where=f"training data {prop}={store}", error=InputError)
    print(f"training {prop} on catalog store {store} ({args.folds}-fold cross-validation first)")
    summary = train_model(
        prop,
        store,
        name=args.name,
        n_bits=args.bits,
        descriptors=args.descriptors,
        folds=args.folds,
        seed=args.seed,
        replace=args.replace,
        progress=not args.no_progress,
    )
    print("\n".join(f"# {line}" for line in summary["card"]))
    print(f"registered {summary['name']}: {summary['path']}")
    return 0


def _cmd_polymers_models(args: argparse.Namespace) -> int:
    from vlab.polymers import load_model_card, load_model_training, models_dir, registered_models

    models = registered_models()
    if not models:
        print(f"no registered models in {models_dir()} (`vlab polymers train` registers one)")
        return 0
    from vlab._yaml import one_line
    from vlab.errors import VlabError

    for name, path in models.items():
        try:
            card, training = load_model_card(path), load_model_training(path)
        except (VlabError, OSError, ValueError) as err:  # one bad file: the others still listed
            print(f"{name}\tunreadable: {one_line(str(err), 200)}\t{path}")
            continue
        stores = ", ".join(
            f"{t.get('store') or t.get('source')} ({t.get('n_rows')} rows"
            + (f", sha256 {str(t['sha256'])[:12]})" if t.get("sha256") else ")")
            for t in training
        )
        named = sorted({str(t["property"]) for t in training if t.get("property")})
        what = (
            f"{card.property} [{card.units}]"
            if card
            else f"{', '.join(named)} [units not recorded]"
            if named
            else "property not recorded"
        )
        from vlab.polymers.models import MIN_SKILL

        skill = ""
        if card and card.skill:
            skill = f"; {card.validation} skill {card.skill.percent}"
            skill += "" if card.skill.has_skill else f" (below {MIN_SKILL:.0%}: no skill)"
        print(f"{name}\t{what}; trained on {stores or 'data not recorded'}{skill}\t{path}")
    return 0


def _cmd_polymers_transfer(args: argparse.Namespace) -> int:
    from vlab.workflows.polymers import transfer_report

    report = transfer_report(
        args.out,
        sources=args.sources,
        splits=args.splits,
        draws=args.draws,
        seed=args.seed,
        epochs=args.epochs,
        progress=not args.no_progress,
    )
    print(report_json(report))
    return 0


def register(sub) -> None:
    """Add ``vlab polymers`` to the ``vlab`` sub-parsers."""
    group = sub.add_parser(
        "polymers",
        help="polymer lab: ingest data, train, predict, design, transfer",
        description="Polymer lab commands. ingest: load public sources (checksum-verified, "
        "cached) into catalog stores; train: a model on a catalog store, registered by name; "
        "models: the registered ones; predict: property of repeat units with uncertainty; "
        "design: iQSPR inverse design; transfer: transfer-learning report.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    help_when_bare(group)
    p = actions.add_parser(
        "ingest",
        help="ingest data sources into the catalog",
        description="Fetch (or read from the cache), validate, merge by "
        "canonical repeat unit, and write each source as a catalog store. A complete store of "
        "the same source file is kept (--replace writes it again). A source that cannot be "
        "read or written is reported and the others are still ingested; the exit status is "
        "then 1.",
    )
    p.add_argument("source", nargs="+", help=f"source names ({', '.join(SOURCE_NAMES)}) or 'all'")
    p.add_argument(
        "--out", default=ResultsPath("polymers"), help="folder of the stores (default: %(default)s)"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="write the stores again (default: a complete store of the same source file is "
        "kept, another one at that path is refused)",
    )
    p.set_defaults(func=_cmd_polymers_ingest)
    p = actions.add_parser(
        "predict",
        help="predict a property of repeat units",
        description="Predict with a saved model or the built-in thermal-"
        "conductivity model: the variant that the nested comparison selects among the mean, "
        "ridge, random forest and a network pretrained on the MD thermal conductivity of "
        "PI1070 (used as is, corrected or as features), fitted on the embedded table of "
        "measured values with the sample morphology as an input. The first lines (# ...) "
        "name the property, the estimator and its training data, and its measured error "
        "against predicting the mean (nested leave-one-out for the built-in model). For the "
        "built-in model, 'λ = m ± h [low, high]': ± h is the 68 % and [low, high] the 95 % "
        "interval, conformal multipliers fitted on a split by chemical family; the selection "
        "and calibration ship with vlab, measured ahead (the first line says so), so a run "
        "takes seconds. For a saved model the ± is the "
        "predictive std calibrated on its cross-validation errors, or, for a model without "
        "skill, the spread of the training data (said so). A repeat unit that is in the "
        "model's training data gets the measured value(s) it was trained on after the "
        "prediction ('in its training data'); one less similar to the training data than "
        "90 % of the rows its interval was calibrated on, or with atoms (elements, charged "
        "atoms) that none of the training data has, gets 'far from its training data' "
        "(the interval may be too narrow). Each line starts with the SMILES as given (in "
        "order). Invalid SMILES are listed with "
        "the reason ('error: ...'). Exit status: 0 if every SMILES is a valid repeat unit; 1 "
        "if some are not (the others are predicted); 2 if none is.",
    )
    p.add_argument("smiles", nargs="+", help="repeat-unit SMILES with two * ends")
    p.add_argument(
        "--model",
        default="builtin:experimental-tc",
        help="a registered model's name (vlab polymers models), a saved model file (.npz; an "
        "older .json also loads) or builtin:experimental-tc (default)",
    )
    p.add_argument(
        "--morphology",
        choices=("amorphous", "semicrystalline"),
        default=None,
        help="sample morphology the built-in model assumes (default: amorphous; other "
        "models have no such input)",
    )
    p.set_defaults(func=_cmd_polymers_predict)
    p = actions.add_parser(
        "design",
        help="iQSPR inverse design of repeat units towards a target",
        description="Run independent SMC chains (language-model prior, "
        "forward-model likelihood) on the cluster and write a virtual library: "
        "SMILES, predictions with std, likelihood, nearest training neighbour, and "
        "plausibility (SA score, ring-strain flags). The run is sized from --n (about 30 "
        "proposals per wanted candidate, see --steps); the progress bar counts SMC steps. "
        "The top-10 figure shows the most likely plausible candidates; implausible ones stay "
        "in library.csv, flagged, ranked after the plausible ones.",
    )
    p.add_argument(
        "--target",
        default="thermal_conductivity>=0.3 W/(m K); Tg>=450 K",
        help="property boxes, e.g. 'thermal_conductivity>=0.3 W/(m K); Tg>=450 K'",
    )
    p.add_argument(
        "--n", type=positive_int("--n"), default=1000, help="library size (default 1000)"
    )
    p.add_argument(
        "--chains",
        type=positive_int("--chains"),
        default=2,
        help="independent SMC chains, run in parallel (default 2)",
    )
    p.add_argument(
        "--steps",
        type=positive_int("--steps"),
        default=None,
        help="SMC steps per chain (default: from --n, 30 proposals per wanted candidate: "
        "max(20, ceil(30 n / (chains x particles))), i.e. 20 for --n 100 and 150 for "
        "--n 1000 with 2 chains of 100 particles)",
    )
    p.add_argument(
        "--particles",
        type=positive_int("--particles"),
        default=100,
        help="particles per chain (default 100, as Wu et al.)",
    )
    p.add_argument(
        "--seed",
        type=positive_int("--seed", _MAX_SEED, 0),
        default=0,
        help="seed of the chain seeds",
    )
    p.add_argument("--prior-only", action="store_true", help="switch the likelihood off")
    p.add_argument(
        "--forward-model",
        choices=("gp", "ridge"),
        default="gp",
        help="gp: Tanimoto-kernel Gaussian processes with an applicability-domain term "
        "(default); ridge: Bayesian ridge on Morgan counts (cheaper, blind to extrapolation)",
    )
    p.add_argument(
        "--margin",
        type=_margin,
        default=None,
        help="aim past the target: move every bound this many standard deviations (of the "
        "property's training values) into the box while sampling and ranking; the library "
        "is judged against --target (default 2.5; 0 aims at the bounds themselves)",
    )
    p.add_argument(
        "--training",
        action="append",
        default=[],
        metavar="PROPERTY=STORE",
        help="catalog store a forward model learns from, e.g. "
        "thermal_conductivity=polymers-radonpy_pi1070 (repeatable; default: the public sources)",
    )
    p.add_argument(
        "--out", default=ResultsPath("design"), help="output folder (default: %(default)s)"
    )
    p.add_argument("--name", default=None, help="campaign name (default design / design-prior)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster workers")
    p.add_argument("--synchronous", action="store_true", help="run here, without Dask")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="evaluate again the chains that failed in an earlier run of this design (the "
        "spec file NAME.yaml in --out is written only once every chain is done)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the chains")
    p.set_defaults(func=_cmd_polymers_design)
    p = actions.add_parser(
        "train",
        help="train a property model on a catalog store and register it by name",
        description="Fit an ensemble of networks on count Morgan fingerprints to the "
        "finished rows of a catalog store (e.g. Tg=polymers-polymon_tg), measure it by "
        "k-fold cross-validation against predicting the mean, and register it under --name "
        "with the store's name and the SHA-256 of its training rows. Use it with `vlab "
        "polymers predict --model NAME` or `model: NAME` in a polymer-predict spec.",
    )
    p.add_argument("training", metavar="PROPERTY=STORE", help="property and catalog store")
    p.add_argument("--name", required=True, help="name to register the model under")
    p.add_argument("--replace", action="store_true", help="replace a model of that name")
    p.add_argument(
        "--folds",
        type=positive_int("--folds", 20, 2),
        default=5,
        help="cross-validation folds, 2 to 20 (default 5)",
    )
    p.add_argument(
        "--bits",
        type=positive_int("--bits", 8192, 16),
        default=512,
        help="Morgan fingerprint length, 16 to 8192 (default 512)",
    )
    p.add_argument(
        "--descriptors", action="store_true", help="add RDKit 2D descriptors to the features"
    )
    p.add_argument(
        "--seed",
        type=positive_int("--seed", _MAX_SEED, 0),
        default=0,
        help="seed of folds and nets",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar over the folds and the fit"
    )
    p.set_defaults(func=_cmd_polymers_train)
    p = actions.add_parser(
        "models",
        help="list the registered models",
        description="Registered models: name, property, the catalog stores they learned "
        "from (rows, SHA-256) and their measured skill.",
    )
    p.set_defaults(func=_cmd_polymers_models)
    p = actions.add_parser(
        "transfer",
        help="transfer learning to thermal conductivity (report)",
        description="Protocol A (28 PI1070 polymers per draw, pretraining on "
        "the other PI1070 MD properties, transfer vs scratch, paired per draw) "
        "and protocol B (leave-one-out on the embedded experimental table); "
        "writes transfer.json and plots. --sources chooses the pretraining data: "
        "pi1070 (MD properties of the source part), tg (PoLyInfo Tg), cp (ideal-gas "
        "Cp of small molecules); join names with + for one multi-task variant, "
        "give several variants to compare them.",
    )
    p.add_argument(
        "--sources",
        nargs="+",
        default=["pi1070"],
        metavar="VARIANT",
        help="pretraining variants, e.g. pi1070 cp pi1070+tg+cp (or comma-separated); "
        "the first is the headline (default pi1070)",
    )
    p.add_argument(
        "--splits",
        type=positive_int("--splits", 100),
        default=4,
        help="source/target splits, 1 to 100 (default 4)",
    )
    p.add_argument(
        "--draws",
        type=positive_int("--draws", 1000),
        default=5,
        help="draws of 28 per split, 1 to 1000 (default 5)",
    )
    p.add_argument(
        "--seed",
        type=positive_int("--seed", _MAX_SEED, 0),
        default=0,
        help="seed of splits and draws",
    )
    p.add_argument(
        "--epochs",
        type=positive_int("--epochs", 10_000),
        default=None,
        help="at most this many epochs of pretraining and fine-tuning, 1 to 10000 (default: "
        "the network's own, 150 and 100); fewer give a quick, rougher report",
    )
    p.add_argument(
        "--out", default=ResultsPath("transfer"), help="output folder (default: %(default)s)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_polymers_transfer)
