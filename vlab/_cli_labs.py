"""Sub-command groups of the science labs, added to the ``vlab`` parser.

Each function in :data:`REGISTER` takes the sub-parsers object of ``vlab`` and adds its group.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _store_path(name_or_path: str) -> Path:
    """A store path, or the location of a catalog entry of that name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    from vlab import catalog

    return catalog.get_entry(name_or_path).location


def _cmd_conductance_plot(args: argparse.Namespace) -> int:
    from vlab.reports import conductance_figures

    store = _store_path(args.store)
    summary = conductance_figures(store, Path(args.out), max_traces=args.traces)
    print(json.dumps(summary, indent=2))
    return 0


def _parse_settings(items: list[str]) -> dict:
    """``NAME=VALUE`` options (values as YAML; ``descriptor_settings.FIELD`` nests) to a dict."""
    import yaml

    from vlab.errors import InputError

    params: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise InputError(
                f"--set takes NAME=VALUE (an estimator parameter, e.g. n_estimators=16 or "
                f"descriptor_settings.n_max=8). Got {item!r}."
            )
        value = yaml.safe_load(text) if text else None
        head, dot, field = name.partition(".")
        if dot:
            params.setdefault(head, {})[field] = value
        else:
            params[name] = value
    return params


def _cmd_conductance_train(args: argparse.Namespace) -> int:
    from vlab.reports import train_surrogate

    report = train_surrogate(
        args.stores,
        args.model,
        holdout=args.holdout,
        seed=args.seed,
        preset=args.preset,
        params=_parse_settings(args.set),
        n_jobs=args.jobs,
    )
    print(json.dumps(report, indent=2))
    return 0


def _cmd_conductance_validate(args: argparse.Namespace) -> int:
    from vlab.reports import validate_surrogate

    print(json.dumps(validate_surrogate(args.model, args.stores, args.out), indent=2))
    return 0


def _cmd_conductance_experiment(args: argparse.Namespace) -> int:
    from vlab.experiment import run_experiment

    summary = run_experiment(
        args.spec,
        workers=args.workers,
        scheduler=args.scheduler,
        synchronous=args.synchronous,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2))
    return 0


