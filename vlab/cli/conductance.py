"""``vlab conductance``: plots, the surrogate (train, validate, predict), the virtual experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlab._utils import report_json
from vlab.cli._options import (
    ResultsPath,
    add_cluster_options,
    help_when_bare,
    positive_int,
)
from vlab.errors import InputError

__all__ = ["register"]


def _cmd_conductance_plot(args: argparse.Namespace) -> int:
    from vlab import catalog
    from vlab.workflows.conductance import conductance_figures

    catalog.locate(args.store)  # a store path or catalog name, else a clear error now
    # by its name as given: the files are named after a catalog entry, not its folder
    summary = conductance_figures(args.store, Path(args.out), max_traces=args.traces)
    print(report_json(summary))
    return 0


def _parse_settings(items: list[str]) -> dict:
    """``NAME=VALUE`` options (values as YAML; ``descriptor_settings.FIELD`` nests) to a dict."""
    from vlab._yaml import load_yaml_text

    params: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise InputError(
                f"--set takes NAME=VALUE (an estimator parameter, e.g. n_estimators=16 or "
                f"descriptor_settings.n_max=8). Got {item!r}."
            )
        value = load_yaml_text(text, source=f"--set {name}") if text else None
        head, dot, field = name.partition(".")
        if dot:
            params.setdefault(head, {})[field] = value
        else:
            params[name] = value
    return params


def _jobs(text: str) -> int:
    """argparse type of ``--jobs``: -1 (one per CPU) or a positive number of processes."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(
            f"--jobs must be -1 (one process per CPU) or an integer >= 1. Got {text[:40]!r}."
        )
    return value


def _cmd_conductance_train(args: argparse.Namespace) -> int:
    from vlab.workflows.conductance import train_surrogate

    if args.jobs is not None and args.estimator == "bottleneck":
        raise InputError(
            "--jobs sets the processes of the local estimator's members; the bottleneck "
            "estimator trains in this process. Leave --jobs out."
        )

    report = train_surrogate(
        args.stores,
        args.model,
        holdout=args.holdout,
        seed=args.seed,
        preset=args.preset,
        params=_parse_settings(args.set),
        n_jobs=args.jobs,
        estimator=args.estimator,
        progress=not args.no_progress,
        overwrite=args.force,
    )
    keys = report.pop("training_structure_keys", None)  # in MODEL.report.json, not on screen
    if keys is not None:
        report["training_labels"] = len(keys)
    report.pop("residual_structure_keys", None)
    if "residuals" in report:  # the held-out residuals: how many, not each
        report["residuals"] = len(report["residuals"]["reference_G0"])
    print(report_json(report))
    return 0


def _cmd_conductance_validate(args: argparse.Namespace) -> int:
    from vlab.workflows.conductance import validate_surrogate

    if Path(args.out).suffix == ".json":
        raise InputError(
            f"vlab conductance validate --out is a folder (it writes validation.json and "
            f"validation-parity.png there). Got {args.out!r}."
        )
    report = validate_surrogate(args.model, args.stores, args.out, progress=not args.no_progress)
    print(report_json(report))
    return 0


_PER_STRUCTURE = ("conductance_G0", "conductance_std_G0", "against_reference")


def _cmd_conductance_predict(args: argparse.Namespace) -> int:
    from vlab.workflows.conductance import predict_conductance

    report = predict_conductance(
        args.sources,
        model=args.model,
        out=args.out,
        plot=not args.no_plot,
        progress=not args.no_progress,
    )
    summary = {"model": report["model"], "out": args.out, "sources": {}}
    for source, entry in report["sources"].items():
        mean = entry["conductance_G0"]
        row = {"n": entry["n"], "conductance_G0_first_5": mean[:5]}
        # the numbers, not the per-structure lists (those are in the report file)
        row |= {k: v for k, v in entry.items() if k not in _PER_STRUCTURE and k != "n"}
        if "against_reference" in entry:
            row["against_reference"] = {
                k: v
                for k, v in entry["against_reference"].items()
                if k in ("r2", "mae_G0", "r2_0_3G0", "mae_0_3G0", "reference")
                or k in ("reference_plateaus", "reference_ruptures")
                or k.startswith("peak_")
            }
        summary["sources"][source] = row
    print(report_json(summary))
    return 0


def _cmd_conductance_experiment(args: argparse.Namespace) -> int:
    from vlab.workflows.experiment import run_experiment

    summary = run_experiment(
        args.spec,
        workers=args.workers,
        scheduler=args.scheduler,
        synchronous=args.synchronous,
        progress=not args.no_progress,
    )
    print(report_json(summary))
    return 0


def _cmd_conductance_learn(args: argparse.Namespace) -> int:
    from vlab.workflows.learning import run_learning

    summary = run_learning(
        args.spec,
        workers=args.workers,
        scheduler=args.scheduler,
        synchronous=args.synchronous,
        progress=not args.no_progress,
    )
    print(report_json({k: summary[k] for k in ("name", "stopped", "rounds", "model")}))
    return 0