def add_cluster_options(p: argparse.ArgumentParser, *, kubernetes: bool = False) -> None:
    """Where campaigns run: --workers N | --scheduler ADDRESS | [--kubernetes] | --synchronous."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    where.add_argument("--scheduler", default=None, help="address tcp://HOST:PORT of a scheduler")
    if kubernetes:
        where.add_argument(
            "--kubernetes",
            action="store_true",
            help="create the cluster on Kubernetes (needs vlab[k8s])",
        )
    where.add_argument("--synchronous", action="store_true", help="run here, without Dask")


def _conductance(sub) -> None:
    group = sub.add_parser(
        "conductance",
        help="conductance lab: plots, surrogate training and validation, virtual experiment",
        description="Conductance lab commands. plot: conductance traces G(elongation) and the "
        "conductance histogram (linear and log axes, bins in G0) of a conductance-reference "
        "store, as PNG files, with a summary JSON (histogram peak). train/validate: the "
        "surrogate. experiment: MD + surrogate + reference histograms in one command.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "plot",
        help="traces and histogram PNGs of a reference store",
        description="Draw G versus elongation for traces and the conductance "
        "histogram from a conductance-reference store (path or catalog name).",
    )
    p.add_argument("store", help="store path or catalog entry name (e.g. au-sband)")
    p.add_argument("--out", default="vlab-results/figures", help="folder for the PNG files")
    p.add_argument("--traces", type=int, default=12, help="traces to draw (default 12)")
    p.set_defaults(func=_cmd_conductance_plot)
    p = actions.add_parser(
        "train",
        help="train the local-descriptor surrogate on reference stores",
        description="Train a ConductanceSurrogate (SOAP, slab pooling, soft "
        "minimum, MLP ensemble) on conductance-reference stores, holding out "
        "whole traces; writes the model (.npz), a report JSON and a parity PNG. "
        "The estimator is a named preset with parameters set by their own names "
        "(as in ConductanceSurrogate.from_preset and the experiment file's model.train).",
    )
    p.add_argument("stores", nargs="+", help="reference stores (catalog names or paths)")
    p.add_argument("--model", default="vlab-results/surrogate.npz", help="model file to write")
    p.add_argument("--holdout", type=float, default=0.25, help="fraction of traces held out")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the ensemble")
    p.add_argument(
        "--preset",
        default="default",
        help="named estimator settings, e.g. spd-headline (the spd benchmark's model); "
        "default: the library defaults. All presets: vlab.conductance.SURROGATE_PRESETS",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an estimator parameter by its own name, over the preset (repeatable), e.g. "
        "--set n_estimators=4 --set bootstrap=false --set descriptor_settings.n_max=8",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="processes that train the members at once (-1: one per CPU; default 1); "
        "the model does not depend on it",
    )
    p.set_defaults(func=_cmd_conductance_train)
    p = actions.add_parser(
        "validate",
        help="R², MAE and parity plots against reference stores",
        description="Evaluate a saved surrogate against reference stores "
        "(e.g. larger structures); writes validation.json and a parity PNG.",
    )
    p.add_argument("model", help="model file written by vlab conductance train")
    p.add_argument("stores", nargs="+", help="reference stores (catalog names or paths)")
    p.add_argument("--out", default="vlab-results/validation", help="output folder")
    p.set_defaults(func=_cmd_conductance_validate)
    p = actions.add_parser(
        "experiment",
        help="virtual break-junction experiment: MD, surrogate, reference, histograms",
        description="Run (or resume) a virtual experiment file (see "
        "examples/au-virtual-experiment.yaml): train the surrogate if its model file is "
        "missing, run the break-junction MD, surrogate and reference campaigns on one "
        "cluster, and draw the surrogate and reference conductance histograms side by side "
        "with the experimental peak window; writes the figure and a summary JSON.",
    )
    p.add_argument("spec", help="experiment file (YAML)")
    add_cluster_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_conductance_experiment)


def _cmd_polymers_ingest(args: argparse.Namespace) -> int:
    from vlab.ingest import ingest_source
    from vlab.polymers import SOURCES

    names = sorted(SOURCES) if args.source == ["all"] else args.source
    for name in names:
        if name not in SOURCES:
            from vlab.errors import InputError

            raise InputError(
                f"Unknown polymer source {name!r}; sources: {', '.join(sorted(SOURCES))}"
                " (or 'all')."
            )
    for name in names:
        store = ingest_source(name, Path(args.out), replace=args.replace)
        print(f"{name}: {store} (catalog entry polymers-{name})")
    return 0


def _cmd_polymers_predict(args: argparse.Namespace) -> int:
    from vlab.campaign import get_kind

    kind = get_kind("polymer-predict")
    params = kind.check_params({"model": args.model})
    context = kind.setup(params)
    card = context["card"]
    results = kind.evaluate_batch([{"smiles": s} for s in args.smiles], params, context)
    print("\n".join(f"# {line}" for line in card.describe()))
    for smiles, result in zip(args.smiles, results, strict=True):
        if isinstance(result, Exception):
            print(f"{smiles}\terror: {result}")
        else:
            print(
                f"{result['canonical_smiles']}\t{card.symbol} = {result['mean']:.3f} ± "
                f"{result['interval']:.3f} {card.units}"
            )
    return 0


def _positive(option: str):
    """argparse type: an integer >= 1, with an error that names ``option``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{option} must be an integer >= 1. Got {text!r}.")
        return value

    return parse


def _cmd_polymers_design(args: argparse.Namespace) -> int:
    import yaml

    from vlab.campaign import load_spec, run_campaigns
    from vlab.polymers.design import size_run
    from vlab.reports import design_library

    chains, particles, steps = size_run(
        args.n, n_chains=args.chains, n_particles=args.particles, n_steps=args.steps
    )
    print(f"{chains} chains x {particles} particles x {steps} SMC steps for a library of {args.n}")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = {
        "target": args.target,
        "n_steps": steps,
        "n_particles": particles,
        "likelihood": not args.prior_only,
        "keep": max(args.n, 100),
    }
    name = args.name or ("design-prior" if args.prior_only else "design")
    spec_path = out / f"{name}.yaml"
    draft = out / f".{name}.draft.yaml"  # becomes spec_path once every chain is done
    draft.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "kind": "polymer-design",
                "params": params,
                "chunk_size": 1,
                "inputs": {"generator": "chains", "n": chains, "seed": args.seed},
                "store": f"{name}.zarr",
            },
            sort_keys=False,
        )
    )
    report = None
    try:
        spec = load_spec(draft)
        (report,) = run_campaigns(
            [spec],
            synchronous=args.synchronous,
            workers=args.workers,
            retry_failed=args.retry_failed,
        )
    finally:  # a failed run leaves the spec file of the previous run as it was
        finished = report is not None and report.done == report.n_items
        if finished:
            draft.replace(spec_path)
        else:
            draft.unlink(missing_ok=True)
    print(report.summary())
    if not finished:
        print(f"{spec_path} not written: {report.failed} of {report.n_items} chains failed.")
    summary = design_library(spec.store, out / f"{name}-library", n=args.n)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_polymers_transfer(args: argparse.Namespace) -> int:
    from vlab.reports import transfer_report

    report = transfer_report(
        args.out, sources=args.sources, splits=args.splits, draws=args.draws, seed=args.seed
    )
    print(json.dumps(report, indent=2, default=float))
    return 0


def _polymers(sub) -> None:
    group = sub.add_parser(
        "polymers",
        help="polymer lab: ingest data sources, predict properties",
        description="Polymer lab commands. ingest: load public sources (checksum-verified, "
        "cached) into catalog stores; predict: property of repeat units with uncertainty.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "ingest",
        help="ingest data sources into the catalog",
        description="Fetch (or read from the cache), validate, merge by "
        "canonical repeat unit, and write each source as a catalog store.",
    )
    p.add_argument("source", nargs="+", help="source names (see vlab.polymers.SOURCES) or 'all'")
    p.add_argument("--out", default="vlab-results/polymers", help="folder of the stores")
    p.add_argument("--replace", action="store_true", help="replace existing stores")
    p.set_defaults(func=_cmd_polymers_ingest)
    p = actions.add_parser(
        "predict",
        help="predict a property of repeat units",
        description="Predict with a saved model or the built-in thermal-"
        "conductivity model trained on the embedded handbook table. The first lines (# ...) "
        "name the property, the estimator and its training data, and its measured "
        "leave-one-out error against predicting the mean of the training data; the ± is the "
        "predictive std calibrated on those errors, or, for a model without skill, the "
        "spread of the training data (said so).",
    )
    p.add_argument("smiles", nargs="+", help="repeat-unit SMILES with two * ends")
    p.add_argument(
        "--model",
        default="builtin:experimental-tc",
        help="saved model (.json) or builtin:experimental-tc (default)",
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
    p.add_argument("--n", type=_positive("--n"), default=1000, help="library size (default 1000)")
    p.add_argument(
        "--chains",
        type=_positive("--chains"),
        default=2,
        help="independent SMC chains, run in parallel (default 2)",
    )
    p.add_argument(
        "--steps",
        type=_positive("--steps"),
        default=None,
        help="SMC steps per chain (default: from --n, 30 proposals per wanted candidate: "
        "max(20, ceil(30 n / (chains x particles))), i.e. 20 for --n 100 and 150 for "
        "--n 1000 with 2 chains of 100 particles)",
    )
    p.add_argument(
        "--particles",
        type=_positive("--particles"),
        default=100,
        help="particles per chain (default 100, as Wu et al.)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the chain seeds")
    p.add_argument("--prior-only", action="store_true", help="switch the likelihood off")
    p.add_argument("--out", default="vlab-results/design", help="output folder")
    p.add_argument("--name", default=None, help="campaign name (default design / design-prior)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster workers")
    p.add_argument("--synchronous", action="store_true", help="run here, without Dask")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="evaluate again the chains that failed in an earlier run of this design (the "
        "spec file NAME.yaml in --out is written only once every chain is done)",
    )
    p.set_defaults(func=_cmd_polymers_design)
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
    p.add_argument("--splits", type=int, default=4, help="source/target splits (default 4)")
    p.add_argument("--draws", type=int, default=5, help="draws of 28 per split (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of splits and draws")
    p.add_argument("--out", default="vlab-results/transfer", help="output folder")
    p.set_defaults(func=_cmd_polymers_transfer)


REGISTER: list = [_conductance, _polymers]