def register(sub) -> None:
    """Add ``vlab conductance`` to the ``vlab`` sub-parsers."""
    group = sub.add_parser(
        "conductance",
        help="conductance lab: plots, surrogate training and validation, virtual experiment, "
        "active learning",
        description="Conductance lab commands. plot: conductance traces G(elongation), the "
        "conductance histogram (linear and log axes, bins in G0), the plateau lengths and G "
        "against displacement from the break of a conductance-reference store, as PNG files, "
        "with a summary JSON (histogram peak, plateau lengths, ruptures). train/validate: the "
        "surrogate. predict: conductances (and histograms) of stores or structure files from "
        "a shipped or trained surrogate. experiment: MD + surrogate + reference histograms in "
        "one command. learn: rounds of active learning, the surrogate choosing which "
        "snapshots the reference labels.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    help_when_bare(group)
    p = actions.add_parser(
        "plot",
        help="traces, histogram, plateau-length and displacement PNGs of a reference store",
        description="Draw G versus elongation for traces, the conductance histogram (linear "
        "and log axes; per temperature for a store of several), the single-atom plateau "
        "lengths (Å of elongation in 0.8-1.2 G0, per temperature) and the "
        "conductance-displacement histogram (every trace shifted to 0 where G last falls "
        "through 0.5 G0, per temperature) from a conductance-reference store (path or catalog "
        "name); the summary JSON has the histogram peaks, the plateau lengths' mean and median, "
        "the traces that break and the median elongation at which they do.",
    )
    p.add_argument("store", help="store path or catalog entry name (e.g. au-spd-small)")
    p.add_argument(
        "--out",
        default=ResultsPath("figures"),
        help="folder for the PNG files and the summary JSON, replaced if they exist "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--traces", type=positive_int("--traces"), default=12, help="traces to draw (default 12)"
    )
    p.set_defaults(func=_cmd_conductance_plot)
    p = actions.add_parser(
        "train",
        help="train a conductance surrogate on reference stores",
        description="Train a ConductanceSurrogate (SOAP, slab pooling, soft "
        "minimum, MLP ensemble) on conductance-reference stores, holding out "
        "whole traces (or, with --estimator bottleneck, a BottleneckSurrogate: bagged boosted "
        "trees on features of the narrowest cut); writes the model (.npz), a report JSON and "
        "a parity PNG. "
        "The estimator is a named preset with parameters set by their own names "
        "(as in ConductanceSurrogate.from_preset and the experiment file's model.train).",
    )
    p.add_argument("stores", nargs="+", help="reference stores (catalog names or paths)")
    p.add_argument(
        "--model",
        default=ResultsPath("surrogate.npz"),
        help="model file to write (default: %(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the model file if it exists (without: an error before any training)",
    )
    p.add_argument(
        "--estimator",
        choices=("local", "bottleneck"),
        default="local",
        help="local: SOAP descriptors and a network ensemble, transfers to larger junctions "
        "(default); bottleneck: the narrowest cut (11 numbers and the SOAP of its atoms) and "
        "boosted trees, fast, for junctions like the training ones (--set n_estimators=..., "
        "settings.neck_centres=...)",
    )
    p.add_argument("--holdout", type=float, default=0.25, help="fraction of traces held out")
    p.add_argument(
        "--seed",
        type=positive_int("--seed", 2**32 - 1, 0),
        default=0,
        help="seed of the split and the ensemble (0 to 4294967295)",
    )
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
        type=_jobs,
        default=None,
        help="processes that train the members at once (-1: one per CPU; default 1); "
        "the model does not depend on it (local estimator only)",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar over the ensemble members"
    )
    p.set_defaults(func=_cmd_conductance_train)
    p = actions.add_parser(
        "validate",
        help="R², MAE and parity plots against reference stores",
        description="Evaluate a saved surrogate against reference stores "
        "(e.g. larger structures); writes validation.json and a parity PNG.",
    )
    p.add_argument(
        "model",
        help="model file written by vlab conductance train, or a shipped model "
        "(spd-headline, spd-bottleneck)",
    )
    p.add_argument("stores", nargs="+", help="reference stores (catalog names or paths)")
    p.add_argument(
        "--out",
        default=ResultsPath("validation"),
        help="output folder; its validation.json and validation-parity.png are replaced if "
        "they exist (default: %(default)s)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the structures")
    p.set_defaults(func=_cmd_conductance_validate)
    p = actions.add_parser(
        "predict",
        help="conductance of structures from a trained surrogate (default: the shipped one)",
        description="Predict G/G0 (ensemble mean and spread) of every structure of stores "
        "(catalog names or paths) or structure files (extended XYZ with tags and lead_period) "
        "with a trained surrogate: by default the shipped spd-headline model (no training "
        "needed; its sha256 is checked on load), or the faster spd-bottleneck model for "
        "junctions like its training cells. Stores with reference conductances also get "
        "R², MAE and histogram peaks (of 20 or more structures). Writes a JSON report "
        "and, for each source of 20 or more structures, its conductance histogram (point "
        "predictions, predictive draws, reference) as a PNG beside it, and for stores of "
        "MD snapshots the conductance-displacement histogram of the predicted and the "
        "reference traces.",
    )
    p.add_argument("sources", nargs="+", help="stores (catalog names or paths) or structure files")
    p.add_argument(
        "--model",
        default="spd-headline",
        help="shipped model name (spd-headline, the default, or spd-bottleneck) or a .npz "
        "model file (vlab conductance train)",
    )
    p.add_argument(
        "--out",
        default=ResultsPath("predictions.json"),
        help="report JSON to write; an existing one is replaced, and its figures that this run "
        "does not draw again are removed (default: %(default)s)",
    )
    p.add_argument("--no-plot", action="store_true", help="write no histogram PNGs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_conductance_predict)
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
    p = actions.add_parser(
        "learn",
        help="active learning: the surrogate chooses which snapshots the reference labels",
        description="Run (or continue) an active-learning spec (see "
        "examples/au-spd-learn.yaml): each round the surrogate ensemble predicts every "
        "unlabelled snapshot of the pool, a batch of the most uncertain, mutually distant "
        "snapshots is labelled by a conductance-reference campaign, and the surrogate is "
        "retrained and scored on the validation stores. Killed and run again, it continues "
        "after the last complete round.",
    )
    p.add_argument("spec", help="learning spec (YAML)")
    add_cluster_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars in the rounds")
    p.set_defaults(func=_cmd_conductance_learn)
